package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/internal/demo"
	"github.com/imreport/imreport/internal/media"
	"github.com/imreport/imreport/internal/service/progress"
	"github.com/imreport/imreport/pipeline"
)

const demoUsage = `imreport demo [flags]

Runs the whole pipeline on this machine, with nothing to install: it starts
the built-in Report API simulator (a deterministic generated history with every
message type, non-ASCII text and bursts of more than 1,000 messages in one
second), an embedded Kafka broker and an embedded Schema Registry, runs
"imreport run" as a bounded backfill over the simulated history, reads the
topic back, decodes every record by its framing and prints a summary. It exits
0 only if every simulated message is in Kafka exactly once.

Then (unless --media=false) it runs "imreport media" over the topic: every
image, voice, file and video (and thumbnail) of the history, served by the
simulator with small deterministic bytes, is archived into a temporary folder
and recorded once in <topic>.media; it prints the counts and bytes, and exits
non-zero unless every reference was archived.

--format confluent (the default) registers the schema in the embedded registry
and writes the Confluent wire format (00 + schema id + Avro), what Kafka
Connect, Flink, Spark and ClickHouse read; --format single-object writes Avro
single-object encoding and uses no registry.

--faults makes the simulator misbehave like a bad day at the vendor (server
errors, 429s, slow answers past the client timeout, dropped connections,
truncated bodies, a drifting total, expired cursors, each with that
probability per request); --poison makes that fraction of the messages
untransformable, so they must land in the dead-letter topic instead.
`

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, _ envconfig.Lookuper) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	count := fs.Int("messages", 40000, "messages spread over the simulated history")
	bursts := fs.Int("bursts", 3, "seconds holding a burst")
	burstSize := fs.Int("burst-size", 1500, "messages in each burst second")
	hours := fs.Int("hours", 24, "hours of simulated history")
	seed := fs.Uint64("seed", 1, "dataset seed")
	window := fs.Duration("window", time.Hour, "IMREPORT_WINDOW for the run")
	logLevel := fs.String("log-level", "warn", "log level of the pipeline's JSON logs (on stderr)")
	apiVersion := fs.String("api-version", "v2", "IMREPORT_API_VERSION for the run: v1 or v2")
	faults := fs.Float64("faults", 0, "probability of each simulated API fault per request (0..0.1)")
	poison := fs.Float64("poison", 0, "fraction of messages the transform must reject (0..0.1)")
	format := fs.String("format", "confluent", "IMREPORT_VALUE_FORMAT for the run: confluent (with an embedded registry) or single-object")
	withMedia := fs.Bool("media", true, "then archive the history's media with imreport media into a temporary folder")
	live := demoLiveFlags(fs)
	if code, done := parseFlags(fs, demoUsage, args, stdout, stderr); done {
		return code
	}
	o := demo.Options{
		Messages: *count, Bursts: *bursts, BurstSize: *burstSize, Hours: *hours, Seed: *seed,
		Window: *window, LogLevel: *logLevel, APIVersion: *apiVersion, Faults: *faults, Poison: *poison, Format: *format, Live: live,
	}
	if err := o.Check(); err != nil {
		fmt.Fprintln(stderr, "imreport demo:", err)
		return exitUsage
	}
	var runner demo.Runner = &demoRunner{stderr: stderr}
	if !*withMedia {
		runner = runOnly{runner}
	}
	if err := demo.Run(ctx, o, runner, stdout); err != nil {
		fmt.Fprintln(stderr, "imreport demo:", err)
		return exitFailed
	}
	return exitOK
}

// demoRunner is the demo's Runner: imreport run's configuration and wiring,
// its logs and progress on stderr.
type demoRunner struct {
	stderr io.Writer
	cfg    Config
}

func (r *demoRunner) Configure(ctx context.Context, env map[string]string, now time.Time) (demo.Settings, error) {
	cfg, err := loadConfig(ctx, envconfig.MapLookuper(env), now, true)
	if err != nil {
		return demo.Settings{}, err
	}
	r.cfg = cfg
	return demo.Settings{APIVersion: cfg.APIVersion, Location: cfg.Location, Topic: cfg.KafkaTopic, DLQTopic: cfg.KafkaDLQTopic,
		Subject: cfg.Subject, ValueFormat: cfg.ValueFormat, Registry: cfg.Registry}, nil
}

func (r *demoRunner) Run(ctx context.Context, h demo.Hooks) (pipeline.Stats, error) {
	var p *pipeline.Pipeline
	logs, bars := progress.TerminalOutput(r.stderr)
	hooks := runHooks{OnPipeline: func(x *pipeline.Pipeline) { p = x }, Bars: bars, OnCallback: h.OnCallback, OnPublished: h.OnPublished}
	err := runPipeline(ctx, r.cfg, newLogger(logs, r.cfg.LogLevel), hooks)
	if bars != nil {
		bars.Close()
	}
	if err != nil {
		return pipeline.Stats{}, err
	}
	if p == nil {
		if ctx.Err() != nil {
			return pipeline.Stats{}, nil
		}
		return pipeline.Stats{}, errors.New("the pipeline never started")
	}
	return p.Stats(), nil
}

// ArchiveMedia is imreport media's configuration and wiring, in this
// process, until done reports true of its totals.
func (r *demoRunner) ArchiveMedia(ctx context.Context, env map[string]string, done func(demo.MediaTotals) bool) (demo.MediaTotals, error) {
	cfg, err := loadConfig(ctx, envconfig.MapLookuper(env), time.Now(), true)
	if err != nil {
		return demo.MediaTotals{}, err
	}
	return demo.ServeMediaUntil(ctx, func(ctx context.Context, onMetrics func(*media.Metrics)) error {
		return serveMedia(ctx, cfg, newLogger(r.stderr, cfg.LogLevel), onMetrics)
	}, done)
}

// runOnly hides the runner's ArchiveMedia (--media=false).
type runOnly struct{ demo.Runner }
