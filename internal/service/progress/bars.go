package progress

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Bars draws one live progress bar per stream (github.com/vbauerster/mpb)
// and prints log lines above them. Create it with NewBars, feed it with
// Update, stop it with Close. Safe for concurrent use.
type Bars struct {
	out   io.Writer
	p     *mpb.Progress
	lines chan []byte   // log lines on their way above the bars
	fwd   chan struct{} // closed when the forwarder is done

	mu     sync.Mutex
	closed bool
	bars   map[string]*bar
	order  []string
	note   atomic.Pointer[string] // shown under the bars, e.g. a wait for late arrivals
	noteBr *mpb.Bar
}

// The decorators run on mpb's goroutines while Update may hold Bars.mu and
// wait on mpb: they read atomics only.
type bar struct {
	b    *mpb.Bar
	text atomic.Pointer[string] // the decoration, set by Update
	end  bool                   // a bounded stream reached its target
}

func load(p *atomic.Pointer[string]) string {
	if s := p.Load(); s != nil {
		return *s
	}
	return ""
}

// NewBars draws on out. opts go to mpb.New after the output (tests pass
// mpb.WithManualRefresh and mpb.WithWidth).
func NewBars(out io.Writer, opts ...mpb.ContainerOption) *Bars {
	opts = append([]mpb.ContainerOption{mpb.WithOutput(out), mpb.WithRefreshRate(250 * time.Millisecond)}, opts...)
	b := &Bars{out: out, p: mpb.New(opts...), bars: map[string]*bar{}, lines: make(chan []byte, 1024), fwd: make(chan struct{})}
	go b.forward()
	return b
}

// forward hands log lines to mpb, which prints them at its next refresh:
// a log call does not wait for that.
func (b *Bars) forward() {
	defer close(b.fwd)
	for line := range b.lines {
		if _, err := b.p.Write(line); err != nil {
			_, _ = b.out.Write(line)
		}
	}
}

// Update moves each stream's bar to its status; a stream seen for the first
// time gets a bar. bounded says the targets are fixed (a run with an end):
// a bar then completes when its stream reaches the target; a tailing
// stream's bar never completes. note, if not empty, is shown below the bars.
func (b *Bars) Update(st []Status, bounded bool, note string) {
	st = Summarize(st, MaxBars)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	for _, s := range st {
		br := b.bars[s.Name]
		if br == nil {
			br = b.add(s.Name, mpb.BarStyle().Lbound("[").Rbound("]"))
		}
		text := describe(s)
		br.text.Store(&text)
		total := int64(s.Target.Sub(s.Began) / time.Second)
		current := min(total, max(0, int64(s.Cursor.Sub(s.Began)/time.Second)))
		if bounded && s.Remaining == 0 {
			if !br.end {
				br.end = true
				br.b.SetTotal(max(total, 1), true)
			}
			continue
		}
		// Keep an unfinished bar below its total, so mpb never takes it
		// for complete.
		br.b.SetTotal(max(total, current+1), false)
		br.b.SetCurrent(current)
	}
	b.setNote(note)
}

// Count moves the bar name to done of total with text after it; the bar is
// created on first use, as a spinner when total < 0 (unknown: following).
// A bar with a known total completes when done reaches it.
func (b *Bars) Count(name string, done, total int64, text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	br := b.bars[name]
	if br == nil {
		style := mpb.BarFillerBuilder(mpb.BarStyle().Lbound("[").Rbound("]"))
		if total < 0 {
			style = mpb.SpinnerStyle()
		}
		br = b.add(name, style)
	}
	br.text.Store(&text)
	if br.end {
		return
	}
	if total < 0 {
		total = done + 1
	}
	if done >= total {
		br.end = true
		br.b.SetTotal(max(total, 1), true)
		return
	}
	br.b.SetTotal(total, false)
	br.b.SetCurrent(done)
}

// add creates a stream's bar; b.mu is held.
func (b *Bars) add(name string, style mpb.BarFillerBuilder) *bar {
	br := &bar{}
	br.b = b.p.New(0, style,
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return load(&br.text) })),
	)
	b.bars[name] = br
	b.order = append(b.order, name)
	return br
}

// setNote shows note in a line of its own below the bars; b.mu is held.
func (b *Bars) setNote(note string) {
	if note == load(&b.note) {
		return
	}
	b.note.Store(&note)
	if b.noteBr == nil {
		b.noteBr = b.p.New(0, mpb.NopStyle(), mpb.BarPriority(1<<30),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return load(&b.note) })))
	}
}

// describe is the text after a stream's bar.
func describe(s Status) string {
	return fmt.Sprintf(" %5.1f%%  cursor %s  %d published  %.0f msg/s  %.1f req/s  eta %s",
		100*s.Done, s.Cursor.UTC().Format("2006-01-02 15:04:05Z"), s.Published, s.MsgRate, s.ReqRate, ETAString(s.ETA))
}

// Write prints p above the bars at their next refresh (log lines); after
// Close, to the output directly.
func (b *Bars) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.out.Write(p)
	}
	b.lines <- bytes.Clone(p)
	return len(p), nil
}

// Close draws the bars one last time as they are and stops drawing.
func (b *Bars) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	close(b.lines)
	var open []*mpb.Bar
	for _, name := range b.order {
		if br := b.bars[name]; !br.end {
			open = append(open, br.b)
		}
	}
	if b.noteBr != nil {
		open = append(open, b.noteBr)
	}
	b.mu.Unlock()
	<-b.fwd // every line written before Close is printed above the bars
	for _, br := range open {
		br.Abort(false) // keep it drawn where it stopped
	}
	b.p.Wait()
}

// MaxBars is how many streams get a bar each; more are drawn as one.
const MaxBars = 8

// Summarize returns st, or, with more than limit streams, one status for
// all of them: named "N streams", at the slowest stream's cursor and the
// longest range remaining and ETA (unknown if any is), with the counts and
// rates summed and the share done averaged.
func Summarize(st []Status, limit int) []Status {
	if len(st) <= limit {
		return st
	}
	all := Status{Stream: Stream{Name: fmt.Sprintf("%d streams", len(st))}}
	for i, s := range st {
		if i == 0 || s.Began.Before(all.Began) {
			all.Began = s.Began
		}
		if i == 0 || s.Cursor.Before(all.Cursor) {
			all.Cursor = s.Cursor
		}
		if s.Target.After(all.Target) {
			all.Target = s.Target
		}
		all.Published += s.Published
		all.Requests += s.Requests
		all.MsgRate += s.MsgRate
		all.ReqRate += s.ReqRate
		all.Done += s.Done / float64(len(st))
		all.Remaining = max(all.Remaining, s.Remaining)
		if all.ETA != Unknown {
			if s.ETA == Unknown {
				all.ETA = Unknown
			} else {
				all.ETA = max(all.ETA, s.ETA)
			}
		}
	}
	return []Status{all}
}
