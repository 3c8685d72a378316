package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// Fetcher pages through one window of one stream, in order.
type Fetcher interface {
	Fetch(ctx context.Context, s source.Stream, w source.Window, fn func(source.Page) error) error
	// Count returns the total the API reports for the window, with one
	// small request: a lookback rescan whose total matches what was already
	// fetched for that range is skipped.
	Count(ctx context.Context, s source.Stream, w source.Window) (int, error)
}

// Publisher writes records to Kafka synchronously and reads back what it
// wrote.
type Publisher interface {
	// Publish returns nil when every record is acknowledged. On failure it
	// returns a *sink.WriteError naming the records that were not, and
	// guarantees that none of them can still land later (they landed
	// already or never will): a read-back then tells which did.
	Publish(ctx context.Context, recs []sink.Record) error
	// Marks returns the end offset of every partition the publisher writes
	// to (topic -> partition -> offset); with a non-zero at, the offset of
	// the first record written at or after at instead.
	Marks(ctx context.Context, at time.Time) (map[string]map[int]int64, error)
	// ReadBack reads every record of this app written at or after from,
	// up to the end offsets at the time of the call, which it returns.
	ReadBack(ctx context.Context, from map[string]map[int]int64, fn func(sink.Found) error) (map[string]map[int]int64, error)
}

// Checkpointer persists progress.
type Checkpointer interface {
	Load() (checkpoint.State, error)
	Commit(checkpoint.Commit) error
}

// Config configures a Pipeline. Zero values mean the documented defaults.
type Config struct {
	Streams    []source.Stream // at least one
	AppKey     string          // written into every record's source
	APIVersion string          // "" = v1

	Start time.Time // where a stream without a cursor begins
	// End: zero = run until cancelled; else stop once every stream reaches
	// End and, with a Lookback, once End+Lookback has passed and the
	// lookback before End was fetched one last time in full.
	End    time.Time
	Window time.Duration // largest window; 0 = 5m
	// WindowMessages sizes windows by the data (see Sizer): each window aims
	// at this many messages, by the API's totals, up to Window (on v2 at
	// most MaxV2Window), and a window whose first page reports more than
	// twice this is cut smaller before it is published. 0 = every window
	// is Window long (as far as now and End allow).
	WindowMessages int
	// PageSize is the messages per page the Fetcher asks for: a bounded
	// run sized by the data is cut into the count of windows that takes
	// the fewest pages (see WindowCount). 0 = unknown.
	PageSize     int
	Settle       time.Duration // never query closer to now; 0 = none
	Lookback     time.Duration // rescan this far behind the cursor when caught up; 0 = no rescans
	PollInterval time.Duration // wait between polls once caught up; 0 = 10s
	Retention    time.Duration // the API's; 0 = 60 days

	FetchConcurrency int // windows fetched at once; 0 = 1 (with AutoConcurrency: the most)
	// AutoConcurrency fetches as many windows at once as RequestRate and the
	// API's measured latency need to keep the rate limit busy (see
	// AutoConcurrency), at most FetchConcurrency. The latency comes from a
	// Fetcher with a Latency() time.Duration method; without one, or before
	// the first answer, 4 windows.
	AutoConcurrency bool
	RequestRate     float64       // the API client's rate limit, requests per second; for AutoConcurrency
	ShutdownTimeout time.Duration // how long an in-flight Kafka write may finish after cancel; 0 = 15s
	PublishRetry    retry.Policy  // for temporary Kafka failures

	// Codec encodes the records: single-object, or Confluent once it has
	// the registry's schema id (schema.Codec.Confluent); nil = single-object.
	Codec *schema.Codec

	Now    func() time.Time                                 // nil = time.Now
	Sleep  func(ctx context.Context, d time.Duration) error // poll waits; nil = retry.Sleep
	Logger *slog.Logger                                     // nil = slog.Default()

	// OnCommit, if set, is called after every checkpoint commit.
	OnCommit func(Progress)
	// Lineage, if set, is stored with every commit
	// (checkpoint.Commit.Lineage): the history the checkpoint continues.
	Lineage string
	// OnSnapshot, if set, is called after every checkpoint commit,
	// including the one that ends reconciliation, with what a restore
	// needs (Snapshot), in commit order, from the publisher's goroutine.
	// It must be quick.
	OnSnapshot func(Snapshot)
	// OnPublished, if set, is called by the publisher for every record
	// Kafka acknowledged, with the path it came by (PathPoll, PathCallback)
	// and the time of the acknowledgement. It must be quick.
	OnPublished func(path string, r sink.Record, at time.Time)
}

// Progress is the state after a commit.
type Progress struct {
	Cursors map[string]time.Time // committed cursor per stream
	Stats   Stats
}

// Stats counts what a Pipeline did since it started.
type Stats struct {
	Pages      int64 // pages received
	Fetched    int64 // messages received (before dedupe)
	Published  int64 // messages acknowledged by Kafka
	Duplicates int64 // messages skipped as already published
	Windows    int64 // windows fully published
	Rescans    int64 // lookback windows fully published (or skipped as unchanged)
	Commits    int64 // checkpoint commits
	Retries    int64 // Kafka publish retries
	Seen       int64 // msgids held for deduplication

	RescanChecks int64 // lookback windows whose total was asked for (one small request each)
	RescanSkips  int64 // of those, windows not fetched because the total matched
	DeadLettered int64 // messages sent to the dead-letter topic
	ReadBacks    int64 // read-backs of Kafka (at start and after a failed write)
	Recovered    int64 // msgids found in Kafka by a read-back that the checkpoint did not know
	Splits       int64 // windows cut smaller after their first page (windows sized by the data)

	// What came by Push (counted in Published, Duplicates and DeadLettered
	// too).
	CallbackRequests   int64 // batches handed to the publisher
	CallbackWrites     int64 // Kafka writes they were coalesced into (retries not counted)
	CallbackMessages   int64 // messages in them
	CallbackPublished  int64 // messages acknowledged by Kafka (main topic) from callbacks
	CallbackDuplicates int64 // messages skipped: already published (by either path) or twice in one write
	// CallbackStale counts messages skipped because they were sent so long
	// ago that the poller's cursor passed them by more than the lookback:
	// polling published them already, and the dedupe set no longer holds
	// them.
	CallbackStale int64
	// CallbackOutside counts messages skipped because no configured stream
	// serves them (IMREPORT_USERS, _GROUPS, _CHATROOMS name only some).
	CallbackOutside int64
}

// Pipeline is one run of the pipeline.
type Pipeline struct {
	cfg      Config
	src      Fetcher
	pub      Publisher
	cp       Checkpointer
	codec    *schema.Codec
	plan     Plan
	sizer    Sizer
	gate     *gate        // windows in flight
	pageCost atomic.Int64 // the publisher's time per page, a moving average (ns)
	verdicts *verdicts    // first pages of sized windows, for the planner

	stats struct {
		pages, fetched, published, duplicates, windows, rescans, commits, retries, seen atomic.Int64
		rescanChecks, rescanSkips, deadLettered, readBacks, recovered, splits           atomic.Int64
	}
	index    *rescanIndex // what each stream served, by second, for rescan checks
	push     pushCounters
	pushes   chan *pushRequest // Push -> the publisher
	stopped  chan struct{}     // closed when the publisher returns
	stopOnce sync.Once
	mu       sync.Mutex
	cursors  map[string]time.Time // committed

	// For progress reports: set by Run before its stages start.
	began     map[string]time.Time // the cursors when Run started
	perStream streamCounters

	// start is what Run found: the floor after reconciliation and the
	// sequence and pruning horizon to continue (floor.go).
	start struct {
		floor        marks
		sequence     uint64
		prunedBefore int64
	}
}

