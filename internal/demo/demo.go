package demo

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/schema/registry"
	"github.com/imreport/imreport/sink"
)

// Demo credentials for the simulator; not secrets.
const (
	AppKey       = simulator.DefaultAppKey
	MasterSecret = "demo-master-secret"
)

// Options say what the demo simulates and how the run is configured.
type Options struct {
	Messages, Bursts, BurstSize, Hours int    // the generated history
	Seed                               uint64 // dataset (and fault) seed
	Window                             time.Duration
	LogLevel, APIVersion, Format       string  // IMREPORT_LOG_LEVEL, IMREPORT_API_VERSION, IMREPORT_VALUE_FORMAT
	Faults                             float64 // probability of each simulated API fault per request
	Poison                             float64 // fraction of untransformable messages
	Live                               *Live   // --callback; nil = off
}

// Settings is what the demo reads of the run's resolved configuration.
type Settings struct {
	APIVersion      string
	Location        *time.Location
	Topic, DLQTopic string
	Subject         string
	ValueFormat     schema.Framing
	Registry        registry.Config
}

// Hooks observe the run; nil members are not called.
type Hooks struct {
	OnCallback  func(addr string)                              // the callback receiver's bound address
	OnPublished func(path string, r sink.Record, at time.Time) // every record Kafka acknowledged
}

// Runner is imreport run's real wiring, as the demo drives it.
type Runner interface {
	// Configure resolves the run's configuration from env, the
	// environment variables imreport run would read.
	Configure(ctx context.Context, env map[string]string, now time.Time) (Settings, error)
	// Run runs the configured pipeline to its end and returns its counts.
	Run(ctx context.Context, h Hooks) (pipeline.Stats, error)
}

// Run runs the demo: the simulator, Kafka and the registry on loopback,
// the pipeline through r, then the read-back, with a summary on stdout. It
// returns an error unless every simulated message is in Kafka exactly once.
func Run(ctx context.Context, o Options, r Runner, stdout io.Writer) error {
	if o.Live == nil {
		o.Live = &Live{}
	}
	began := time.Now()
	h := newHistory(o, began)
	env, stop, err := startServices(o, h)
	if err != nil {
		return err
	}
	defer stop.close()
	cfg, err := r.Configure(ctx, env.vars, began)
	if err != nil {
		return err
	}
	printIntro(stdout, o, h, env, cfg)

	runStart := time.Now()
	var hooks Hooks
	if o.Live.On {
		fmt.Fprintf(stdout, "  callbacks             the simulated vendor pushes %s of live traffic to the receiver while the run polls\n", o.Live.Duration)
		o.Live.hook(ctx, &hooks, AppKey, MasterSecret, o.Seed)
	}
	stats, err := r.Run(ctx, hooks)
	if o.Live.On {
		o.Live.finish()
	}
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	elapsed := time.Since(runStart)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	res, err := verify(ctx, env, cfg, h)
	if err != nil {
		return err
	}
	printSummary(stdout, o, h, cfg, stats, res, elapsed)
	if err := res.verdict(cfg, h); err != nil {
		return err
	}
	if mr, ok := r.(MediaRunner); ok {
		if err := archiveMedia(ctx, stdout, mr, env, h); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\nOK: every simulated message is in Kafka exactly once.\n")
	return nil
}

// services are what the demo runs imreport against: the simulated Report
// API, an embedded Kafka broker, a temporary checkpoint folder and, for the
// Confluent format, an in-memory registry; vars is run's configuration.
type services struct {
	vars    map[string]string
	apiAddr string
	brokers []string
	cpPath  string
	reg     *srfake.Registry
}

// closers closes what startServices started, last first.
type closers []func()

func (c closers) close() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// startServices starts the services for h and returns run's configuration
// for them.
func startServices(o Options, h history) (services, closers, error) {
	var stop closers
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return services{}, stop, fmt.Errorf("simulator listen: %w", err)
	}
	// The Report API and the IM API's media endpoint (imreport media).
	api := &http.Server{Handler: simulator.WithMedia(h.sim, simulator.MediaConfig{}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = api.Serve(ln) }()
	stop = append(stop, func() { _ = api.Close() })

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		stop.close()
		return services{}, nil, fmt.Errorf("embedded kafka: %w", err)
	}
	stop = append(stop, cluster.Close)
	dir, err := os.MkdirTemp("", "imreport-demo-")
	if err != nil {
		stop.close()
		return services{}, nil, err
	}
	stop = append(stop, func() { _ = os.RemoveAll(dir) })
	s := services{apiAddr: ln.Addr().String(), brokers: cluster.ListenAddrs(), cpPath: filepath.Join(dir, "imreport.db")}
	s.vars = map[string]string{
		"IMREPORT_APP_KEY":                  AppKey,
		"IMREPORT_MASTER_SECRET":            MasterSecret,
		"IMREPORT_API_URL":                  "http://" + s.apiAddr,
		"IMREPORT_START":                    h.start.Format(time.RFC3339),
		"IMREPORT_END":                      h.end.Format(time.RFC3339),
		"IMREPORT_WINDOW":                   o.Window.String(),
		"IMREPORT_RATE_LIMIT":               "500",
		"IMREPORT_KAFKA_BROKERS":            strings.Join(s.brokers, ","),
		"IMREPORT_KAFKA_PARTITIONS":         "3",
		"IMREPORT_KAFKA_REPLICATION_FACTOR": "1",
		"IMREPORT_CHECKPOINT_PATH":          s.cpPath,
		"IMREPORT_HTTP_ADDR":                "127.0.0.1:0",
		"IMREPORT_LOG_LEVEL":                o.LogLevel,
		"IMREPORT_API_VERSION":              o.APIVersion,
		"IMREPORT_API_TIMEOUT":              "1s",
		"IMREPORT_VALUE_FORMAT":             o.Format,
	}
	if o.Live.On {
		o.Live.configure(s.vars)
	}
	if o.Format == "confluent" {
		s.reg = srfake.New() // an in-memory Confluent Schema Registry on loopback
		stop = append(stop, s.reg.Close)
		s.vars["IMREPORT_SCHEMA_REGISTRY_URL"] = s.reg.URL()
	}
	return s, stop, nil
}

