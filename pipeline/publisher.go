package pipeline

import (
	"context"
	"errors"
	"time"
)

// publisher is the single goroutine that owns the seen set, the trackers and
// the checkpoint. ctx is the stage context: when it ends, a Kafka write in
// flight may still finish within Config.ShutdownTimeout, and whatever Kafka
// acknowledged is committed before returning. Each case of its select has
// one handler.
func (p *Pipeline) publisher(ctx context.Context, seen *seenSet, safe marks, items <-chan item) (err error) {
	defer p.stopPushes()
	writeCtx, stop := p.writeContext(ctx)
	defer stop()
	pub := p.newPageWriter(ctx, writeCtx, seen, safe)
	defer func() { err = errors.Join(err, pub.finish()) }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it, ok := <-pub.intake(items):
			if !ok {
				return pub.flushWrites(ctx) // every page is taken: write what waits, then stop
			}
			if err := pub.take(ctx, it); err != nil {
				return err
			}
		case werr := <-pub.flightDone():
			if err := pub.landed(ctx, werr); err != nil {
				return err
			}
		case r := <-p.pushes: // see push.go
			if err := pub.takePush(ctx, r); err != nil {
				return err
			}
		case <-pub.flushC():
			if err := pub.flushPushes(); err != nil {
				return err
			}
		case cerr := <-pub.commitDone():
			if err := pub.committed(cerr); err != nil {
				return err
			}
		}
	}
}

// writeContext returns the context Kafka writes run on: it outlives ctx by
// Config.ShutdownTimeout, so a batch sent just before a shutdown gets its
// acknowledgement back. Call stop when the publisher returns.
func (p *Pipeline) writeContext(ctx context.Context) (writeCtx context.Context, stop func()) {
	writeCtx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	after := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.cfg.ShutdownTimeout, cancelWrites)
		context.AfterFunc(writeCtx, func() { t.Stop() })
	})
	return writeCtx, func() {
		after()
		cancelWrites()
	}
}

// pageWriter turns pages into records and publishes them.
type pageWriter struct {
	p        *Pipeline
	ctx      context.Context // stage context: ends retries on shutdown
	writeCtx context.Context // outlives ctx by the shutdown timeout
	seen     *seenSet
	pending  []int64              // msgids published since the last commit
	held     []heldSeen           // published before it, not yet written nor behind a cursor, oldest first
	ends     marks                // Kafka end offsets at the last commit (at the start: the safe marks)
	moved    map[string]time.Time // cursors of published windows, due for the next commit
	todo     []int                // indexes into the page: the messages to publish

	trackers map[string]*tracker[job] // per stream: its windows, by start

	next   *outgoing // the next Kafka write, gathering (flight.go)
	flight *outgoing // the write in flight; nil when none

	// landedEnds are marks raised past every acknowledged record
	// (landedMarks); commits store them while landedOK.
	landedEnds marks
	landedOK   bool
	marksAsked time.Time // when Kafka's end offsets were last asked for (commitMarks)

	// marks are Kafka offsets below which every record of this app is in
	// seen. After a failed write whose records may have landed, ambiguous
	// is set until a read-back resolves it; meanwhile marks do not move.
	marks      marks
	marksMoved bool // a read-back moved marks since the last commit
	ambiguous  bool

	pushed pushState // see push.go

	committing []*inflightCommit // commits whose transaction runs or waits, oldest first

	// epochs are the msgids in seen by the write that published them,
	// oldest first: the floor (floor.go); epochMax is the largest horizon
	// of the write being landed.
	epochs   []epoch
	epochMax int64
}

