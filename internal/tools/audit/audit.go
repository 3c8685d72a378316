package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// API is the Report API as the audit uses it (source.Client).
type API interface {
	// Count returns the API's total for the window, with the poller's bounds.
	Count(ctx context.Context, s source.Stream, w source.Window) (int, error)
	// ProbeBounds finds out how the server reads the bounds of s.
	ProbeBounds(ctx context.Context, s source.Stream, sec time.Time) (source.Bounds, error)
}

// Topics reads what this app published (sink.Writer).
type Topics interface {
	// Marks returns, with a non-zero at, the first offset of every
	// partition of both topics whose record timestamp is at or after at;
	// with a zero at, the end offsets.
	Marks(ctx context.Context, at time.Time) (map[string]map[int]int64, error)
	// ReadBack reads both topics from the given offsets to their ends,
	// calling fn with each record of this app.
	ReadBack(ctx context.Context, from map[string]map[int]int64, fn func(sink.Found) error) (map[string]map[int]int64, error)
}

// DefaultMargin is how far before --from the audit starts reading Kafka, by
// record timestamp.
const DefaultMargin = time.Hour

// Config configures an audit. Zero values mean the documented defaults.
type Config struct {
	Streams  []source.Stream // at least one
	AppKey   string          // required: records are this app's
	From, To time.Time       // the audited range of send time, whole seconds
	Bucket   time.Duration   // 0 = 1h; at least 1s and at most 24h
	Location *time.Location  // the API's zone (bounds strings, statistics buckets); nil = Asia/Shanghai
	// Margin: Kafka is read from the first record whose timestamp is at or
	// after From-Margin (a record's timestamp is its msg_ctime or, written
	// by an older imreport, when it was produced: never much before the
	// send time). 0 = DefaultMargin.
	Margin time.Duration

	Topic, DLQTopic string // named in the report

	// Statistics asks the statistics API as a second witness.
	Statistics bool

	// Decode decodes main-topic values; nil = SchemaDecoder without a
	// registry (single-object values only).
	Decode Decoder

	Logger *slog.Logger // nil = slog.Default()
	// ProgressEvery is the interval of progress logs; 0 = 10s.
	ProgressEvery time.Duration
	Now           func() time.Time // nil = time.Now
	// OnProgress, if set, is called with each progress step (metrics).
	OnProgress func(Progress)
}

// Progress is how far an audit got.
type Progress struct {
	Phase        string // "kafka", "api", "done"
	Done, Total  int64  // records read (kafka) or requests made (api) of the expected total
	ETA          time.Duration
	BucketsBad   int // in "done": the buckets found not ok
	BucketsTotal int
}

// Run audits [cfg.From, cfg.To): it reads the topics, asks the API for
// every bucket's total and compares. stats may be nil unless
// cfg.Statistics. The error is about the audit itself (Kafka or the API
// failed); the findings are in the Report.
func Run(ctx context.Context, cfg Config, api API, topics Topics, stats Statistics) (*Report, error) {
	a, err := newAuditor(cfg, api, topics, stats)
	if err != nil {
		return nil, err
	}
	return a.run(ctx)
}

type auditor struct {
	cfg      Config
	api      API
	topics   Topics
	stats    Statistics
	requests atomic.Int64
	failed   bool // a statistics request failed
}

func newAuditor(cfg Config, api API, topics Topics, stats Statistics) (*auditor, error) {
	var problems []error
	if len(cfg.Streams) == 0 {
		problems = append(problems, errors.New("no streams"))
	}
	if cfg.AppKey == "" {
		problems = append(problems, errors.New("app key is empty"))
	}
	if cfg.Bucket == 0 {
		cfg.Bucket = time.Hour
	}
	if cfg.Bucket < time.Second || cfg.Bucket > 24*time.Hour || cfg.Bucket%time.Second != 0 {
		problems = append(problems, fmt.Errorf("bucket %s is not whole seconds from 1s to 24h", cfg.Bucket))
	}
	if err := (source.Window{From: cfg.From, To: cfg.To}).Valid(); err != nil {
		problems = append(problems, fmt.Errorf("range: %w", err))
	}
	if cfg.Statistics && stats == nil {
		problems = append(problems, errors.New("statistics asked for without a statistics client"))
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			problems = append(problems, err)
		}
		cfg.Location = loc
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("audit: %w", errors.Join(problems...))
	}
	if cfg.Margin <= 0 {
		cfg.Margin = DefaultMargin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Decode == nil {
		d, err := defaultDecoder()
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		cfg.Decode = d
	}
	return &auditor{cfg: cfg, api: api, topics: topics, stats: stats}, nil
}