// printIntro says what the demo runs.
func printIntro(stdout io.Writer, o Options, h history, s services, cfg Settings) {
	fmt.Fprintf(stdout, "imreport demo\n")
	fmt.Fprintf(stdout, "  simulated Report API  http://%s (%s, %s)\n", s.apiAddr, cfg.APIVersion, cfg.Location)
	fmt.Fprintf(stdout, "  embedded Kafka        %s, topic %s\n", strings.Join(s.brokers, ","), cfg.Topic)
	if s.reg != nil {
		fmt.Fprintf(stdout, "  embedded registry     %s, subject %s (values: confluent)\n", s.reg.URL(), cfg.Subject)
	} else {
		fmt.Fprintf(stdout, "  value format          single-object (no registry)\n")
	}
	fmt.Fprintf(stdout, "  history               %s .. %s, %d messages (%d bursts of %d in one second)\n",
		h.start.Format(time.RFC3339), h.end.Format(time.RFC3339), len(h.expected)+len(h.poisoned), o.Bursts, o.BurstSize)
	if o.Faults > 0 || len(h.poisoned) > 0 {
		fmt.Fprintf(stdout, "  faults                each API fault with probability %g per request; %d untransformable messages\n", o.Faults, len(h.poisoned))
	}
	fmt.Fprintf(stdout, "  running               imreport run as a bounded backfill (IMREPORT_END), window %s ...\n", o.Window)
}

// result is what the demo found in Kafka and the checkpoint after the run.
type result struct {
	sum    readBackSummary
	dead   map[int64]int
	deadOK bool
	state  checkpoint.State
}

// verify reads the topics and the checkpoint back.
func verify(ctx context.Context, s services, cfg Settings, h history) (result, error) {
	var res result
	reader, err := sink.New(sink.Config{Brokers: s.brokers, Topic: cfg.Topic})
	if err != nil {
		return res, err
	}
	defer reader.Close()
	dec, err := registry.Decoder(cfg.Registry)
	if err != nil {
		return res, err
	}
	if res.sum, err = readBack(ctx, reader, dec, h.expected); err != nil {
		return res, err
	}
	if res.dead, err = deadLetters(ctx, s.brokers, cfg.DLQTopic); err != nil {
		return res, err
	}
	res.deadOK = len(res.dead) == len(h.poisoned)
	for id, n := range res.dead {
		res.deadOK = res.deadOK && n == 1 && h.poisoned[id]
	}
	res.state, err = checkpointState(s.cpPath)
	return res, err
}

