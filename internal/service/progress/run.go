package progress

import (
	"context"
	"log/slog"
	"time"

	"github.com/imreport/imreport/pipeline"
)

// Plan is what a Reporter of a pipeline run needs to know of the run: how
// often it reports and where each stream heads.
type Plan struct {
	Interval time.Duration // between progress lines; with bars, a second
	Settle   time.Duration // a stream heads for now minus this...
	End      time.Time     // ...or, sooner, the end of a bounded run; zero = tailing
	Lookback time.Duration // a bounded run waits until End + Lookback for late arrivals
	Window   time.Duration // the largest window: a stream less than min(Window, 5m) behind is caught up
}

// ForPipeline returns the reporter of a run of plan: every plan.Interval a
// line per stream behind its target, or, with bars, the bars every second;
// observe (the gauges, /status) either way. streams is the run's progress
// (pipeline.Pipeline.StreamProgress).
func ForPipeline(plan Plan, streams func() []pipeline.StreamProgress, logger *slog.Logger, bars *Bars, now func() time.Time, observe func([]Status)) *Reporter {
	every := plan.Interval
	if bars != nil {
		every = time.Second
	}
	return &Reporter{
		Interval: every,
		Sample:   func() Sample { return plan.Sample(streams(), now()) },
		Logger:   logger,
		Bars:     bars,
		Bounded:  !plan.End.IsZero(),
		// A stream less than a short window behind has nothing to fetch
		// yet: caught up, no line every interval. (Windows are sized by the
		// data up to IMREPORT_WINDOW, 7 days: that says nothing here.)
		Quiet:   min(plan.Window, 5*time.Minute),
		Observe: observe,
	}
}

// Sample is the pipeline's progress at now, each stream heading for the
// end of a bounded run or, before that (or tailing), for now minus the
// settle time.
func (p Plan) Sample(streams []pipeline.StreamProgress, now time.Time) Sample {
	target := now.Add(-p.Settle).Truncate(time.Second)
	if end := ceilSecond(p.End); !p.End.IsZero() && end.Before(target) {
		target = end
	}
	s := Sample{At: now}
	for _, sp := range streams {
		s.Streams = append(s.Streams, Stream{
			Name: sp.Stream, Began: sp.Began, Cursor: sp.Cursor, Target: target,
			Published: sp.Published, Requests: sp.Requests,
		})
	}
	return s
}

// AnnounceWait tells r, once every stream of a bounded run with a lookback
// reached the end, that the run now waits for END + LOOKBACK (Waiting).
// cursors are the committed ones (pipeline.Progress.Cursors).
func (p Plan) AnnounceWait(r *Reporter, cursors map[string]time.Time, now time.Time) {
	if p.End.IsZero() || p.Lookback <= 0 || len(cursors) == 0 {
		return
	}
	end := ceilSecond(p.End)
	for _, c := range cursors {
		if c.Before(end) {
			return
		}
	}
	if until := end.Add(p.Lookback); now.Before(until) {
		r.Waiting(p.End, until, p.Lookback)
	}
}

// Start runs r until the returned stop is called; stop waits for it and,
// with bars, draws them a last time and closes them.
func (r *Reporter) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
		if r.Bars != nil {
			r.Report()
			r.Bars.Close()
		}
	}
}

// ceilSecond rounds t up to a whole second, as the pipeline's plan does.
func ceilSecond(t time.Time) time.Time {
	if u := t.Truncate(time.Second); u.Before(t) {
		return u.Add(time.Second)
	}
	return t
}
