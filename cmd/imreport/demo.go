package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/registry"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/simulator"
	"github.com/imreport/imreport/sink"
)

const demoUsage = `imreport demo [flags]

Runs the whole pipeline on this machine, with nothing to install: it starts
the built-in Report API simulator (a deterministic generated history with every
message type, non-ASCII text and bursts of more than 1,000 messages in one
second), an embedded Kafka broker and an embedded Schema Registry, runs
"imreport run" as a bounded backfill over the simulated history, reads the
topic back, decodes every record by its framing and prints a summary. It exits
0 only if every simulated message is in Kafka exactly once.

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

// Demo credentials for the simulator; not secrets.
const (
	demoAppKey = simulator.DefaultAppKey
	demoSecret = "demo-master-secret"
)

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
	live := demoLiveFlags(fs)
	if code, done := parseFlags(fs, demoUsage, args, stdout, stderr); done {
		return code
	}
	if err := live.check(); err != nil {
		fmt.Fprintln(stderr, "imreport demo:", err)
		return exitUsage
	}
	if *count < 0 || *bursts < 0 || *burstSize < 0 || *hours < 1 || *faults < 0 || *faults > 0.1 || *poison < 0 || *poison > 0.1 {
		fmt.Fprintln(stderr, "imreport demo: --messages, --bursts and --burst-size must be >= 0, --hours >= 1, --faults and --poison within 0..0.1")
		return exitUsage
	}
	if _, err := schema.ParseFraming(*format); err != nil {
		fmt.Fprintln(stderr, "imreport demo: --format:", err)
		return exitUsage
	}
	if err := demo(ctx, demoOptions{
		count: *count, bursts: *bursts, burstSize: *burstSize, hours: *hours, seed: *seed,
		window: *window, logLevel: *logLevel, apiVersion: *apiVersion, faults: *faults, poison: *poison, format: *format, live: live,
	}, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "imreport demo:", err)
		return exitFailed
	}
	return exitOK
}

type demoOptions struct {
	count, bursts, burstSize, hours int
	seed                            uint64
	window                          time.Duration
	logLevel, apiVersion, format    string
	faults, poison                  float64
	live                            *demoLive // --callback
}

func demo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	began := time.Now()
	end := began.UTC().Add(-time.Hour).Truncate(time.Minute)
	start := end.Add(-time.Duration(o.hours) * time.Hour)
	msgs := simulator.Generate(simulator.GenSpec{
		Seed: o.seed, Start: start, End: end, Count: o.count, Bursts: o.bursts, BurstSize: o.burstSize,
		Poison: o.poison,
	})
	var live []simulator.Message
	if o.live.on {
		live = o.live.generate(o.seed, began)
		msgs = append(msgs, live...)
	}
	f := o.faults
	sim := simulator.New(simulator.Config{AppKey: demoAppKey, MasterSecret: demoSecret, V2EndMixed: f > 0,
		Faults: simulator.Faults{Seed: o.seed, ServerError: f, RateLimited: f, Slow: f / 4, SlowDelay: 2 * time.Second,
			Drop: f, Truncate: f, TotalDrift: f, CursorExpire: f}}, msgs)
	poisoned := map[int64]bool{}
	for _, id := range simulator.Poisoned(msgs) {
		poisoned[id] = true
	}
	var expected []simulator.Message
	for _, m := range sim.Visible(start, end) {
		if !poisoned[m.MsgID] {
			expected = append(expected, m)
		}
	}
	expected = append(expected, live...)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("simulator listen: %w", err)
	}
	api := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = api.Serve(ln) }()
	defer api.Close()

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		return fmt.Errorf("embedded kafka: %w", err)
	}
	defer cluster.Close()
	brokers := strings.Join(cluster.ListenAddrs(), ",")

	dir, err := os.MkdirTemp("", "imreport-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cpPath := filepath.Join(dir, "imreport.db")
	env := map[string]string{
		"IMREPORT_APP_KEY":                  demoAppKey,
		"IMREPORT_MASTER_SECRET":            demoSecret,
		"IMREPORT_API_URL":                  "http://" + ln.Addr().String(),
		"IMREPORT_START":                    start.Format(time.RFC3339),
		"IMREPORT_END":                      end.Format(time.RFC3339),
		"IMREPORT_WINDOW":                   o.window.String(),
		"IMREPORT_RATE_LIMIT":               "500",
		"IMREPORT_KAFKA_BROKERS":            brokers,
		"IMREPORT_KAFKA_PARTITIONS":         "3",
		"IMREPORT_KAFKA_REPLICATION_FACTOR": "1",
		"IMREPORT_CHECKPOINT_PATH":          cpPath,
		"IMREPORT_HTTP_ADDR":                "127.0.0.1:0",
		"IMREPORT_LOG_LEVEL":                o.logLevel,
		"IMREPORT_API_VERSION":              o.apiVersion,
		"IMREPORT_API_TIMEOUT":              "1s",
		"IMREPORT_VALUE_FORMAT":             o.format,
	}
	if o.live.on {
		o.live.configure(env)
	}
	var reg *srfake.Registry
	if o.format == "confluent" {
		reg = srfake.New() // an in-memory Confluent Schema Registry on loopback
		defer reg.Close()
		env["IMREPORT_SCHEMA_REGISTRY_URL"] = reg.URL()
	}
	cfg, err := loadConfig(ctx, envconfig.MapLookuper(env), began, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imreport demo\n")
	fmt.Fprintf(stdout, "  simulated Report API  http://%s (%s, %s)\n", ln.Addr(), cfg.APIVersion, cfg.Location)
	fmt.Fprintf(stdout, "  embedded Kafka        %s, topic %s\n", brokers, cfg.KafkaTopic)
	if reg != nil {
		fmt.Fprintf(stdout, "  embedded registry     %s, subject %s (values: confluent)\n", reg.URL(), cfg.Subject)
	} else {
		fmt.Fprintf(stdout, "  value format          single-object (no registry)\n")
	}
	fmt.Fprintf(stdout, "  history               %s .. %s, %d messages (%d bursts of %d in one second)\n",
		start.Format(time.RFC3339), end.Format(time.RFC3339), len(expected)+len(poisoned), o.bursts, o.burstSize)
	if f > 0 || len(poisoned) > 0 {
		fmt.Fprintf(stdout, "  faults                each API fault with probability %g per request; %d untransformable messages\n", f, len(poisoned))
	}
	fmt.Fprintf(stdout, "  running               imreport run as a bounded backfill (IMREPORT_END), window %s ...\n", o.window)

	var p *pipeline.Pipeline
	runStart := time.Now()
	logs, bars := terminalOutput(stderr)
	hooks := runHooks{onPipeline: func(x *pipeline.Pipeline) { p = x }, bars: bars}
	if o.live.on {
		fmt.Fprintf(stdout, "  callbacks             the simulated vendor pushes %s of live traffic to the receiver while the run polls\n", o.live.dur)
		o.live.hook(ctx, &hooks, demoAppKey, demoSecret, o.seed)
	}
	err = runPipeline(ctx, cfg, newLogger(logs, cfg.LogLevel), hooks)
	if o.live.on {
		o.live.finish()
	}
	if bars != nil {
		bars.Close()
	}
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	elapsed := time.Since(runStart)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if p == nil {
		return errors.New("run: the pipeline never started")
	}
	stats := p.Stats()

	reader, err := sink.New(sink.Config{Brokers: cluster.ListenAddrs(), Topic: cfg.KafkaTopic})
	if err != nil {
		return err
	}
	defer reader.Close()
	var lookup schema.Registry
	if reg != nil {
		if lookup, err = registry.New(cfg.Registry); err != nil {
			return err
		}
	}
	sum, err := readBack(ctx, reader, lookup, expected)
	if err != nil {
		return err
	}
	dlq, err := sink.New(sink.Config{Brokers: cluster.ListenAddrs(), Topic: cfg.KafkaDLQTopic, DLQTopic: cfg.KafkaDLQTopic + ".unused"})
	if err != nil {
		return err
	}
	defer dlq.Close()
	dead := map[int64]int{}
	if err := dlq.Scan(ctx, func(m sink.Message) error {
		id, _ := strconv.ParseInt(m.Headers[sink.HeaderMsgID], 10, 64)
		dead[id]++
		return nil
	}); err != nil {
		return fmt.Errorf("read back the dead-letter topic: %w", err)
	}
	deadOK := len(dead) == len(poisoned)
	for id, n := range dead {
		deadOK = deadOK && n == 1 && poisoned[id]
	}
	cp, err := checkpoint.Open(checkpoint.Options{Path: cpPath, ReadOnly: true})
	if err != nil {
		return err
	}
	state, err := cp.Load()
	_ = cp.Close()
	if err != nil {
		return err
	}

	w := stdout
	fmt.Fprintf(w, "\nsummary\n")
	fmt.Fprintf(w, "  published             %d records (%d API pages, %d API requests, %d duplicates skipped)\n",
		stats.Published, stats.Pages, sim.Requests(), stats.Duplicates)
	fmt.Fprintf(w, "  read back             %d records in %d partitions\n", sum.records, len(sum.partitions))
	fmt.Fprintf(w, "  distinct msgids       %d of %d generated (missing %d, duplicates %d, unexpected %d)\n",
		sum.distinct, len(expected), sum.missing, sum.duplicates, sum.unexpected)
	fmt.Fprintf(w, "  value framing         %s\n", sum.framings(cfg.Subject))
	fmt.Fprintf(w, "  per msg_type          %s\n", sum.types())
	fmt.Fprintf(w, "  create_time range     %s .. %s\n", sum.first.UTC().Format(time.RFC3339), sum.last.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  dead-letter topic     %d records, %d distinct, %d untransformable generated\n", stats.DeadLettered, len(dead), len(poisoned))
	if f > 0 {
		fmt.Fprintf(w, "  API faults injected   %s; %d Kafka read-backs\n", faultSummary(sim.FaultCounts()), stats.ReadBacks)
	}
	if o.live.on {
		o.live.summary(w, stats)
	}
	fmt.Fprintf(w, "  elapsed               %s (%.0f messages/second)\n", elapsed.Round(time.Millisecond), float64(stats.Published)/elapsed.Seconds())
	for s, c := range state.Cursors {
		fmt.Fprintf(w, "  checkpoint            stream %s cursor %s, %d commits, %d msgids kept for dedupe\n",
			s, c.Format(time.RFC3339), state.Commits, len(state.Seen))
	}
	fmt.Fprintf(w, "\none record (msgid %d, decoded with its writer schema; imreport read prints records like this):\n%s\n", sum.sampleID, sum.sample)
	if want := cfg.ValueFormat; len(sum.byFraming) != 1 || sum.byFraming[want] != sum.records {
		return fmt.Errorf("FAILED: expected every value in the %s framing, got %v", want, sum.byFraming)
	}
	if sum.missing != 0 || sum.duplicates != 0 || sum.unexpected != 0 || sum.distinct != len(expected) {
		return fmt.Errorf("FAILED: expected every one of %d messages exactly once", len(expected))
	}
	if !deadOK {
		return fmt.Errorf("FAILED: expected the dead-letter topic to hold exactly the %d untransformable messages once", len(poisoned))
	}
	fmt.Fprintf(w, "\nOK: every simulated message is in Kafka exactly once.\n")
	return nil
}

type readBackSummary struct {
	records, distinct, missing, duplicates, unexpected int
	partitions                                         map[int]int
	byFraming                                          map[schema.Framing]int
	schemaIDs                                          map[int]int
	byType                                             map[string]int
	first, last                                        time.Time
	sample                                             string
	sampleID                                           int64
}

func (s readBackSummary) types() string {
	keys := make([]string, 0, len(s.byType))
	for k := range s.byType {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return s.byType[keys[i]] > s.byType[keys[j]] || s.byType[keys[i]] == s.byType[keys[j]] && keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + strconv.Itoa(s.byType[k])
	}
	return strings.Join(parts, ", ")
}

// framings says how the values were framed, with the subject and ids.
func (s readBackSummary) framings(subject string) string {
	var parts []string
	for f, n := range s.byFraming {
		switch f {
		case schema.Confluent:
			for id, k := range s.schemaIDs {
				parts = append(parts, fmt.Sprintf("%d confluent (00 + schema id %d, subject %s)", k, id, subject))
			}
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n, f))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// readBack decodes every record of the topic by its framing (Confluent ids
// resolved at reg) and compares msgids with what the simulator generated.
func readBack(ctx context.Context, r *sink.Writer, reg schema.Registry, expected []simulator.Message) (readBackSummary, error) {
	codec, err := schema.NewCodec()
	if err != nil {
		return readBackSummary{}, err
	}
	dec := schema.NewDecoder(codec, reg)
	want := make(map[int64]bool, len(expected))
	for _, m := range expected {
		want[m.MsgID] = true
	}
	s := readBackSummary{partitions: map[int]int{}, byType: map[string]int{}, byFraming: map[schema.Framing]int{}, schemaIDs: map[int]int{}}
	got := make(map[int64]int, len(expected))
	err = r.Scan(ctx, func(m sink.Message) error {
		d, err := dec.Decode(ctx, m.Value)
		if err != nil {
			return fmt.Errorf("partition %d offset %d: %w", m.Partition, m.Offset, err)
		}
		rec := d.Record
		s.byFraming[d.Framing]++
		if d.Framing == schema.Confluent {
			s.schemaIDs[d.SchemaID]++
		}
		id, _ := rec["msgid"].(int64)
		if h := m.Headers[sink.HeaderMsgID]; h != strconv.FormatInt(id, 10) {
			return fmt.Errorf("partition %d offset %d: header msgid %q does not match the value's %d", m.Partition, m.Offset, h, id)
		}
		s.records++
		s.partitions[m.Partition]++
		got[id]++
		if t, _ := rec["msg_type"].(string); t != "" {
			s.byType[t]++
		}
		if ct, ok := rec["create_time"].(time.Time); ok {
			if s.first.IsZero() || ct.Before(s.first) {
				s.first = ct
			}
			if ct.After(s.last) {
				s.last = ct
			}
		}
		if s.sample == "" && rec["msg_type"] == "text" {
			var b bytes.Buffer
			if plain, err := schema.PlainJSON(d.Schema, rec); err == nil && json.Indent(&b, plain, "", "  ") == nil {
				s.sample, s.sampleID = b.String(), id
			}
		}
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("read back: %w", err)
	}
	s.distinct = len(got)
	for id, n := range got {
		if n > 1 {
			s.duplicates += n - 1
		}
		if !want[id] {
			s.unexpected++
		}
	}
	for id := range want {
		if got[id] == 0 {
			s.missing++
		}
	}
	return s, nil
}

// faultSummary lists the non-zero fault counts, by kind.
func faultSummary(counts map[string]int64) string {
	kinds := make([]string, 0, len(counts))
	for k, n := range counts {
		if n > 0 {
			kinds = append(kinds, k+" "+strconv.FormatInt(n, 10))
		}
	}
	if len(kinds) == 0 {
		return "none"
	}
	sort.Strings(kinds)
	return strings.Join(kinds, ", ")
}
