package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/state"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

const checkpointUsage = `imreport checkpoint show [--path FILE]
imreport checkpoint rewind --stream STREAM --to TIME [--path FILE]
imreport checkpoint rebuild [--path FILE] [--json]

show prints a checkpoint as JSON: its identity (app key and topic), each
stream's cursor (everything sent before it is in Kafka), the Kafka offsets
below which everything is recorded, the number of commits and of msgids kept
for deduplication.

rewind moves one stream's cursor back to TIME (RFC 3339), so that the next
run fetches [TIME, cursor) again, for example to pick up messages the API
indexed later than IMREPORT_LOOKBACK. It is exactly once: the next run
reads back from Kafka what was published since TIME and publishes only what
is missing. STREAM is a stream name as show prints it ("messages",
"users/<name>", "groups/<gid>", "chatrooms/<id>").

rebuild writes the state a run restores from to the state topic, when the
run refuses to start because the checkpoint is new or lost and the topic
holds records of the app key but no snapshot (written by an older version,
or with another IMREPORT_KAFKA_STATE_TOPIC). It reads no record: every
stream starts again where a run without a checkpoint starts (IMREPORT_START,
within the API's 60 days), and the next run reads back everything stamped
since then (record timestamps are event times) and publishes only what the
topic lacks. Configure it with the same IMREPORT_* variables as run. It
refuses when the state topic already holds a snapshot of the app key or the
file holds commits. --json prints one JSON object.

The file defaults to IMREPORT_CHECKPOINT_PATH. Each needs the pipeline to be
stopped: it holds the file lock.
`

func cmdCheckpoint(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, checkpointUsage)
		return exitOK
	}
	if len(args) == 0 || (args[0] != "show" && args[0] != "rewind" && args[0] != "rebuild") {
		if len(args) > 0 {
			fmt.Fprintf(stderr, "imreport checkpoint: unknown subcommand %q\n\n", args[0])
		}
		fmt.Fprint(stderr, checkpointUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("checkpoint "+args[0], flag.ContinueOnError)
	def := "imreport.db"
	if v, ok := lookup.Lookup("IMREPORT_CHECKPOINT_PATH"); ok && v != "" {
		def = v
	}
	path := fs.String("path", def, "checkpoint file")
	streamFlag := fs.String("stream", "", "rewind: the stream to move back")
	to := fs.String("to", "", "rewind: the new cursor, RFC 3339")
	asJSON := fs.Bool("json", false, "rebuild: print one JSON object")
	if code, done := parseFlags(fs, checkpointUsage, args[1:], stdout, stderr); done {
		return code
	}
	switch args[0] {
	case "rewind":
		return rewindCheckpoint(*path, *streamFlag, *to, stdout, stderr)
	case "rebuild":
		return rebuildCheckpoint(ctx, *path, *asJSON, stdout, stderr, lookup)
	}
	out, err := checkpoint.Describe(*path)
	if err != nil {
		fmt.Fprintln(stderr, "imreport checkpoint:", err)
		return exitFailed
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return exitFailed
	}
	return exitOK
}

// rewindCheckpoint checks the flags and moves one stream's cursor back
// (checkpoint.Rewind).
func rewindCheckpoint(path, stream, to string, stdout, stderr io.Writer) int {
	var problems []string
	if stream == "" {
		problems = append(problems, "--stream is required")
	} else if _, err := source.ParseStream(stream); err != nil {
		problems = append(problems, fmt.Sprintf("--stream: %v", err))
	}
	at, err := time.Parse(time.RFC3339, to)
	if err != nil {
		problems = append(problems, fmt.Sprintf("--to: %q is not an RFC 3339 time like 2026-01-02T15:04:05Z", to))
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, "imreport checkpoint rewind:", strings.Join(problems, "; "))
		return exitUsage
	}
	cur, err := checkpoint.Rewind(path, stream, at)
	if err != nil {
		fmt.Fprintln(stderr, "imreport checkpoint rewind:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s: cursor moved back from %s to %s; the next run fetches that range again and publishes only what Kafka does not hold yet\n",
		stream, cur.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	return exitOK
}

// rebuildCheckpoint writes the snapshot a run restores from, taken from the
// configuration and the topic (state.Rebuild), and prints it.
func rebuildCheckpoint(ctx context.Context, path string, asJSON bool, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	cfg, err := loadConfig(ctx, lookup, time.Now(), true)
	if err != nil {
		fmt.Fprintln(stderr, "imreport checkpoint rebuild:", err)
		return exitUsage
	}
	logger := newLogger(stderr, cfg.LogLevel)
	rb, err := rebuildState(ctx, cfg, path, logger)
	if err != nil {
		fmt.Fprintln(stderr, "imreport checkpoint rebuild:", err)
		return exitFailed
	}
	report := rb.Report(cfg.KafkaStateTopic)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	} else {
		err = report.WriteText(stdout)
	}
	if err != nil {
		return exitFailed
	}
	return exitOK
}

// rebuildState ensures the topics (the state topic may be new) and runs
// state.Rebuild with the run's Kafka writer, identity and streams.
func rebuildState(ctx context.Context, cfg Config, path string, logger *slog.Logger) (state.Rebuilt, error) {
	writer, err := sink.New(sinkConfig(cfg, logger))
	if err != nil {
		return state.Rebuilt{}, err
	}
	defer writer.Close()
	if _, err := writer.EnsureTopic(ctx); err != nil {
		return state.Rebuilt{}, fmt.Errorf("kafka %v: %w%s", cfg.KafkaBrokers, err, kafkaHint(cfg, err))
	}
	var streams []string
	for _, s := range configStreams(cfg) {
		streams = append(streams, s.String())
	}
	return state.Rebuild(ctx, state.RebuildOptions{
		Checkpoint: checkpoint.Options{Path: path, LockTimeout: cfg.CheckpointLock},
		Identity:   checkpoint.Identity{AppKey: cfg.AppKey, Topic: cfg.KafkaTopic},
		Streams:    streams, Start: cfg.Start, Lookback: cfg.Lookback, Kafka: writer,
	})
}
