package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/retry"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// publisher is the single goroutine that owns the seen set, the trackers and
// the checkpoint. ctx is the stage context: when it ends, a Kafka write in
// flight may still finish within Config.ShutdownTimeout, and whatever Kafka
// acknowledged is committed before returning.
func (p *Pipeline) publisher(ctx context.Context, seen *seenSet, items <-chan item) (err error) {
	// Writes run on a context that outlives ctx by ShutdownTimeout, so a
	// batch sent just before a shutdown gets its acknowledgement back.
	writeCtx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.cfg.ShutdownTimeout, cancelWrites)
		context.AfterFunc(writeCtx, func() { t.Stop() })
	})
	defer stop()

	pub := &pageWriter{p: p, ctx: ctx, writeCtx: writeCtx, seen: seen, pending: map[int64]int64{}}
	trackers := map[string]*tracker[job]{}
	defer func() {
		// Whatever happened, persist what Kafka acknowledged: the cursor
		// stays where it was, the msgids are skipped after a restart.
		if len(pub.pending) > 0 {
			if cerr := p.commit(nil, pub); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	for {
		var it item
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it, ok = <-items:
			if !ok {
				return nil
			}
		}
		// Both cases may be ready at once and select picks at random: once
		// stopped, start no new Kafka write (only one in flight may finish).
		if err := ctx.Err(); err != nil {
			return err
		}
		if it.page != nil {
			if err := pub.write(it.job, *it.page); err != nil {
				return err
			}
			continue
		}
		key := it.job.stream.String()
		t := trackers[key]
		if t == nil {
			t = newTracker[job]()
			trackers[key] = t
		}
		var moved map[string]time.Time
		for _, j := range t.Ack(it.job.seq, it.job) {
			if j.advance {
				p.stats.windows.Add(1)
				if moved == nil {
					moved = map[string]time.Time{}
				}
				moved[key] = j.window.To
			} else {
				p.stats.rescans.Add(1)
			}
		}
		if moved != nil || len(pub.pending) > 0 {
			if err := p.commit(moved, pub); err != nil {
				return err
			}
		}
	}
}

// commit persists moved cursors and the pending msgids in one transaction
// and prunes the seen set behind the slowest stream.
func (p *Pipeline) commit(moved map[string]time.Time, pub *pageWriter) error {
	p.mu.Lock()
	all := make([]time.Time, 0, len(p.cursors))
	for k, v := range p.cursors {
		if c, ok := moved[k]; ok {
			v = c
		}
		all = append(all, v)
	}
	p.mu.Unlock()
	horizon := PruneBefore(all, p.cfg.Lookback)
	c := checkpoint.Commit{Cursors: moved, Seen: pub.pending, Now: p.cfg.Now()}
	if !horizon.IsZero() {
		c.PruneBefore = horizon.Unix()
	}
	if err := p.cp.Commit(c); err != nil {
		return &commitError{err: err}
	}
	pub.pending = map[int64]int64{}
	if c.PruneBefore > 0 {
		pub.seen.prune(c.PruneBefore)
	}
	p.stats.seen.Store(int64(pub.seen.len()))
	p.stats.commits.Add(1)
	p.mu.Lock()
	for k, v := range moved {
		p.cursors[k] = v
	}
	p.mu.Unlock()
	if p.cfg.OnCommit != nil {
		p.cfg.OnCommit(Progress{Cursors: p.Cursors(), Stats: p.Stats()})
	}
	return nil
}

// pageWriter turns pages into records and publishes them.
type pageWriter struct {
	p        *Pipeline
	ctx      context.Context // stage context: ends retries on shutdown
	writeCtx context.Context // outlives ctx by the shutdown timeout
	seen     *seenSet
	pending  map[int64]int64 // published since the last commit: msgid -> horizon
	recs     []sink.Record
}

// write publishes the unseen messages of pg and records them as seen.
func (w *pageWriter) write(j job, pg source.Page) error {
	p := w.p
	src := schema.Source{AppKey: p.cfg.AppKey, Endpoint: pg.Endpoint, APIVersion: p.cfg.APIVersion, FetchedAt: pg.FetchedAt}
	recs := w.recs[:0]
	inPage := make(map[int64]struct{}, len(pg.Messages))
	for i, raw := range pg.Messages {
		m, err := source.DecodeMessage(raw)
		if err != nil {
			if errors.Is(err, source.ErrNoMsgID) {
				return fmt.Errorf("pipeline: %s %v: message %d of the page at start=%d cannot be identified: %w (raw: %.200s)",
					j.stream, j.window, i, pg.Start, err, raw)
			}
			return fmt.Errorf("pipeline: %s %v: message %d cannot be decoded: %w", j.stream, j.window, m.MsgID, err)
		}
		if _, dup := inPage[m.MsgID]; dup || w.seen.has(m.MsgID) {
			p.stats.duplicates.Add(1)
			continue
		}
		inPage[m.MsgID] = struct{}{}
		native, err := schema.Native(m, src)
		if err != nil {
			return fmt.Errorf("pipeline: %s %v: message %d cannot be transformed: %w", j.stream, j.window, m.MsgID, err)
		}
		value, err := p.codec.Encode(native)
		if err != nil {
			return fmt.Errorf("pipeline: %s %v: message %d cannot be encoded: %w", j.stream, j.window, m.MsgID, err)
		}
		recs = append(recs, sink.Record{Key: schema.ConversationID(m), Value: value, MsgID: m.MsgID, MsgType: m.MsgType})
	}
	w.recs = recs
	if len(recs) == 0 {
		return nil
	}
	horizon := j.window.To.Unix()
	policy := p.cfg.PublishRetry
	sleep := policy.Sleep
	if sleep == nil {
		sleep = retry.Sleep
	}
	policy.Sleep = func(_ context.Context, d time.Duration) error { return sleep(w.ctx, d) }
	policy.OnRetry = func(attempt int, err error, wait time.Duration) {
		p.stats.retries.Add(1)
		p.cfg.Logger.Warn("kafka publish failed, retrying", "attempt", attempt, "wait", wait, "error", err)
	}
	remaining := recs
	err := policy.Do(w.writeCtx, func(ctx context.Context) error {
		err := p.pub.Publish(ctx, remaining)
		var failed []int
		var we *sink.WriteError
		switch {
		case err == nil:
		case errors.As(err, &we):
			failed = we.Failed
		default:
			return err // nothing known to be written
		}
		// Failed is not promised to be sorted: mark by index, so that no
		// failed record is taken for acknowledged.
		bad := make([]bool, len(remaining))
		for _, i := range failed {
			if i >= 0 && i < len(bad) {
				bad[i] = true
			}
		}
		next := make([]sink.Record, 0, len(failed))
		for i, r := range remaining {
			if bad[i] {
				next = append(next, r)
				continue
			}
			w.seen.add(r.MsgID, horizon)
			w.pending[r.MsgID] = horizon
			p.stats.published.Add(1)
		}
		remaining = next
		return err
	})
	if err != nil {
		return fmt.Errorf("pipeline: publish %s %v: %w", j.stream, j.window, err)
	}
	return nil
}

// commitError is a failed checkpoint commit. Run reports it even during a
// shutdown: acknowledged records whose msgids were not saved would be
// published again after the restart.
type commitError struct{ err error }

func (e *commitError) Error() string { return "pipeline: commit checkpoint: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }
