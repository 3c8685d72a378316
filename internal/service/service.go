package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/ownership"
	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/internal/service/metrics"
	"github.com/imreport/imreport/internal/service/progress"
	"github.com/imreport/imreport/internal/service/status"
	"github.com/imreport/imreport/internal/state"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/schema/registry"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
	"github.com/imreport/imreport/source/callback"
)

// KafkaProbeInterval is how often the status board asks Kafka for its end
// offsets, so that an idle run notices an outage (see package status).
const KafkaProbeInterval = 15 * time.Second

// Config is a run: the parts' configurations, as validated by the caller.
// Run fills in what ties them together (observers, clocks, the codec).
type Config struct {
	Source     source.Config      // Run sets Retry.OnRetry, Now, OnResponse and OnRestart
	Sink       sink.Config        // its AppKey and Topic are the checkpoint's identity
	Checkpoint checkpoint.Options //
	Pipeline   pipeline.Config    // Run sets APIVersion, Codec, PublishRetry, Now, Sleep, OnPublished and OnCommit
	Status     status.Config      // Run sets Registry and Now

	Registry    registry.Config // URLs empty = no registry
	Subject     string          // the value schema's subject
	ValueFormat schema.Framing

	Owner Owner // the owner group; off unless Enabled

	HTTPAddr     string          // "" = no HTTP server
	Progress     progress.Plan   //
	CallbackAddr string          // "" = no callback receiver
	Callback     callback.Config // Run sets OnRequest
	// KafkaHint says what most likely causes a Kafka start-up error; nil or
	// "" = nothing to add.
	KafkaHint func(error) string
	Logger    *slog.Logger
}

// Hooks let the demo, the bench and tests observe a run; every one is
// optional.
type Hooks struct {
	OnListen   func(addr string)          // the HTTP server's bound address
	OnPipeline func(p *pipeline.Pipeline) // the pipeline, before it runs
	OnCommit   func(oldest time.Time)     // after each checkpoint commit: the oldest cursor
	OnCallback func(addr string)          // the callback receiver's bound address
	// OnPublished sees every record Kafka acknowledged (after the metrics).
	OnPublished func(path string, r sink.Record, at time.Time)

	// Now and Sleep replace the clock and the poll wait (tests drive a
	// fake clock with them); nil = the real ones.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// SourceNow, if set, is the Report API client's clock instead of Now:
	// a test that stalls exactly what the client sees (the publisher reads
	// the clock too, at moments that depend on Kafka's answers).
	SourceNow func() time.Time

	Bars          *progress.Bars                                   // live progress bars instead of progress lines; nil = lines
	ProgressSleep func(ctx context.Context, d time.Duration) error // the wait between progress reports; nil = a timer
	ProbeSleep    func(ctx context.Context, d time.Duration) error // the wait between Kafka probes; nil = a timer
}

// run is one Run's shared parts.
type run struct {
	cfg   Config
	hooks Hooks
	now   func() time.Time
	board *status.Board
	reg   *prometheus.Registry
	m     *metrics.Metrics
}

// Run wires the parts together and runs until done, cancelled or failed.
// Cancelling ctx first marks the service not ready, then drains.
func Run(ctx context.Context, cfg Config, hooks Hooks) (err error) {
	r := newRun(cfg, hooks)
	pipeCtx, cancelPipe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPipe()
	stopWatch := context.AfterFunc(ctx, func() {
		r.board.Stopping()
		cfg.Logger.Info("shutdown requested: marked not ready, draining")
		cancelPipe()
	})
	defer stopWatch()
	if cfg.HTTPAddr != "" {
		srv, err := r.serveHTTP()
		if err != nil {
			return err
		}
		defer shutdown(srv)
	}

	codec, err := registry.FramingCodec(pipeCtx, cfg.ValueFormat, cfg.Registry, cfg.Subject, cfg.Logger)
	if err != nil {
		if pipeCtx.Err() != nil {
			return nil
		}
		return err
	}
	r.board.SetRegistry(r.registryStatus(codec))
	client, err := source.New(r.sourceConfig())
	if err != nil {
		return err
	}
	writer, err := sink.New(cfg.Sink)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := writer.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := r.awaitTopic(pipeCtx, writer); err != nil {
		if pipeCtx.Err() != nil {
			return nil
		}
		return err
	}
	defer r.board.StartProbe(pipeCtx, KafkaProbeInterval, 5*time.Second, func(ctx context.Context) error {
		_, err := writer.Marks(ctx, time.Time{})
		if err != nil && retry.Temporary(err) && ctx.Err() == nil {
			// A connection the broker closed (a restart) fails the first
			// request made on it, and kafka-go dials anew for the next:
			// one more try before Kafka counts as unreachable.
			_, err = writer.Marks(ctx, time.Time{})
		}
		return err
	}, hooks.ProbeSleep)()
	// The topic's time settings are checked beside the pipeline's start
	// (a round trip to a far cluster); the warnings only log.
	warned := make(chan struct{})
	go func() {
		defer close(warned)
		writer.WarnTimeConfig(pipeCtx, cfg.Pipeline.Start, r.now())
	}()
	defer func() { <-warned }()
	if !cfg.Owner.Enabled {
		return r.runOwned(ctx, pipeCtx, codec, client, writer, nil)
	}
	return r.runMember(ctx, pipeCtx, codec, client, writer)
}

