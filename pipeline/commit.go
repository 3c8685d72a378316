package pipeline

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/imreport/imreport/checkpoint"
)

// commitDue starts a commit of what is due, unless one is in flight: then
// what comes due meanwhile waits for it and goes in the next, all in one
// transaction (group commit: while one fsync runs, the next gathers). Due
// are cursors that published windows moved (a light commit, see commit)
// and, once maxPendingSeen of them wait, the msgids published and not yet
// behind a committed cursor (a full commit).
func (p *Pipeline) commitDue(pub *pageWriter) error {
	if len(pub.committing) > 0 {
		return nil
	}
	if full := pub.waiting() >= maxPendingSeen; full || pub.moved != nil {
		return p.commit(pub.takeMoved(), pub, full)
	}
	return nil
}

// maxPendingSeen is how many msgids published and not yet behind a
// committed cursor make a full commit due. They are held in memory (8
// bytes each, besides the seen set) and, until a full commit writes them,
// read back from Kafka after a crash, so it also bounds that read-back.
const maxPendingSeen = 200_000

// takeMoved returns the cursors due for a commit and forgets them.
func (w *pageWriter) takeMoved() map[string]time.Time {
	m := w.moved
	w.moved = nil
	return m
}

// firstWindowStart is where the first window of stream key starts: its
// committed cursor at the start of Run, on a whole second (NextWindow).
func (p *Pipeline) firstWindowStart(key string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cursors[key].UTC().Truncate(time.Second).Unix()
}

// commit persists moved cursors in one transaction, prunes the seen set
// behind the slowest stream and, in a full commit, stores the msgids
// published since the last full one.
//
// Msgids that this commit's cursors put behind the dedupe horizon are never
// written: no query can return them any more. The others wait in memory
// (held) for a cursor to pass them: a light commit writes none of them and
// stores marks below every record they name (the end offsets taken at the
// commit before the oldest of them was published), so a crash reads them
// back from Kafka. A full commit (held msgids reaching maxPendingSeen, a
// read-back or failed write to account for, the publisher's last commit)
// writes them all with the current end offsets. In a backfill whose
// windows finish before maxPendingSeen msgids wait, no msgid is written at
// all.
//
// What the commit holds is fixed here, in the publisher's goroutine, before
// any further write: the msgids published so far and the Kafka end offsets
// now (so every record below the marks is in this commit, an earlier one or
// behind a cursor). The bbolt transaction and its fsync then run in the
// background while the publisher goes on (a crash before it is durable is a
// crash before the commit: the read-back covers it). Transactions run one
// after another, in order, a commit starting only once the one before
// succeeded; up to maxQueuedCommits wait, then the publisher waits too.
// Results are applied (cursors, OnCommit) in order by applyCommit in the
// publisher's goroutine; waitCommit waits for all.
func (p *Pipeline) commit(moved map[string]time.Time, pub *pageWriter, full bool) error {
	if len(pub.committing) >= maxQueuedCommits {
		if err := p.applyCommit(pub, <-pub.committing[0].done); err != nil {
			return err
		}
	}
	// The cursors as they are once this commit and those before it are
	// durable (the ones still in flight are not applied yet).
	p.mu.Lock()
	after := maps.Clone(p.cursors)
	p.mu.Unlock()
	for _, ic := range pub.committing {
		maps.Copy(after, ic.moved)
	}
	maps.Copy(after, moved)
	horizon := PruneBefore(slices.Collect(maps.Values(after)), p.cfg.Lookback)
	c := checkpoint.Commit{Cursors: moved, Now: p.cfg.Now()}
	if !horizon.IsZero() {
		c.PruneBefore = horizon.Unix()
	}
	full = full || pub.ambiguous || pub.marksMoved
	c.Seen, c.Marks = pub.settle(c.PruneBefore, full)
	p.start.sequence++
	p.start.prunedBefore = max(p.start.prunedBefore, c.PruneBefore)
	c.Sequence, c.Floor, c.Lineage = p.start.sequence, cloneMarks(pub.floor()), p.cfg.Lineage
	snap := Snapshot{Sequence: c.Sequence, Floor: c.Floor, PrunedBefore: p.start.prunedBefore}
	if c.PruneBefore > 0 {
		pub.seen.prune(c.PruneBefore)
		p.index.prune(c.PruneBefore)
	}
	p.stats.seen.Store(int64(pub.seen.len()))
	ic := &inflightCommit{moved: moved, snap: snap, done: make(chan error, 1), finished: make(chan struct{})}
	var prev *inflightCommit
	if n := len(pub.committing); n > 0 {
		prev = pub.committing[n-1]
	}
	pub.committing = append(pub.committing, ic)
	go func() {
		defer close(ic.finished)
		if prev != nil {
			if <-prev.finished; prev.failed {
				ic.failed = true
				ic.done <- errors.New("an earlier commit failed")
				return
			}
		}
		err := p.cp.Commit(c)
		ic.failed = err != nil
		ic.done <- err
	}()
	return nil
}