// printSummary prints what the run did and what verify found.
func printSummary(w io.Writer, o Options, h history, cfg Settings, stats pipeline.Stats, res result, elapsed time.Duration) {
	sum := res.sum
	fmt.Fprintf(w, "\nsummary\n")
	fmt.Fprintf(w, "  published             %d records (%d API pages, %d API requests, %d duplicates skipped)\n",
		stats.Published, stats.Pages, h.sim.Requests(), stats.Duplicates)
	fmt.Fprintf(w, "  read back             %d records in %d partitions\n", sum.records, len(sum.partitions))
	fmt.Fprintf(w, "  distinct msgids       %d of %d generated (missing %d, duplicates %d, unexpected %d)\n",
		sum.distinct, len(h.expected), sum.missing, sum.duplicates, sum.unexpected)
	fmt.Fprintf(w, "  value framing         %s\n", sum.framings(cfg.Subject))
	fmt.Fprintf(w, "  per msg_type          %s\n", sum.types())
	fmt.Fprintf(w, "  create_time range     %s .. %s\n", sum.first.UTC().Format(time.RFC3339), sum.last.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  dead-letter topic     %d records, %d distinct, %d untransformable generated\n", stats.DeadLettered, len(res.dead), len(h.poisoned))
	if o.Faults > 0 {
		fmt.Fprintf(w, "  API faults injected   %s; %d Kafka read-backs\n", faultSummary(h.sim.FaultCounts()), stats.ReadBacks)
	}
	if o.Live.On {
		o.Live.summary(w, stats)
	}
	fmt.Fprintf(w, "  elapsed               %s (%.0f messages/second)\n", elapsed.Round(time.Millisecond), float64(stats.Published)/elapsed.Seconds())
	for s, c := range res.state.Cursors {
		fmt.Fprintf(w, "  checkpoint            stream %s cursor %s, %d commits, %d msgids kept for dedupe\n",
			s, c.Format(time.RFC3339), res.state.Commits, len(res.state.Seen))
	}
	fmt.Fprintf(w, "\none record (msgid %d, decoded with its writer schema; imreport read prints records like this):\n%s\n", sum.sampleID, sum.sample)
}

// verdict is nil when every message is in Kafka exactly once, in the
// configured framing, and the dead-letter topic holds exactly the
// untransformable ones.
func (res result) verdict(cfg Settings, h history) error {
	sum := res.sum
	if want := cfg.ValueFormat; len(sum.byFraming) != 1 || sum.byFraming[want] != sum.records {
		return fmt.Errorf("FAILED: expected every value in the %s framing, got %v", want, sum.byFraming)
	}
	if sum.missing != 0 || sum.duplicates != 0 || sum.unexpected != 0 || sum.distinct != len(h.expected) {
		return fmt.Errorf("FAILED: expected every one of %d messages exactly once", len(h.expected))
	}
	if !res.deadOK {
		return fmt.Errorf("FAILED: expected the dead-letter topic to hold exactly the %d untransformable messages once", len(h.poisoned))
	}
	return nil
}

// history is the simulated vendor's data: what it serves and what the run
// must publish.
type history struct {
	start, end time.Time
	sim        *simulator.Server
	poisoned   map[int64]bool      // untransformable: the dead-letter topic's
	expected   []simulator.Message // every message the topic must hold once
}

// newHistory generates o's history (plus live traffic) and the simulator
// serving it.
func newHistory(o Options, began time.Time) history {
	end := began.UTC().Add(-time.Hour).Truncate(time.Minute)
	start := end.Add(-time.Duration(o.Hours) * time.Hour)
	msgs := simulator.Generate(simulator.GenSpec{
		Seed: o.Seed, Start: start, End: end, Count: o.Messages, Bursts: o.Bursts, BurstSize: o.BurstSize,
		Poison: o.Poison, MediaMaxSize: demoMediaMaxSize,
	})
	var live []simulator.Message
	if o.Live.On {
		live = o.Live.generate(o.Seed, began)
		msgs = append(msgs, live...)
	}
	f := o.Faults
	sim := simulator.New(simulator.Config{AppKey: AppKey, MasterSecret: MasterSecret, V2EndMixed: f > 0,
		Faults: simulator.BadDay(o.Seed, f, 2*time.Second)}, msgs)
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
	return history{start: start, end: end, sim: sim, poisoned: poisoned, expected: expected}
}

// deadLetters counts the records of the dead-letter topic by msgid.
func deadLetters(ctx context.Context, brokers []string, topic string) (map[int64]int, error) {
	dlq, err := sink.New(sink.Config{Brokers: brokers, Topic: topic, DLQTopic: topic + ".unused"})
	if err != nil {
		return nil, err
	}
	defer dlq.Close()
	dead := map[int64]int{}
	if err := dlq.Scan(ctx, func(m sink.Message) error {
		id, _ := strconv.ParseInt(m.Headers[sink.HeaderMsgID], 10, 64)
		dead[id]++
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read back the dead-letter topic: %w", err)
	}
	return dead, nil
}

// checkpointState reads the checkpoint the run left at path.
func checkpointState(path string) (checkpoint.State, error) {
	cp, err := checkpoint.Open(checkpoint.Options{Path: path, ReadOnly: true})
	if err != nil {
		return checkpoint.State{}, err
	}
	defer cp.Close()
	return cp.Load()
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

// readBack decodes every record of the topic by its framing with dec and
// compares msgids with what the simulator generated.
func readBack(ctx context.Context, r *sink.Writer, dec *schema.Decoder, expected []simulator.Message) (readBackSummary, error) {
	want := make(map[int64]bool, len(expected))
	for _, m := range expected {
		want[m.MsgID] = true
	}
	s := readBackSummary{partitions: map[int]int{}, byType: map[string]int{}, byFraming: map[schema.Framing]int{}, schemaIDs: map[int]int{}}
	got := make(map[int64]int, len(expected))
	err := r.Scan(ctx, func(m sink.Message) error {
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