func (a *auditor) run(ctx context.Context) (*Report, error) {
	began := time.Now()
	buckets := Buckets(a.cfg.From, a.cfg.To, a.cfg.Bucket)
	a.cfg.Logger.Info("audit started", "from", a.cfg.From, "to", a.cfg.To, "bucket", a.cfg.Bucket,
		"buckets", len(buckets), "streams", len(a.cfg.Streams))
	rep := &Report{From: a.cfg.From, To: a.cfg.To, Bucket: Duration(a.cfg.Bucket), Topic: a.cfg.Topic, DLQTopic: a.cfg.DLQTopic}
	// The API first, then Kafka: on a live deployment, a message the API
	// counted has had the whole Kafka read to be published.
	totals, err := a.countAll(ctx, buckets)
	if err != nil {
		return nil, err
	}
	whole := slices.ContainsFunc(a.cfg.Streams, func(s source.Stream) bool { return s.Kind == source.KindMessages })
	if a.cfg.Statistics {
		rep.Statistic = a.askStatistics(ctx, whole)
	}
	apiTime := time.Since(began)
	kafkaBegan := time.Now()
	t, err := a.readTopics(ctx)
	if err != nil {
		return nil, err
	}
	kafkaTime := time.Since(kafkaBegan)
	for i, s := range a.cfg.Streams {
		sr, err := a.compare(ctx, s, t.seriesOf(i), buckets, totals[i])
		if err != nil {
			return nil, err
		}
		rep.Streams = append(rep.Streams, sr)
	}
	if rep.Statistic != nil {
		compareStatistics(rep.Statistic, t)
	}
	rep.Summary = summarize(rep, t)
	rep.Summary.Requests = a.requests.Load()
	rep.Summary.KafkaTime, rep.Summary.APITime = Duration(kafkaTime), Duration(apiTime)
	rep.Summary.Elapsed = Duration(time.Since(began))
	if a.failed {
		rep.Summary.Clean = false
	}
	a.report(Progress{Phase: "done", BucketsBad: rep.Summary.Mismatched, BucketsTotal: rep.Summary.Buckets})
	a.cfg.Logger.Info("audit finished", "clean", rep.Summary.Clean, "buckets", rep.Summary.Buckets,
		"mismatched", rep.Summary.Mismatched, "missing", rep.Summary.Missing, "extra", rep.Summary.Extra,
		"duplicates", rep.Summary.Duplicates, "records_read", rep.Summary.Records, "api_requests", rep.Summary.Requests,
		"elapsed", time.Since(began).Round(time.Millisecond))
	return rep, nil
}

// countAll asks the API for the total of every bucket of every stream.
func (a *auditor) countAll(ctx context.Context, buckets []source.Window) ([][]int, error) {
	prog := a.progress("api", int64(len(buckets)*len(a.cfg.Streams)))
	totals := make([][]int, len(a.cfg.Streams))
	for i, s := range a.cfg.Streams {
		for _, w := range buckets {
			n, err := a.api.Count(ctx, s, w)
			a.requests.Add(1)
			if err != nil {
				return nil, fmt.Errorf("audit %s: %w", s, err)
			}
			totals[i] = append(totals[i], n)
			prog.step(1)
		}
	}
	return totals, nil
}

// compare probes how the stream's endpoint reads its bounds and compares
// every bucket's total with the topics over the seconds it covers.
func (a *auditor) compare(ctx context.Context, s source.Stream, ser series, buckets []source.Window, totals []int) (StreamReport, error) {
	queried := s.Bounds()
	sr := StreamReport{Stream: s.String(), Queried: boundsName(queried), Read: "unprobed"}
	read := queried
	if sec, ok := ser.busiest(a.cfg.From, a.cfg.To); ok {
		b, err := a.api.ProbeBounds(ctx, s, time.Unix(sec, 0))
		a.requests.Add(1)
		if err != nil {
			return sr, fmt.Errorf("audit %s: %w", s, err)
		}
		read, sr.Read = b, boundsName(b)
		if b != queried {
			a.cfg.Logger.Warn("the server reads this endpoint's bounds otherwise than the poller queries them; totals are compared over the seconds they really cover",
				"stream", s.String(), "queried", boundsName(queried), "read", boundsName(b))
		}
	}
	for i, w := range buckets {
		n := int64(totals[i])
		cf, ct := Coverage(w, a.cfg.Location, queried, read)
		main, dead, dups := ser.sum(cf, ct)
		var asked []int64
		if n != main+dead {
			var err error
			if n, asked, err = a.confirm(ctx, s, w, n); err != nil {
				return sr, err
			}
		}
		b := BucketReport{From: w.From, To: w.To, CoverFrom: cf, CoverTo: ct, API: n, Asked: asked, InTopic: main,
			DeadLettered: dead, Duplicates: dups, Difference: n - main - dead}
		switch {
		case b.Difference > 0:
			b.Status = StatusMissing
		case b.Difference < 0:
			b.Status = StatusExtra
		case dups > 0:
			b.Status = StatusDuplicates
		default:
			b.Status = StatusOK
		}
		if b.Status != StatusOK {
			a.cfg.Logger.Warn("audit: bucket differs", "stream", s.String(), "from", w.From, "to", w.To,
				"api_total", n, "in_topic", main, "dead_lettered", dead, "duplicates", dups, "status", b.Status)
		}
		sr.Buckets = append(sr.Buckets, b)
	}
	return sr, nil
}

