package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/internal/service/progress"
	"github.com/imreport/imreport/internal/tools/reader"
	"github.com/imreport/imreport/sink"
)

const readUsage = `imreport read [--from-beginning | --offset N] [--partition P] [--count N] [--follow] [--topic T]

Reads the topic and prints each record as one JSON line: partition, offset,
timestamp, key, headers, framing, schema_id and the decoded value. Each value
is decoded by its own framing: Avro single-object with the embedded schema,
the Confluent wire format through the Schema Registry (schema ids looked up
once), anything else reported on its line ("error" and the raw bytes) without
stopping. Without --from-beginning or --offset it starts at the end: only
records written from now on (with --follow). Without --follow it stops at the
end offsets it found at the start.

Uses the same variables as run for Kafka (IMREPORT_KAFKA_*) and the registry
(IMREPORT_SCHEMA_REGISTRY_*); no app key is needed. A summary goes to stderr.
`

func cmdRead(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	fs := flag.NewFlagSet("read", flag.ContinueOnError)
	fromBeginning := fs.Bool("from-beginning", false, "start at the first offset of each partition")
	offset := fs.Int64("offset", -1, "start at this offset (in each partition read; with --partition, that one)")
	partition := fs.Int("partition", -1, "read only this partition (-1 = all)")
	count := fs.Int("count", 0, "stop after N records (0 = no limit)")
	follow := fs.Bool("follow", false, "keep waiting for new records (until interrupted or --count)")
	topic := fs.String("topic", "", "topic to read (default IMREPORT_KAFKA_TOPIC; the dead-letter topic prints as raw JSON)")
	if code, done := parseFlags(fs, readUsage, args, stdout, stderr); done {
		return code
	}
	opts := sink.ConsumeOptions{Topic: *topic, Partition: *partition, Count: *count, Follow: *follow}
	switch {
	case *fromBeginning && *offset >= 0:
		fmt.Fprintln(stderr, "imreport read: --from-beginning and --offset exclude each other")
		return exitUsage
	case *fromBeginning:
		opts.Start = sink.FromBeginning
	case *offset >= 0:
		opts.Start, opts.Offset = sink.FromOffset, *offset
	}
	if *count < 0 || *partition < -1 {
		fmt.Fprintln(stderr, "imreport read: --count and --partition must not be negative")
		return exitUsage
	}
	cfg, err := readConfig(ctx, lookup)
	if err != nil {
		fmt.Fprintln(stderr, "imreport read:", err)
		return exitUsage
	}
	logs, bars := progress.TerminalOutput(stderr)
	out, stopBars := stdout, func() {}
	if bars != nil {
		out, opts.Planned, stopBars = progress.CountLines(bars, stdout, 250*time.Millisecond)
	}
	st, err := reader.PrintTopic(ctx, sinkConfig(cfg, newLogger(logs, cfg.LogLevel)), cfg.Registry, opts, out)
	stopBars()
	fmt.Fprintf(stderr, "imreport read: %d record(s), %d not decodable\n", st.Records, st.Undecoded)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "imreport read:", err)
		return exitFailed
	}
	return exitOK
}

// readConfig loads the configuration and keeps only the problems of the
// variables read needs (Kafka, registry, log level).
func readConfig(ctx context.Context, lookup envconfig.Lookuper) (Config, error) {
	cfg, err := loadConfig(ctx, lookup, time.Now(), true)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		return cfg, err
	}
	var keep []error
	for _, p := range ce.Problems {
		for _, prefix := range []string{"IMREPORT_KAFKA_", "IMREPORT_SCHEMA_", "IMREPORT_LOG_LEVEL"} {
			if strings.HasPrefix(p.Error(), prefix) {
				keep = append(keep, p)
				break
			}
		}
	}
	if len(keep) > 0 {
		return cfg, &ConfigError{Problems: keep}
	}
	return cfg, nil
}
