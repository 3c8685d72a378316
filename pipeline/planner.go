package pipeline

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/imreport/imreport/source"
)

// streamPlan is the planner's state of one stream.
type streamPlan struct {
	stream source.Stream
	// cursor is where the next fresh window starts; redo holds ranges of
	// windows cut smaller after their first page, to be planned again,
	// oldest first. Together they tile the stream's time line.
	cursor  time.Time
	redo    []source.Window
	density float64 // messages per second, from the last verdict
	known   bool    // density is known
	// share is, in a bounded run, what each window left aims to hold:
	// the rest of the stream over WindowCount, fixed when the density is
	// first known (0: not yet).
	share   float64
	waiting int // sized windows out whose verdict has not come back
}

// finished reports whether a bounded stream has nothing left to plan.
func (sp *streamPlan) finished(plan Plan) bool {
	return Done(sp.cursor, plan) && len(sp.redo) == 0 && sp.waiting == 0
}

// verdict is what the first page of a sized window said about it.
type verdict struct {
	job   job
	total int           // the API's total for the query (math.MaxInt: unknown)
	span  time.Duration // the time the total covers
	split bool          // too big: the fetch stopped, nothing of it was published
}

// verdicts queues verdicts from the fetchers for the planner; push never
// blocks.
type verdicts struct {
	mu   sync.Mutex
	list []verdict
	wake chan struct{}
}

func newVerdicts() *verdicts { return &verdicts{wake: make(chan struct{}, 1)} }

func (q *verdicts) push(v verdict) {
	q.mu.Lock()
	q.list = append(q.list, v)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *verdicts) take() []verdict {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.list
	q.list = nil
	return out
}

