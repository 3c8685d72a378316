package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/progress"
)

// terminalOutput returns live progress bars on w when w is a terminal, and
// where logs go: above the bars then, else w (JSON lines only, no bars).
// runPipeline closes the bars; closing them again is harmless.
func terminalOutput(w io.Writer) (logs io.Writer, bars *progress.Bars) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bars = progress.NewBars(w)
		return bars, bars
	}
	return w, nil
}

// newProgress returns the reporter of p's progress: every
// IMREPORT_PROGRESS_INTERVAL a line per stream behind its target, or, with
// bars, the bars every second; observe (the gauges, /status) either way.
func newProgress(cfg Config, p *pipeline.Pipeline, logger *slog.Logger, bars *progress.Bars, now func() time.Time, observe func([]progress.Status)) *progress.Reporter {
	every := cfg.ProgressEvery
	if bars != nil {
		every = time.Second
	}
	return &progress.Reporter{
		Interval: every,
		Sample:   func() progress.Sample { return sample(cfg, p.StreamProgress(), now()) },
		Logger:   logger,
		Bars:     bars,
		Bounded:  !cfg.End.IsZero(),
		// A stream less than a short window behind has nothing to fetch
		// yet: caught up, no line every interval. (Windows are sized by the
		// data up to IMREPORT_WINDOW, 7 days: that says nothing here.)
		Quiet:   min(cfg.Window, 5*time.Minute),
		Observe: observe,
	}
}

// sample is the pipeline's progress at now, each stream heading for the
// end of a bounded run or, before that (or tailing), for now minus the
// settle time.
func sample(cfg Config, streams []pipeline.StreamProgress, now time.Time) progress.Sample {
	target := now.Add(-cfg.Settle).Truncate(time.Second)
	if end := ceilSecond(cfg.End); !cfg.End.IsZero() && end.Before(target) {
		target = end
	}
	s := progress.Sample{At: now}
	for _, sp := range streams {
		s.Streams = append(s.Streams, progress.Stream{
			Name: sp.Stream, Began: sp.Began, Cursor: sp.Cursor, Target: target,
			Published: sp.Published, Requests: sp.Requests,
		})
	}
	return s
}

// announceWait tells r, once every stream of a bounded run with a lookback
// reached the end, that the run now waits for END + LOOKBACK.
func announceWait(r *progress.Reporter, cfg Config, cursors map[string]time.Time, now time.Time) {
	if cfg.End.IsZero() || cfg.Lookback <= 0 || len(cursors) == 0 {
		return
	}
	end := ceilSecond(cfg.End)
	for _, c := range cursors {
		if c.Before(end) {
			return
		}
	}
	if until := end.Add(cfg.Lookback); now.Before(until) {
		r.Waiting(cfg.End, until, cfg.Lookback)
	}
}

// runProgress runs r until the returned stop is called; stop waits for it
// and, with bars, draws them a last time and closes them.
func runProgress(ctx context.Context, r *progress.Reporter) (stop func()) {
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