// New checks cfg and returns a Pipeline.
func New(cfg Config, src Fetcher, pub Publisher, cp Checkpointer) (*Pipeline, error) {
	var problems []error
	if len(cfg.Streams) == 0 {
		problems = append(problems, errors.New("no streams"))
	}
	seen := map[string]bool{}
	for _, s := range cfg.Streams {
		if seen[s.String()] {
			problems = append(problems, fmt.Errorf("stream %s listed twice", s))
		}
		seen[s.String()] = true
	}
	if cfg.AppKey == "" {
		problems = append(problems, errors.New("app key is empty"))
	}
	if cfg.Window < 0 || cfg.Settle < 0 || cfg.Lookback < 0 || cfg.PollInterval < 0 {
		problems = append(problems, errors.New("durations must not be negative"))
	}
	if cfg.WindowMessages < 0 || cfg.FetchConcurrency < 0 || cfg.RequestRate < 0 {
		problems = append(problems, errors.New("window messages, fetch concurrency and request rate must not be negative"))
	}
	if cfg.Window > 0 && cfg.Window < time.Second {
		problems = append(problems, errors.New("window must be at least 1s"))
	}
	if !cfg.End.IsZero() && !cfg.End.After(cfg.Start) {
		problems = append(problems, fmt.Errorf("end %v is not after start %v", cfg.End, cfg.Start))
	}
	codec := cfg.Codec
	if codec == nil {
		var err error
		if codec, err = schema.NewCodec(); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("pipeline: %w", errors.Join(problems...))
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = "v1"
	}
	if cfg.Window == 0 {
		cfg.Window = 5 * time.Minute
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Second
	}
	if cfg.Retention == 0 {
		cfg.Retention = Retention
	}
	if cfg.FetchConcurrency <= 0 {
		cfg.FetchConcurrency = 1
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = retry.Sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sizer := Sizer{Max: cfg.Window, Target: cfg.WindowMessages}
	if cfg.APIVersion == "v2" && cfg.WindowMessages > 0 {
		sizer.Max = min(sizer.Max, MaxV2Window)
	}
	p := &Pipeline{
		cfg: cfg, src: src, pub: pub, cp: cp, codec: codec,
		plan:   Plan{Window: cfg.Window, Settle: cfg.Settle, End: cfg.End},
		sizer:  sizer,
		index:  newRescanIndex(),
		pushes: make(chan *pushRequest), stopped: make(chan struct{}),
	}
	p.gate, p.verdicts = newGate(p.inFlightLimit), newVerdicts()
	return p, nil
}

// Stats returns the counters so far. Safe to call while Run runs.
func (p *Pipeline) Stats() Stats {
	s := &p.stats
	return Stats{
		Pages: s.pages.Load(), Fetched: s.fetched.Load(), Published: s.published.Load(),
		Duplicates: s.duplicates.Load(), Windows: s.windows.Load(), Rescans: s.rescans.Load(),
		Commits: s.commits.Load(), Retries: s.retries.Load(), Seen: s.seen.Load(),
		RescanChecks: s.rescanChecks.Load(), RescanSkips: s.rescanSkips.Load(),
		DeadLettered: s.deadLettered.Load(), ReadBacks: s.readBacks.Load(), Recovered: s.recovered.Load(),
		Splits:           s.splits.Load(),
		CallbackRequests: p.push.requests.Load(), CallbackWrites: p.push.writes.Load(), CallbackMessages: p.push.messages.Load(), CallbackPublished: p.push.published.Load(),
		CallbackDuplicates: p.push.duplicates.Load(), CallbackStale: p.push.stale.Load(), CallbackOutside: p.push.outside.Load(),
	}
}

// Cursors returns the committed cursor of every stream. Safe to call while Run runs.
func (p *Pipeline) Cursors() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.cursors)
}

// job is one window of one stream to fetch and publish.
type job struct {
	stream  source.Stream
	seq     uint64
	window  source.Window
	advance bool // false for a lookback rescan: the cursor does not move
	check   bool // a rescan that is skipped when the API's total matches the index
	// sized: a window sized by the data, whose first page's verdict goes
	// to the planner before any page of it is published.
	sized bool
}

// item is what fetchers hand the publisher: a page, or the end of a job.
type item struct {
	job  job
	page *source.Page
	msgs []decoded // the page's messages, decoded (and encoded) by the fetcher
}

// Run runs until every stream reaches Config.End, ctx is cancelled (it then
// returns nil after committing what Kafka acknowledged), or a fatal error.
func (p *Pipeline) Run(ctx context.Context) error {
	defer p.stopPushes() // also when Run fails before the publisher starts
	state, err := p.cp.Load()
	if err != nil {
		return fmt.Errorf("pipeline: load checkpoint: %w", err)
	}
	now := p.cfg.Now()
	cursors := make(map[string]time.Time, len(p.cfg.Streams))
	for _, s := range p.cfg.Streams {
		key := s.String()
		c, ok := state.Cursors[key]
		switch {
		case ok:
			if c.Before(now.Add(-p.cfg.Retention)) {
				p.cfg.Logger.Warn("checkpoint cursor is older than the API's retention: messages between it and the retention horizon are gone",
					"stream", key, "cursor", c, "retention", p.cfg.Retention)
			}
			p.cfg.Logger.Info("resuming stream from checkpoint", "stream", key, "cursor", c)
		default:
			var clamped bool
			c, clamped = StartCursor(p.cfg.Start, now, p.cfg.Retention)
			if clamped {
				p.cfg.Logger.Warn("start is earlier than the API keeps messages; starting at the retention horizon",
					"stream", key, "start", p.cfg.Start, "clamped_to", c)
			}
			p.cfg.Logger.Info("starting stream without checkpoint", "stream", key, "cursor", c)
		}
		cursors[key] = c
	}
	p.mu.Lock()
	p.cursors = cursors
	p.began, p.perStream = maps.Clone(cursors), newStreamCounters(p.cfg.Streams)
	p.mu.Unlock()
	seen := newSeenSet(state.Seen)
	p.stats.seen.Store(int64(seen.len()))
	marks, err := p.reconcile(ctx, state, seen)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			p.cfg.Logger.Info("pipeline stopped during reconciliation")
			return nil
		}
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan job)
	// Pages waiting for the publisher (decoded and encoded: about 1.3 MB
	// each for 1000 messages): two, whatever the concurrency; each fetcher
	// holds one more while it waits to hand it over.
	items := make(chan item, 2)
	planned := make(map[string]time.Time, len(cursors))
	for k, v := range cursors {
		planned[k] = v
	}
	g.Go(func() error {
		defer close(jobs)
		return p.planner(gctx, planned, jobs)
	})
	var fetchers sync.WaitGroup
	for range p.cfg.FetchConcurrency {
		fetchers.Add(1)
		g.Go(func() error {
			defer fetchers.Done()
			return p.fetcher(gctx, jobs, items)
		})
	}
	go func() {
		fetchers.Wait()
		close(items)
	}()
	var pubErr error
	g.Go(func() error {
		pubErr = p.publisher(gctx, seen, marks, items)
		return pubErr
	})
	err = g.Wait()
	if ce := (*commitError)(nil); errors.As(pubErr, &ce) {
		// Even in a shutdown: the acknowledged msgids were not saved.
		return pubErr
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		p.cfg.Logger.Info("pipeline stopped", "stats", p.Stats())
		return nil
	}
	if err == nil {
		p.cfg.Logger.Info("pipeline finished: every stream reached the end", "end", p.cfg.End, "stats", p.Stats())
	}
	return err
}

