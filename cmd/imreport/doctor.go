package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sethvargo/go-envconfig"
	"golang.org/x/time/rate"

	"github.com/imreport/imreport/doctor"
	"github.com/imreport/imreport/registry"
	"github.com/imreport/imreport/retry"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

const doctorUsage = `imreport doctor

A preflight check with the configuration of "imreport run" (the same
IMREPORT_* variables): the Report API credentials and each configured
stream (one count=1 request each), Kafka, the topic and the dead-letter
topic (exist or can be created; cleanup.policy not compact; retention at
least 7 days), the Schema Registry when set, and the checkpoint (readable,
this app key's and topic's, not locked). It prints a table of ok/fail with
the fix for each failure, changes nothing, and never prints a secret.

Exit codes: 0 every check passed, 1 a check failed, 2 bad configuration.
`

func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	if code, done := parseFlags(fs, doctorUsage, args, stdout, stderr); done {
		return code
	}
	cfg, err := loadConfig(ctx, lookup, time.Now(), true)
	if err != nil {
		fmt.Fprintln(stderr, "imreport doctor:", err)
		return exitUsage
	}
	dc, err := doctorConfig(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "imreport doctor:", err)
		return exitUsage
	}
	defer dc.close()
	rows := doctor.Run(ctx, dc.Config)
	if err := doctor.Print(stdout, rows); err != nil {
		return exitFailed
	}
	if !doctor.Passed(rows) {
		return exitFailed
	}
	return exitOK
}

type doctorSetup struct {
	doctor.Config
	close func()
}

// doctorConfig builds the doctor's clients from cfg: one quick retry per
// API request, nothing logged.
func doctorConfig(cfg Config) (doctorSetup, error) {
	quiet := slog.New(slog.DiscardHandler)
	client, err := source.New(source.Config{
		BaseURL: cfg.APIURL, AppKey: cfg.AppKey, MasterSecret: cfg.MasterSecret, APIVersion: cfg.APIVersion,
		Location: cfg.Location, PageSize: 1, Timeout: min(cfg.APITimeout, 10*time.Second),
		Limiter: rate.NewLimiter(rate.Limit(cfg.RateLimit), 1),
		Retry:   retry.Policy{Initial: 200 * time.Millisecond, Max: time.Second, MaxAttempts: 2},
		Logger:  quiet,
	})
	if err != nil {
		return doctorSetup{}, err
	}
	writer, err := sink.New(sinkConfig(cfg, quiet))
	if err != nil {
		return doctorSetup{}, err
	}
	dc := doctorSetup{close: func() { _ = writer.Close() }, Config: doctor.Config{
		API: client, AppKey: cfg.AppKey, APIVersion: cfg.APIVersion, Streams: configStreams(cfg),
		Kafka: writer, Brokers: cfg.KafkaBrokers, Topic: cfg.KafkaTopic, DLQTopic: cfg.KafkaDLQTopic,
		SASL: cfg.KafkaSASLMechanism != "", CheckpointPath: cfg.CheckpointPath,
	}}
	if len(cfg.Registry.URLs) > 0 {
		reg, err := registry.New(cfg.Registry)
		if err != nil {
			dc.close()
			return doctorSetup{}, err
		}
		dc.Registry, dc.Subject, dc.SchemaText = reg, cfg.Subject, schema.JSON()
	}
	return dc, nil
}