// runOwned opens the checkpoint (restoring it from the state topic if need
// be) and runs the pipeline on it; with a lease, every Kafka write of the
// run is fenced by it.
func (r *run) runOwned(ctx, pipeCtx context.Context, codec *schema.Codec, client *source.Client, writer *sink.Writer, lease *ownership.Lease) (err error) {
	opened, err := r.openState(pipeCtx, writer, lease)
	if err != nil {
		if pipeCtx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() {
		if cerr := opened.Store.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	return r.runPipeline(ctx, pipeCtx, codec, client, writer, opened, lease)
}

// newRun returns the clock, the status board and the metrics of a run.
func newRun(cfg Config, hooks Hooks) *run {
	r := &run{cfg: cfg, hooks: hooks, now: time.Now}
	if hooks.Now != nil {
		r.now = hooks.Now
	}
	sc := cfg.Status
	sc.Registry, sc.Now = r.registryStatus(nil), r.now
	r.board = status.New(sc)
	r.reg = prometheus.NewRegistry()
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.m = metrics.New(r.reg, func() bool { ok, _ := r.board.Ready(); return ok }, r.now)
	return r
}

// registryStatus describes the configured registry and, once codec
// registered the schema, its id.
func (r *run) registryStatus(codec *schema.Codec) status.Registry {
	return status.RegistryOf(r.cfg.Registry.URLs, r.cfg.Subject, r.cfg.ValueFormat, codec)
}

// serveHTTP serves /metrics, /healthz, /readyz and /status (metrics.Serve).
func (r *run) serveHTTP() (*http.Server, error) {
	srv, addr, err := metrics.Serve(r.cfg.HTTPAddr, r.reg, r.board, r.cfg.Logger)
	if err != nil {
		return nil, err
	}
	if r.hooks.OnListen != nil {
		r.hooks.OnListen(addr)
	}
	return srv, nil
}

func shutdown(srv *http.Server) {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}

// openState opens the checkpoint, bound to the app key and topic, and
// checked against (or restored from) the newest snapshot in the state topic
// (state.Open). Reading the state topic is retried like the pipeline's
// Kafka reads, with a bound: Kafka answered EnsureTopic already.
func (r *run) openState(ctx context.Context, writer *sink.Writer, lease *ownership.Lease) (state.Opened, error) {
	logger := r.cfg.Logger
	policy := retry.Policy{Initial: time.Second, Max: 5 * time.Second, MaxAttempts: 10,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			logger.Warn("reading the state topic failed, retrying", "attempt", attempt, "wait", wait, "error", err)
		}}
	var opened state.Opened
	err := policy.Do(ctx, func(ctx context.Context) error {
		var err error
		opened, err = state.Open(ctx, state.Options{Checkpoint: r.cfg.Checkpoint,
			Identity: checkpoint.Identity{AppKey: r.cfg.Sink.AppKey, Topic: r.cfg.Sink.Topic},
			Kafka:    writer, NewTopics: writer.CreatedTopics() && lease == nil, Logger: logger, Now: r.now})
		if err == nil && lease != nil {
			// Restored from what another owner wrote: make sure it has
			// not taken over since.
			if err = lease.Check(ctx); err != nil {
				err = errors.Join(err, opened.Store.Close())
			}
		}
		return err
	})
	if err != nil {
		return opened, err
	}
	if opened.Restored {
		r.m.Restored()
	}
	return opened, nil
}

// sourceConfig is the Report API client's configuration with the run's
// observers: each retry and restart is counted, logged and filed.
func (r *run) sourceConfig() source.Config {
	sc := r.cfg.Source
	logger := r.cfg.Logger
	sc.Retry.OnRetry = func(attempt int, err error, wait time.Duration) {
		r.m.APIRetry()
		r.board.APIError(err)
		logger.Warn("report api request failed, retrying", "attempt", attempt, "wait", wait, "error", err)
	}
	sc.Now = r.now
	if r.hooks.SourceNow != nil {
		sc.Now = r.hooks.SourceNow
	}
	sc.OnResponse = r.m.ObserveAPI
	sc.OnRestart = func(kind, reason string) {
		r.m.APIRestart(kind, reason)
		logger.Info("walking a window again from its first page", "endpoint", kind, "reason", reason)
	}
	return sc
}

// awaitTopic ensures the topic, trying a few times: Kafka may come up
// after imreport.
func (r *run) awaitTopic(ctx context.Context, writer *sink.Writer) error {
	logger := r.cfg.Logger
	startup := retry.Policy{Initial: time.Second, Max: 5 * time.Second, MaxAttempts: 5,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			logger.Warn("kafka not reachable yet, retrying", "attempt", attempt, "wait", wait, "error", err)
		}}
	var partitions int
	if err := startup.Do(ctx, func(ctx context.Context) error {
		var err error
		partitions, err = writer.EnsureTopic(ctx)
		return err
	}); err != nil {
		hint := ""
		if r.cfg.KafkaHint != nil {
			hint = r.cfg.KafkaHint(err)
		}
		return fmt.Errorf("kafka %v: %w%s", r.cfg.Sink.Brokers, err, hint)
	}
	logger.Info("kafka topic ready", "topic", r.cfg.Sink.Topic, "partitions", partitions)
	r.board.KafkaResult(nil)
	return nil
}
