package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/service"
	"github.com/imreport/imreport/internal/service/progress"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
	"github.com/imreport/imreport/source/callback"
)

const runUsage = `imreport run

Runs the pipeline: polls the Report API in time windows, publishes every
message once to Kafka as Avro, and records progress in the checkpoint file.
Configured only by environment variables (listed below and in
docs/configuration.md); the required ones are IMREPORT_APP_KEY,
IMREPORT_MASTER_SECRET and IMREPORT_KAFKA_BROKERS. With IMREPORT_END set it
is a bounded backfill that exits 0 once everything sent before IMREPORT_END
is published; otherwise it tails until SIGINT or SIGTERM, then finishes the
Kafka write in flight, commits, and exits 0.

Exit codes: 0 done or stopped cleanly, 1 failed, 2 bad configuration.
`

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	cfg, code, done := commandConfig(ctx, "run", runUsage+variablesHelp(), args, stdout, stderr, lookup)
	if done {
		return code
	}
	logs, bars := progress.TerminalOutput(stderr)
	if bars != nil {
		defer bars.Close()
	}
	logger := newLogger(logs, cfg.LogLevel)
	if err := runPipeline(ctx, cfg, logger, runHooks{Bars: bars}); err != nil {
		logger.Error("imreport run failed", "error", err)
		return exitFailed
	}
	return exitOK
}

// runHooks let the demo, the bench and tests observe a run.
type runHooks = service.Hooks

// runPipeline runs the pipeline of cfg as a service (service.Run) until
// done, cancelled or failed. Cancelling ctx first marks the service not
// ready, then drains.
func runPipeline(ctx context.Context, cfg Config, logger *slog.Logger, hooks runHooks) error {
	logger.Info("starting imreport", "version", buildVersion(), "config", cfg)
	return service.Run(ctx, serviceConfig(cfg, logger), hooks)
}

// serviceConfig is the configuration of each part of a run of cfg.
func serviceConfig(cfg Config, logger *slog.Logger) service.Config {
	return service.Config{
		Source:     apiConfig(cfg, cfg.RateLimit, logger),
		Sink:       sinkConfig(cfg, logger),
		Checkpoint: checkpoint.Options{Path: cfg.CheckpointPath, LockTimeout: cfg.CheckpointLock},
		Pipeline: pipeline.Config{
			Streams:          configStreams(cfg),
			AppKey:           cfg.AppKey,
			Start:            cfg.Start,
			End:              cfg.End,
			Window:           cfg.Window,
			WindowMessages:   cfg.WindowMsgs,
			PageSize:         cfg.PageSize,
			Settle:           cfg.Settle,
			Lookback:         cfg.Lookback,
			PollInterval:     cfg.PollInterval,
			FetchConcurrency: cfg.Concurrency,
			AutoConcurrency:  cfg.AutoFetch,
			RequestRate:      cfg.RateLimit,
			ShutdownTimeout:  cfg.ShutdownTimeout,
			Logger:           logger,
		},
		Status:       statusConfig(cfg),
		Registry:     cfg.Registry,
		Subject:      cfg.Subject,
		ValueFormat:  cfg.ValueFormat,
		HTTPAddr:     cfg.HTTPAddr,
		Owner:        service.Owner{Enabled: cfg.OwnerGroup, SessionTimeout: cfg.OwnerSession},
		Progress:     progressPlan(cfg),
		CallbackAddr: cfg.CallbackAddr,
		Callback: callback.Config{
			AppKey:       cfg.AppKey,
			MasterSecret: cfg.MasterSecret,
			Path:         cfg.CallbackPath,
			MaxBody:      int64(cfg.CallbackMaxBody),
			ReadTimeout:  cfg.CallbackReadTimeout,
			AckTimeout:   cfg.CallbackAckTimeout,
			Logger:       logger,
		},
		KafkaHint: func(err error) string { return kafkaHint(cfg, err) },
		Logger:    logger,
	}
}

// configStreams lists the streams the configuration asks for: every user,
// group and chatroom named, or, with none, the whole app's /messages.
func configStreams(cfg Config) []source.Stream {
	return source.Streams(cfg.Users, cfg.Groups, cfg.Chatrooms)
}

// kafkaHint says what most likely causes a Kafka start-up error, when the
// configuration makes one cause likely; "" otherwise.
func kafkaHint(cfg Config, err error) string {
	switch {
	case sink.TooFewBrokers(err):
		return " (IMREPORT_KAFKA_REPLICATION_FACTOR is more than the brokers: set it lower, or to auto)"
	case cfg.KafkaSASLMechanism != "" && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)):
		return " (with SASL, a wrong username or password shows up as an unexpected EOF)"
	}
	return ""
}