// A differing bucket's total is asked for until one value has come back
// agree times, at most confirmations times in all.
const (
	agree         = 3
	confirmations = 7
)

// confirm asks again for the total of a bucket that differs: the vendor
// does not promise a stable total (the simulator's faults drift it by a
// few), and a finding must not rest on one answer. The first total given
// three times is the bucket's; if none is by the seventh answer, the
// median. asked lists every answer, the first one first.
func (a *auditor) confirm(ctx context.Context, s source.Stream, w source.Window, first int64) (int64, []int64, error) {
	asked := []int64{first}
	seen := map[int64]int{first: 1}
	for len(asked) < confirmations {
		n, err := a.api.Count(ctx, s, w)
		a.requests.Add(1)
		if err != nil {
			return 0, asked, fmt.Errorf("audit %s: %w", s, err)
		}
		asked = append(asked, int64(n))
		if seen[int64(n)]++; seen[int64(n)] == agree {
			return int64(n), asked, nil
		}
	}
	sorted := slices.Clone(asked)
	slices.Sort(sorted)
	a.cfg.Logger.Warn("audit: the API's total for a bucket does not settle; taking the median", "stream", s.String(), "from", w.From, "totals", asked)
	return sorted[len(sorted)/2], asked, nil
}

func boundsName(b source.Bounds) string {
	if b == source.Strict {
		return "strict"
	}
	return "inclusive"
}

// summarize totals the buckets and the statistics.
func summarize(rep *Report, t *tally) Summary {
	sm := Summary{Clean: true, Records: t.records, Undecodable: t.undecodable}
	if len(t.placed) > 0 {
		sm.Placed = t.placed
	}
	for _, s := range rep.Streams {
		for _, b := range s.Buckets {
			sm.Buckets++
			sm.Duplicates += b.Duplicates
			if b.Difference > 0 {
				sm.Missing += b.Difference
			} else {
				sm.Extra -= b.Difference
			}
			if b.Status != StatusOK {
				sm.Mismatched++
				sm.Clean = false
			}
		}
	}
	if st := rep.Statistic; st != nil {
		for _, b := range st.Buckets {
			if b.Status != StatusOK {
				sm.StatMismatched++
				sm.Clean = false
			}
		}
	}
	return sm
}

// readTopics reads both topics from the first record whose timestamp is at
// or after From-Margin to their ends.
func (a *auditor) readTopics(ctx context.Context) (*tally, error) {
	from, err := a.topics.Marks(ctx, a.cfg.From.Add(-a.cfg.Margin))
	if err != nil {
		return nil, fmt.Errorf("audit: kafka: %w", err)
	}
	ends, err := a.topics.Marks(ctx, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("audit: kafka: %w", err)
	}
	var most int64
	for topic, ps := range ends {
		for p, end := range ps {
			most += max(0, end-from[topic][p])
		}
	}
	a.cfg.Logger.Info("audit: reading kafka", "since", a.cfg.From.Add(-a.cfg.Margin), "records_at_most", most)
	prog := a.progress("kafka", most)
	t := newTally()
	member := membership(a.cfg.Streams, a.cfg.AppKey)
	_, err = a.topics.ReadBack(ctx, from, func(f sink.Found) error {
		var fields Fields
		var derr error
		if f.DeadLetter {
			fields, derr = deadFields(f.Value)
		} else {
			fields, derr = a.cfg.Decode(ctx, f.Value)
		}
		t.add(f, fields, derr, member)
		prog.step(1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: kafka: %w", err)
	}
	prog.finish()
	return t, nil
}

// progress logs how far a phase got, at most every ProgressEvery.
type progress struct {
	a           *auditor
	phase       string
	total, done int64
	began, last time.Time
}

func (a *auditor) progress(phase string, total int64) *progress {
	now := time.Now()
	return &progress{a: a, phase: phase, total: total, began: now, last: now}
}

func (p *progress) step(n int64) {
	p.done += n
	if time.Since(p.last) < p.a.cfg.ProgressEvery && p.done < p.total {
		return
	}
	p.last = time.Now()
	pr := Progress{Phase: p.phase, Done: p.done, Total: p.total}
	if p.done > 0 && p.total > p.done {
		pr.ETA = time.Duration(float64(time.Since(p.began)) * float64(p.total-p.done) / float64(p.done)).Round(time.Second)
	}
	p.a.cfg.Logger.Info("audit progress", "phase", p.phase, "done", p.done, "total", p.total, "eta", pr.ETA)
	p.a.report(pr)
}

func (p *progress) finish() {
	if p.done < p.total {
		p.total = p.done // records of other apps, or gaps: nothing more to read
		p.step(0)
	}
}

func (a *auditor) report(p Progress) {
	if a.cfg.OnProgress != nil {
		a.cfg.OnProgress(p)
	}
}