// marksRefresh is how often, at most, an idle commit raises the marks of
// the acknowledged records to Kafka's end offsets.
const marksRefresh = 30 * time.Second

// maxQueuedCommits is how many commits may wait for their transaction
// before the publisher waits for the first.
const maxQueuedCommits = 4

// inflightCommit is a commit whose transaction runs (or waits to run) in
// the background.
type inflightCommit struct {
	moved    map[string]time.Time
	snap     Snapshot
	done     chan error    // its result, for the publisher
	finished chan struct{} // closed after the transaction; failed is set then
	failed   bool
}

// commitDone is ready when the oldest commit in flight is durable (or
// failed); nil (never ready) when none is.
func (w *pageWriter) commitDone() <-chan error {
	if len(w.committing) == 0 {
		return nil
	}
	return w.committing[0].done
}

// waitCommit waits until every commit in flight is durable, and applies
// them.
func (p *Pipeline) waitCommit(pub *pageWriter) error {
	for len(pub.committing) > 0 {
		if err := p.applyCommit(pub, <-pub.committing[0].done); err != nil {
			return err
		}
	}
	return nil
}

// applyCommit records the end of the oldest commit in flight: its cursors
// become the committed ones and OnCommit is told; a failure is a
// *commitError.
func (p *Pipeline) applyCommit(pub *pageWriter, err error) error {
	c := pub.committing[0]
	pub.committing = pub.committing[1:]
	if err != nil {
		return &commitError{err: err}
	}
	p.stats.commits.Add(1)
	p.mu.Lock()
	for k, v := range c.moved {
		p.cursors[k] = v
	}
	p.mu.Unlock()
	if p.cfg.OnCommit != nil {
		p.cfg.OnCommit(Progress{Cursors: p.Cursors(), Stats: p.Stats()})
	}
	if p.cfg.OnSnapshot != nil {
		snap := c.snap
		snap.Cursors = p.Cursors()
		p.cfg.OnSnapshot(snap)
	}
	return nil
}

// commitMarks returns the marks to store with the next commit, when every
// write so far is accounted for (every record below them is in seen, and
// seen's new entries are in this commit): the marks of the acknowledged
// records (landedEnds), raised to Kafka's end offsets when nothing is in
// flight or waiting, at most every marksRefresh (so partitions written by
// others move too, without a round trip per commit); without
// landed marks, Kafka's end offsets, asked only with nothing in flight.
// While a failed write is unresolved (ambiguous) or the end offsets cannot
// be had, the read-back's marks if they moved, else nil (keep the stored
// ones).
func (w *pageWriter) commitMarks() marks {
	if w.ambiguous {
		return nil
	}
	if w.flight == nil && w.next.empty() && (!w.landedOK || w.p.cfg.Now().Sub(w.marksAsked) >= marksRefresh) {
		if w.landedOK {
			w.marksAsked = w.p.cfg.Now()
		}
		ctx, cancel := context.WithTimeout(w.writeCtx, 5*time.Second)
		defer cancel()
		m, err := w.p.pub.Marks(ctx, time.Time{})
		if err == nil && len(m) > 0 {
			if !w.landedOK {
				return m
			}
			raiseMarks(w.landedEnds, m)
		} else if err != nil {
			w.p.cfg.Logger.Debug("kafka end offsets unavailable; the checkpoint keeps its marks", "error", err)
		}
	}
	if w.landedOK {
		return cloneMarks(w.landedEnds)
	}
	if w.marksMoved {
		return w.marks // replaced, never changed in place
	}
	return nil
}

// commitError is a failed checkpoint commit. Run reports it even during a
// shutdown: acknowledged records whose msgids were not saved would be
// published again after the restart.
type commitError struct{ err error }

func (e *commitError) Error() string { return "pipeline: commit checkpoint: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }
