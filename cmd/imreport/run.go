package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"
	"github.com/sethvargo/go-envconfig"
	"golang.org/x/time/rate"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/metrics"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/progress"
	"github.com/imreport/imreport/retry"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

const runUsage = `imreport run

Runs the pipeline: polls the Report API in time windows, publishes every
message once to Kafka as Avro, and records progress in the checkpoint file.
Configured only by environment variables (listed below and in README.md,
"Configuration"); the required ones are IMREPORT_APP_KEY,
IMREPORT_MASTER_SECRET and IMREPORT_KAFKA_BROKERS. With IMREPORT_END set it
is a bounded backfill that exits 0 once everything sent before IMREPORT_END
is published; otherwise it tails until SIGINT or SIGTERM, then finishes the
Kafka write in flight, commits, and exits 0.

Exit codes: 0 done or stopped cleanly, 1 failed, 2 bad configuration.
`

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	if code, done := parseFlags(fs, runUsage+variablesHelp(), args, stdout, stderr); done {
		return code
	}
	cfg, err := loadConfig(ctx, lookup, time.Now(), true)
	if err != nil {
		fmt.Fprintln(stderr, "imreport run:", err)
		return exitUsage
	}
	logs, bars := terminalOutput(stderr)
	if bars != nil {
		defer bars.Close()
	}
	logger := newLogger(logs, cfg.LogLevel)
	if err := runPipeline(ctx, cfg, logger, runHooks{bars: bars}); err != nil {
		logger.Error("imreport run failed", "error", err)
		return exitFailed
	}
	return exitOK
}

// runHooks lets the demo and tests observe a run.
type runHooks struct {
	onListen   func(addr string)          // the HTTP server's bound address
	onPipeline func(p *pipeline.Pipeline) // the pipeline, before it runs
	onCommit   func(oldest time.Time)     // after each checkpoint commit: the oldest cursor
	onCallback func(addr string)          // the callback receiver's bound address
	// onPublished sees every record Kafka acknowledged (after the metrics).
	onPublished func(path string, r sink.Record, at time.Time)

	// now and sleep replace the clock and the poll wait (tests drive a
	// fake clock with them); nil = the real ones.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	bars          *progress.Bars                                   // live progress bars instead of progress lines; nil = lines
	progressSleep func(ctx context.Context, d time.Duration) error // the wait between progress reports; nil = a timer
	probeSleep    func(ctx context.Context, d time.Duration) error // the wait between Kafka probes; nil = a timer
}

// runPipeline wires the parts together and runs until done, cancelled or
// failed. Cancelling ctx first marks the service not ready, then drains.
func runPipeline(ctx context.Context, cfg Config, logger *slog.Logger, hooks runHooks) (err error) {
	logger.Info("starting imreport", "version", buildVersion(), "config", cfg)
	now := time.Now
	if hooks.now != nil {
		now = hooks.now
	}
	board := newBoard(cfg, now)
	pipeCtx, cancelPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPipe()
	stopWatch := context.AfterFunc(ctx, func() {
		board.Stopping()
		logger.Info("shutdown requested: marked not ready, draining")
		cancelPipe()
	})
	defer stopWatch()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg, func() bool { ok, _ := board.Ready(); return ok }, now)

	if cfg.HTTPAddr != "" {
		srv, addr, err := metrics.Serve(cfg.HTTPAddr, reg, board, logger)
		if err != nil {
			return err
		}
		if hooks.onListen != nil {
			hooks.onListen(addr)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}

	codec, err := valueCodec(pipeCtx, cfg, logger)
	if err != nil {
		if pipeCtx.Err() != nil {
			return nil
		}
		return err
	}
	board.SetRegistry(registryStatus(cfg, codec))

	store, err := checkpoint.Open(checkpoint.Options{Path: cfg.CheckpointPath, LockTimeout: cfg.CheckpointLock})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := store.Bind(checkpoint.Identity{AppKey: cfg.AppKey, Topic: cfg.KafkaTopic}); err != nil {
		return err
	}

	apiRetry := retry.Policy{
		Initial: 500 * time.Millisecond, Max: 30 * time.Second, MaxAttempts: cfg.APIAttempts,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			m.APIRetry()
			board.APIError(err)
			logger.Warn("report api request failed, retrying", "attempt", attempt, "wait", wait, "error", err)
		},
	}
	// Unlimited: a Kafka outage pauses the pipeline (bounded memory: the
	// stages block) until the broker is back. Non-retryable errors stop it.
	kafkaRetry := retry.Policy{Initial: 500 * time.Millisecond, Max: 5 * time.Second,
		OnRetry: func(_ int, err error, _ time.Duration) { board.KafkaResult(err) }}
	client, err := source.New(source.Config{
		BaseURL:      cfg.APIURL,
		AppKey:       cfg.AppKey,
		MasterSecret: cfg.MasterSecret,
		APIVersion:   cfg.APIVersion,
		Location:     cfg.Location,
		PageSize:     cfg.PageSize,
		Timeout:      cfg.APITimeout,
		Limiter:      rate.NewLimiter(rate.Limit(cfg.RateLimit), 1),
		Retry:        apiRetry,
		Logger:       logger,
		Now:          now,
		OnResponse:   m.ObserveAPI,
		OnRestart: func(kind, reason string) {
			m.APIRestart(kind, reason)
			logger.Info("walking a window again from its first page", "endpoint", kind, "reason", reason)
		},
	})
	if err != nil {
		return err
	}

	writer, err := sink.New(sinkConfig(cfg, logger))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := writer.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	startup := retry.Policy{Initial: time.Second, Max: 5 * time.Second, MaxAttempts: 5,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			logger.Warn("kafka not reachable yet, retrying", "attempt", attempt, "wait", wait, "error", err)
		}}
	var partitions int
	if err := startup.Do(pipeCtx, func(ctx context.Context) error {
		var err error
		partitions, err = writer.EnsureTopic(ctx)
		return err
	}); err != nil {
		if pipeCtx.Err() != nil {
			return nil
		}
		return fmt.Errorf("kafka %v: %w%s", cfg.KafkaBrokers, err, kafkaHint(cfg, err))
	}
	logger.Info("kafka topic ready", "topic", cfg.KafkaTopic, "partitions", partitions)
	board.KafkaResult(nil)
	defer startProbe(pipeCtx, board, writer, hooks.probeSleep)()
	writer.WarnTimeConfig(pipeCtx, cfg.Start, now())

	streams := configStreams(cfg)
	plan := progressPlan(cfg)
	var reporter *progress.Reporter
	p, err := pipeline.New(pipeline.Config{
		Streams:          streams,
		AppKey:           cfg.AppKey,
		APIVersion:       client.APIVersion(),
		Start:            cfg.Start,
		End:              cfg.End,
		Window:           cfg.Window,
		WindowMessages:   cfg.WindowMsgs,
		Settle:           cfg.Settle,
		Lookback:         cfg.Lookback,
		PollInterval:     cfg.PollInterval,
		FetchConcurrency: cfg.Concurrency,
		AutoConcurrency:  cfg.AutoFetch,
		RequestRate:      cfg.RateLimit,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		PublishRetry:     kafkaRetry,
		Codec:            codec,
		Now:              now,
		Sleep:            hooks.sleep,
		Logger:           logger,
		OnPublished: func(path string, r sink.Record, at time.Time) {
			m.ObservePublished(path, r, at)
			board.KafkaResult(nil)
			if hooks.onPublished != nil {
				hooks.onPublished(path, r, at)
			}
		},
		OnCommit: func(pr pipeline.Progress) {
			m.ObserveCommit(pr)
			plan.AnnounceWait(reporter, pr.Cursors, now())
			if hooks.onCommit != nil {
				hooks.onCommit(pipeline.Oldest(pr.Cursors))
			}
		},
	}, client, writer, store)
	if err != nil {
		return err
	}
	m.Watch(p)
	reporter = progress.ForPipeline(plan, p.StreamProgress, logger, hooks.bars, now, func(st []progress.Status) {
		m.ObserveProgress(st)
		board.Progress(st)
	})
	reporter.Sleep = hooks.progressSleep
	defer reporter.Start(pipeCtx)()
	stopCallback, err := serveCallback(ctx, cfg, p, m, logger, hooks.onCallback)
	if err != nil {
		return err
	}
	defer stopCallback()
	if hooks.onPipeline != nil {
		hooks.onPipeline(p)
	}
	if ctx.Err() == nil {
		board.Running(p.StreamProgress)
	}
	return p.Run(pipeCtx)
}

// configStreams lists the streams the configuration asks for: every user,
// group and chatroom named, or, with none, the whole app's /messages.
func configStreams(cfg Config) []source.Stream {
	var streams []source.Stream
	for _, u := range cfg.Users {
		streams = append(streams, source.User(u))
	}
	for _, g := range cfg.Groups {
		streams = append(streams, source.Group(g))
	}
	for _, c := range cfg.Chatrooms {
		streams = append(streams, source.Chatroom(c))
	}
	if len(streams) == 0 {
		streams = append(streams, source.Messages)
	}
	return streams
}

// kafkaHint says what most likely causes a Kafka start-up error, when the
// configuration makes one cause likely; "" otherwise.
func kafkaHint(cfg Config, err error) string {
	switch {
	case errors.Is(err, kafka.InvalidReplicationFactor):
		return " (IMREPORT_KAFKA_REPLICATION_FACTOR is more than the brokers: set it lower, or to auto)"
	case cfg.KafkaSASLMechanism != "" && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)):
		return " (with SASL, a wrong username or password shows up as an unexpected EOF)"
	}
	return ""
}
