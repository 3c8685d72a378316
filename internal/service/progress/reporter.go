package progress

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

// Reporter samples a run every Interval and reports it: as progress log
// lines, or on Bars instead, and to Observe.
type Reporter struct {
	Interval time.Duration  // between reports; at least a millisecond
	Sample   func() Sample  // the run's state now
	Logger   *slog.Logger   // progress lines (without Bars) and the wait announcement
	Bars     *Bars          // nil = log lines; else the bars instead of the lines
	Bounded  bool           // a run with an end: the targets are fixed
	Quiet    time.Duration  // a stream this close to its target is caught up: no line
	Observe  func([]Status) // optional, called with every report (the gauges)
	// Sleep waits between reports; nil = a timer. Tests drive it.
	Sleep func(ctx context.Context, d time.Duration) error

	mu        sync.Mutex
	meter     Meter
	announced bool
	note      string
}

// Run samples at once, then reports every Interval until ctx ends; it
// returns nil.
func (r *Reporter) Run(ctx context.Context) error {
	sleep := r.Sleep
	if sleep == nil {
		sleep = retry.Sleep
	}
	// The first report's rates are then since the start.
	r.mu.Lock()
	r.meter.Observe(r.Sample())
	r.mu.Unlock()
	for {
		if err := sleep(ctx, r.Interval); err != nil {
			return nil
		}
		r.Report()
	}
}

// Report samples once and reports; it returns the statuses.
func (r *Reporter) Report() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.meter.Observe(r.Sample())
	if r.Bars != nil {
		r.Bars.Update(st, r.Bounded, r.note)
	} else {
		Log(r.Logger, st, r.Quiet)
	}
	if r.Observe != nil {
		r.Observe(st)
	}
	return st
}

// Waiting says, once, that a bounded run reached its end on every stream
// and now waits until until (its end plus the lookback) for late arrivals,
// before fetching the lookback one last time; the bars show it until they
// close.
func (r *Reporter) Waiting(end, until time.Time, lookback time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.announced {
		return
	}
	r.announced = true
	r.Logger.Info("every stream reached the end: waiting for late arrivals until end + lookback, then fetching the lookback once more",
		"end", end.UTC().Format(time.RFC3339), "lookback", lookback, "until", until.UTC().Format(time.RFC3339))
	r.note = "waiting until " + until.UTC().Format("2006-01-02 15:04:05Z") + " (end + lookback) for late arrivals"
	if r.Bars != nil {
		r.Bars.Update(nil, r.Bounded, r.note)
	}
}