// planner emits windows for every stream, round-robin, and lookback rescans
// whenever all streams are caught up. Windows sized by the data are planned
// from the density the last verdict showed; one cut smaller is planned
// again as smaller windows over the same range.
func (p *Pipeline) planner(ctx context.Context, cursors map[string]time.Time, jobs chan<- job) error {
	plans := make([]*streamPlan, len(p.cfg.Streams))
	byKey := make(map[string]*streamPlan, len(plans))
	for i, s := range p.cfg.Streams {
		plans[i] = &streamPlan{stream: s, cursor: cursors[s.String()]}
		byKey[s.String()] = plans[i]
	}
	caughtUp := false
	next := func(j job) error { return p.dispatch(ctx, jobs, j) }
	for {
		p.applyVerdicts(byKey)
		progressed, done, waiting := false, true, false
		for _, sp := range plans {
			if sp.finished(p.plan) {
				continue
			}
			done = false
			waiting = waiting || sp.waiting > 0
			w, ok := p.nextWindow(sp)
			if !ok {
				continue
			}
			j := job{stream: sp.stream, window: w, advance: true, sized: p.sizer.Target > 0}
			if err := next(j); err != nil {
				return err
			}
			if j.sized {
				sp.waiting++
			}
			progressed = true
		}
		if done {
			if p.cfg.Lookback <= 0 {
				return nil
			}
			// Messages before End may still become visible until
			// End+Lookback: poll until then, then fetch the lookback of
			// every stream in full one last time.
			if final := ceilSecond(p.cfg.End.UTC()).Add(p.cfg.Lookback); !p.cfg.Now().Before(final) {
				floor := p.cfg.Now().Add(-p.cfg.Retention)
				for _, sp := range plans {
					for _, w := range Rescans(sp.cursor, p.cfg.Lookback, p.rescanWindow(), floor) {
						if err := next(job{stream: sp.stream, window: w}); err != nil {
							return err
						}
					}
				}
				return nil
			}
		}
		if progressed {
			continue
		}
		if waiting {
			select {
			case <-p.verdicts.wake:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		// Caught up: look again behind the cursor for late arrivals, then
		// wait. A rescan check compares the API's total with what was
		// published for the window: wait until every window before is.
		if err := p.gate.idle(ctx); err != nil {
			return err
		}
		if !caughtUp { // once per run, when all up to now is published: from here on it polls
			p.cfg.Logger.Info("caught up", "poll_interval", p.cfg.PollInterval, "settle", p.cfg.Settle, "lookback", p.cfg.Lookback)
			caughtUp = true
		}
		floor := p.cfg.Now().Add(-p.cfg.Retention)
		for _, sp := range plans {
			for _, w := range Rescans(sp.cursor, p.cfg.Lookback, p.rescanWindow(), floor) {
				if err := next(job{stream: sp.stream, window: w, check: true}); err != nil {
					return err
				}
			}
		}
		// The poll interval starts once this poll's windows are published,
		// however many were fetched at once.
		if err := p.gate.idle(ctx); err != nil {
			return err
		}
		if err := p.cfg.Sleep(ctx, p.cfg.PollInterval); err != nil {
			return err
		}
	}
}

// applyVerdicts records what the first pages of sized windows said: the
// stream's density, and the ranges to plan again.
func (p *Pipeline) applyVerdicts(byKey map[string]*streamPlan) {
	for _, v := range p.verdicts.take() {
		sp := byKey[v.job.stream.String()]
		sp.waiting--
		if d, ok := Density(v.total, v.span); ok {
			sp.density, sp.known = d, true
		}
		if !v.split {
			continue
		}
		p.stats.splits.Add(1)
		p.cfg.Logger.Debug("window too big for one walk; cutting it smaller", "stream", v.job.stream.String(),
			"window", v.job.window.String(), "total", v.total, "window_messages", p.sizer.Target)
		i, _ := slices.BinarySearchFunc(sp.redo, v.job.window, func(a, b source.Window) int { return a.From.Compare(b.From) })
		sp.redo = slices.Insert(sp.redo, i, v.job.window)
	}
}

// nextWindow returns the next window of sp to fetch, if one is due: the
// oldest range to plan again first, then the window after the cursor. With
// windows sized by the data, nothing is planned while the density is unknown
// and a window is out that will tell it.
func (p *Pipeline) nextWindow(sp *streamPlan) (source.Window, bool) {
	if p.sizer.Target <= 0 {
		w, ok := NextWindow(sp.cursor, p.cfg.Now(), p.plan)
		if ok {
			sp.cursor = w.To
		}
		return w, ok
	}
	if !sp.known && sp.waiting > 0 {
		return source.Window{}, false
	}
	size := p.windowSize(sp)
	if len(sp.redo) > 0 {
		r := sp.redo[0]
		w := source.Window{From: r.From, To: withRest(r.From, r.To, size)}
		if !w.To.Before(r.To) {
			w.To = r.To
			sp.redo = sp.redo[1:]
		} else {
			sp.redo[0].From = w.To
		}
		return w, true
	}
	plan := p.plan
	plan.Window = size
	if !plan.End.IsZero() {
		plan.Window = withRest(sp.cursor, ceilSecond(plan.End.UTC()), size).Sub(sp.cursor)
	}
	w, ok := NextWindow(sp.cursor, p.cfg.Now(), plan)
	if ok {
		sp.cursor = w.To
	}
	return w, ok
}

// windowSize is the length of sp's next window. A bounded run plans the
// rest of a stream, once its density is known, as windows of equal count
// (see WindowCount), so that the last ones are fetched side by side instead
// of one walk finishing alone, with as few part pages as that allows.
func (p *Pipeline) windowSize(sp *streamPlan) time.Duration {
	size := p.sizer.Next(sp.density, sp.known)
	if p.cfg.End.IsZero() || !sp.known || sp.density <= 0 {
		return size
	}
	if sp.share == 0 {
		limit := p.inFlightLimit()
		rest := sp.density * p.left(sp).Seconds()
		need := p.walksNeeded(limit)
		n := WindowCount(rest, p.sizer.Target, limit, need, p.cfg.PageSize)
		sp.share = rest / float64(n)
		p.cfg.Logger.Debug("planning the rest of the stream", "stream", sp.stream.String(), "messages", int64(rest),
			"windows", n, "at_once", limit, "walks_needed", need)
	}
	return min(size, max(time.Duration(sp.share/sp.density)*time.Second, time.Second))
}

// left is how much of sp's time line is still to be planned.
func (p *Pipeline) left(sp *streamPlan) time.Duration {
	left := max(ceilSecond(p.cfg.End.UTC()).Sub(sp.cursor), 0)
	for _, r := range sp.redo {
		left += r.To.Sub(r.From)
	}
	return left
}

// withRest returns the window [from, from+size) up to limit, or up to limit
// itself when what would be left before it is less than half a window: a
// sliver costs a request of its own for a few messages.
func withRest(from, limit time.Time, size time.Duration) time.Time {
	to := from.Add(size)
	if rest := limit.Sub(to); rest < size/2 {
		return limit
	}
	return to
}

// dispatch hands j to a fetcher once fewer windows than the limit are in
// flight (fetched or waiting to be published); the publisher releases the
// slot when it has published the window.
func (p *Pipeline) dispatch(ctx context.Context, jobs chan<- job, j job) error {
	if err := p.gate.acquire(ctx); err != nil {
		return err
	}
	if err := send(ctx, jobs, j); err != nil {
		p.gate.release()
		return err
	}
	return nil
}

// rescanWindow is the size of the windows a lookback is checked in: Window,
// or at most 5 minutes when windows are sized by the data (a changed total
// then costs one such window's fetch, not the whole lookback's).
func (p *Pipeline) rescanWindow() time.Duration {
	if p.sizer.Target > 0 {
		return min(p.cfg.Window, 5*time.Minute)
	}
	return p.cfg.Window
}

// inFlightLimit is how many windows may be fetched at once.
func (p *Pipeline) inFlightLimit() int {
	if !p.cfg.AutoConcurrency {
		return p.cfg.FetchConcurrency
	}
	rate, latency := p.pace()
	return AutoConcurrency(rate, latency, p.cfg.FetchConcurrency)
}

// walksNeeded is how many of limit windows fetched at once keep the
// requests at the rate (see WalksNeeded).
func (p *Pipeline) walksNeeded(limit int) int {
	rate, latency := p.pace()
	return WalksNeeded(rate, latency, limit)
}

// pace is the rate pages can be taken at, in requests per second (0:
// unlimited), and the API's latency as measured (0: not yet).
func (p *Pipeline) pace() (rate float64, latency time.Duration) {
	if l, ok := p.src.(interface{ Latency() time.Duration }); ok {
		latency = l.Latency()
	}
	// Pages cannot be taken faster than the publisher writes them: more
	// windows than that needs only hold more pages in memory.
	rate = p.cfg.RequestRate
	if c := p.pageCost.Load(); c > 0 && rate > 0 {
		rate = min(rate, float64(time.Second)/float64(c))
	}
	return rate, latency
}

// notePageCost adds how long the publisher took for one page to the moving
// average inFlightLimit reads.
func (p *Pipeline) notePageCost(d time.Duration) {
	old := p.pageCost.Load()
	next := int64(d)
	if old > 0 {
		next = old + (int64(d)-old)/8
	}
	p.pageCost.Store(next) // the publisher alone writes it
}
