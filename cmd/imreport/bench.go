package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/internal/bench"
	"github.com/imreport/imreport/pipeline"
)

const benchUsage = `imreport bench [flags]

Measures "imreport run" end to end: generates a history (--messages over
--span, plus --bursts seconds of --burst-size messages), serves it with the
Report API simulator (every answer delayed by --latency, requests past
--rate-limit per second answered 429), runs a bounded backfill over it into
an embedded Kafka broker (every answer delayed by --kafka-latency: a
cluster far away) with IMREPORT_RATE_LIMIT=--rate-limit and the
defaults otherwise (--env KEY=VALUE overrides any variable), and prints
messages/second, API requests, messages per request against the least
possible (one per full page plus one per 7-day span) and the fraction of the
rate-limit bound (rate x page size messages/second) reached. --naive first
runs a naive one-pass pipeline over the same history and prints the ratio.

--media also measures "imreport media": the run alone first, then again
with "imreport media" (this binary, a process of its own) archiving the
history's media against the same simulator and broker while the run
publishes, every /v1/resource answer --media-latency late and
IMREPORT_MEDIA_RATE_LIMIT=--media-rate, until it has published
--media-items records; it prints the run's throughput alone and with media
running, and the media records per second (from the first record to the
last) as a fraction of the rate.

--serve-kafka ADDR instead serves an embedded Kafka broker on ADDR until
interrupted, so that "imreport run" can be measured in a process of its own
(peak RSS: see internal/bench/rss.sh).

Examples (the issue's table):
  imreport bench --messages 200000 --span 6h --latency 200ms --rate-limit 10
  imreport bench --messages 6000 --span 720h
  imreport bench --messages 100000 --span 24h --naive
  imreport bench --messages 600000 --span 18h --latency 200ms --rate-limit 10 --kafka-latency 250ms
  imreport bench --messages 200000 --span 6h --latency 200ms --rate-limit 10 --media --media-latency 200ms --media-rate 5
`

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, _ envconfig.Lookuper) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var spec bench.Spec
	fs.IntVar(&spec.Messages, "messages", 100000, "messages spread over the span")
	fs.DurationVar(&spec.Span, "span", 24*time.Hour, "history length (at most 59 days)")
	fs.IntVar(&spec.Bursts, "bursts", 0, "seconds holding a burst")
	fs.IntVar(&spec.BurstSize, "burst-size", 1500, "messages in each burst second")
	fs.Uint64Var(&spec.Seed, "seed", 1, "dataset seed")
	fs.DurationVar(&spec.Latency, "latency", 0, "delay of every API answer")
	fs.DurationVar(&spec.KafkaLatency, "kafka-latency", 0, "delay of every answer of the embedded Kafka broker (a cluster far away)")
	fs.Float64Var(&spec.RateLimit, "rate-limit", 0, "API requests per second (client and simulator); 0 = unlimited")
	fs.StringVar(&spec.APIVersion, "api-version", "v2", "IMREPORT_API_VERSION: v1 or v2")
	fs.IntVar(&spec.PageSize, "page-size", 1000, "IMREPORT_PAGE_SIZE")
	fs.BoolVar(&spec.Naive, "naive", false, "also run the naive pipeline and print the ratio")
	env := map[string]string{}
	fs.Func("env", "KEY=VALUE: an IMREPORT_* variable for the run (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || !strings.HasPrefix(k, "IMREPORT_") {
			return fmt.Errorf("%q is not IMREPORT_NAME=VALUE", s)
		}
		env[k] = v
		return nil
	})
	withMedia := fs.Bool("media", false, "also measure imreport media (a process of its own) while the run publishes")
	mediaItems := fs.Int("media-items", 100, "media records to wait for")
	mediaLatency := fs.Duration("media-latency", 200*time.Millisecond, "delay of every /v1/resource answer")
	mediaRate := fs.Float64("media-rate", 5, "IMREPORT_MEDIA_RATE_LIMIT")
	serveKafka := fs.String("serve-kafka", "", "serve an embedded Kafka broker on this address until interrupted")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measurement (simulator and broker included) to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the measurement (simulator and broker included) to this file")
	if code, done := parseFlags(fs, benchUsage, args, stdout, stderr); done {
		return code
	}
	if *serveKafka != "" {
		err := bench.ServeKafka(ctx, *serveKafka, spec.KafkaLatency, func(addrs []string) {
			fmt.Fprintf(stdout, "embedded kafka on %s\n", strings.Join(addrs, ","))
		})
		if err != nil {
			fmt.Fprintln(stderr, "imreport bench:", err)
			return exitFailed
		}
		return exitOK
	}
	spec.Env = env
	if *withMedia {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(stderr, "imreport bench:", err)
			return exitFailed
		}
		if *mediaItems < 2 || *mediaRate <= 0 {
			fmt.Fprintln(stderr, "imreport bench: --media-items must be at least 2 and --media-rate above 0")
			return exitUsage
		}
		spec.Media = &bench.MediaSpec{Command: []string{self, "media"}, Items: *mediaItems, Latency: *mediaLatency, Rate: *mediaRate}
	}
	stopProfiles, err := bench.Profiles{CPU: *cpuProfile, Mem: *memProfile}.Start()
	if err != nil {
		fmt.Fprintln(stderr, "imreport bench:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "imreport bench: %d messages over %v (%d bursts of %d), latency %v, kafka latency %v, rate limit %g/s, %s, page size %d\n",
		spec.Messages, spec.Span, spec.Bursts, spec.BurstSize, spec.Latency, spec.KafkaLatency, spec.RateLimit, spec.APIVersion, spec.PageSize)
	res, err := bench.Run(ctx, spec, func(ctx context.Context, env map[string]string) (int64, error) {
		return benchRun(ctx, env, stderr)
	})
	fmt.Fprint(stdout, res.String())
	stopProfiles()
	if err != nil {
		fmt.Fprintln(stderr, "imreport bench:", err)
		return exitFailed
	}
	return exitOK
}

// benchRun is "imreport run" with env, returning what it published.
func benchRun(ctx context.Context, env map[string]string, stderr io.Writer) (int64, error) {
	cfg, err := loadConfig(ctx, envconfig.MapLookuper(env), time.Now(), true)
	if err != nil {
		return 0, err
	}
	var p *pipeline.Pipeline
	if err := runPipeline(ctx, cfg, newLogger(stderr, cfg.LogLevel), runHooks{OnPipeline: func(x *pipeline.Pipeline) { p = x }}); err != nil {
		return 0, err
	}
	if p == nil {
		return 0, fmt.Errorf("the pipeline never started")
	}
	st := p.Stats()
	if os.Getenv("IMREPORT_BENCH_VERBOSE") != "" {
		fmt.Fprintf(stderr, "stats: %+v\n", st)
	}
	return st.Published, nil
}