// newPageWriter returns the publisher's state at the start of a run: seen
// and the safe marks as reconciliation left them, one tracker per stream
// from its committed cursor.
func (p *Pipeline) newPageWriter(ctx, writeCtx context.Context, seen *seenSet, safe marks) *pageWriter {
	w := &pageWriter{p: p, ctx: ctx, writeCtx: writeCtx, seen: seen, marks: safe, ends: safe, next: newOutgoing(),
		landedEnds: cloneMarks(safe), landedOK: len(safe) > 0, marksAsked: p.cfg.Now(), trackers: map[string]*tracker[job]{}}
	if p.start.floor != nil && seen.len() > 0 {
		// What the run starts with: every msgid in seen is above the
		// initial floor, and stays there until its newest horizon is
		// pruned.
		var maxH int64
		for _, h := range seen.ids {
			maxH = max(maxH, h)
		}
		w.epochs = []epoch{{from: p.start.floor, maxH: maxH}}
	}
	for _, s := range p.cfg.Streams {
		w.trackers[s.String()] = newTracker(p.firstWindowStart(s.String()), func(_ int64, j job) int64 { return j.window.To.Unix() })
	}
	return w
}

// take handles an item from the fetchers: a page's records go into the next
// write; a job's end follows them, to be released once they are
// acknowledged. Then a write starts if none is in flight.
func (w *pageWriter) take(ctx context.Context, it item) error {
	// Both cases may be ready at once and select picks at random: once
	// stopped, start no new Kafka write (only one in flight may finish).
	if err := ctx.Err(); err != nil {
		return err
	}
	if it.page != nil {
		began := time.Now()
		if err := w.write(it.job, *it.page, it.msgs); err != nil {
			return err
		}
		w.p.notePageCost(time.Since(began))
	} else {
		// The window is fetched: another may start (the gate bounds the
		// windows being fetched; what waits for Kafka is bounded by
		// maxGather).
		w.p.gate.release()
		w.next.ends = append(w.next.ends, it.job)
	}
	return w.kick(ctx)
}

// landed handles the answer of the write in flight, then starts the next.
func (w *pageWriter) landed(ctx context.Context, werr error) error {
	if err := w.land(werr); err != nil {
		return err
	}
	if err := w.p.commitDue(w); err != nil {
		return err
	}
	return w.kick(ctx)
}

// takePush handles a Push: everything gathered is written first, so that
// the batch is deduplicated against every polled message.
func (w *pageWriter) takePush(ctx context.Context, r *pushRequest) error {
	if err := w.flushWrites(ctx); err != nil {
		answer([]*pushRequest{r}, ErrNotRunning)
		return err
	}
	return w.push(ctx, r)
}

// committed applies the oldest commit in flight, now durable, and starts
// the next if one is due.
func (w *pageWriter) committed(cerr error) error {
	if err := w.p.applyCommit(w, cerr); err != nil {
		return err
	}
	return w.p.commitDue(w)
}

// release is a job's end, once every record of its pages is acknowledged:
// its window is published, and the cursors it moves are due for a commit.
func (w *pageWriter) release(j job) error {
	p := w.p
	if !j.advance {
		p.stats.rescans.Add(1)
		return p.commitDue(w)
	}
	key := j.stream.String()
	for _, done := range w.trackers[key].Ack(j.window.From.Unix(), j) {
		p.stats.windows.Add(1)
		if w.moved == nil {
			w.moved = map[string]time.Time{}
		}
		w.moved[key] = done.window.To
	}
	return p.commitDue(w)
}

// finish persists, whatever happened, what Kafka acknowledged: the cursors
// stay where they were, the msgids are skipped after a restart; windows
// published in full are committed too. The write in flight gets its answer
// first (within ShutdownTimeout); what waited for the next write is
// dropped.
func (w *pageWriter) finish() error {
	p := w.p
	err := w.landNow()
	if cerr := p.waitCommit(w); cerr != nil {
		return errors.Join(err, cerr)
	}
	if w.moved != nil || w.waiting() > 0 || w.marksMoved {
		if cerr := p.commit(w.takeMoved(), w, true); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	return errors.Join(err, p.waitCommit(w))
}