// send delivers v on ch unless ctx ends first.
func send[T any](ctx context.Context, ch chan<- T, v T) error {
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errSplit stops the fetch of a window too big for one walk.
var errSplit = errors.New("window too big: cut smaller")

// fetcher pages through jobs and hands every page, then the job's end, to
// the publisher.
func (p *Pipeline) fetcher(ctx context.Context, jobs <-chan job, items chan<- item) error {
	for {
		var j job
		var ok bool
		select {
		case j, ok = <-jobs:
			if !ok {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := p.fetch(ctx, j, items); err != nil {
			return err
		}
	}
}

// fetch pages through one job. A sized window's first page decides whether
// it is walked (its verdict goes to the planner first) or cut smaller.
func (p *Pipeline) fetch(ctx context.Context, j job, items chan<- item) error {
	if j.check {
		p.perStream.requested(j.stream.String())
	}
	if j.check && p.unchanged(ctx, j) {
		return send(ctx, items, item{job: j})
	}
	first := true
	err := p.src.Fetch(ctx, j.stream, j.window, func(pg source.Page) error {
		p.perStream.requested(j.stream.String())
		if first && j.sized {
			v := verdict{job: j, total: pg.Total, span: pg.Part.To.Sub(pg.Part.From), split: p.sizer.TooBig(pg.Total, j.window)}
			if v.span <= 0 {
				v.span = j.window.To.Sub(j.window.From)
			}
			p.verdicts.push(v)
			if v.split {
				return errSplit
			}
		}
		first = false
		p.stats.pages.Add(1)
		p.stats.fetched.Add(int64(len(pg.Messages)))
		// Decoding (and, for a fresh window, encoding) here spreads it over
		// the fetchers and overlaps the publisher's Kafka write.
		return send(ctx, items, item{job: j, page: &pg, msgs: p.prepare(pg, j.advance)})
	})
	if errors.Is(err, errSplit) {
		p.gate.release() // nothing of it reaches the publisher
		return nil
	}
	if err != nil {
		return err
	}
	if first && j.sized { // no page: nothing in the window
		p.verdicts.push(verdict{job: j, total: 0, span: j.window.To.Sub(j.window.From)})
	}
	return send(ctx, items, item{job: j})
}

// unchanged reports whether the API's total for a rescan window equals the
// number of distinct messages this stream already served for that range, so
// the window need not be fetched again. Any doubt (an error, a mismatch)
// means fetch.
func (p *Pipeline) unchanged(ctx context.Context, j job) bool {
	p.stats.rescanChecks.Add(1)
	total, err := p.src.Count(ctx, j.stream, j.window)
	if err != nil {
		if ctx.Err() == nil {
			p.cfg.Logger.Debug("rescan check failed; fetching the window", "stream", j.stream, "window", j.window, "error", err)
		}
		return false
	}
	if total != p.index.count(j.stream.String(), j.window) {
		return false
	}
	p.stats.rescanSkips.Add(1)
	return true
}
