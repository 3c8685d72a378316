package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/sink"
)

// Marks are Kafka offsets, topic -> partition -> offset: every record of this
// app below them is known to the checkpoint.
type marks = map[string]map[int]int64

// reconcile runs before anything is published. A crash between Kafka's
// acknowledgement and the checkpoint commit leaves records in Kafka that the
// checkpoint does not know: it reads every record of this app written at or
// after the checkpoint's marks, takes their msgids as published, and commits
// them with the new marks. The work is bounded by what was written after the
// last commit.
func (p *Pipeline) reconcile(ctx context.Context, state checkpoint.State, seen *seenSet) (marks, error) {
	old := state.Marks
	if len(old) == 0 && state.Commits > 0 {
		p.cfg.Logger.Warn("the checkpoint holds no Kafka offsets (written by an older imreport): records written after its last commit cannot be reconciled; from now on they are")
	}
	// A stream whose queries reach below what the dedupe set still holds
	// (a stream added to a checkpoint that pruned already, a cursor moved
	// back on purpose, a longer lookback) would meet messages that were
	// published but are no longer known: read what was published since
	// then too.
	var added []string
	var since time.Time
	if state.PrunedBefore > 0 {
		for _, s := range p.cfg.Streams {
			c, ok := state.Cursors[s.String()]
			if !ok {
				c, _ = StartCursor(p.cfg.Start, p.cfg.Now(), p.cfg.Retention)
			}
			reach := c.Add(-p.cfg.Lookback - 2*time.Second)
			if reach.Unix() >= state.PrunedBefore {
				continue
			}
			added = append(added, s.String())
			// Marks(since) is the first offset stamped at or after
			// since, so every record stamped later is read, however
			// out of order (StampedSince).
			if at := StampedSince(reach); since.IsZero() || at.Before(since) {
				since = at
			}
		}
	}
	policy := p.kafkaPolicy(ctx, "kafka read-back failed, retrying")
	pending := map[int64]int64{}
	now := p.cfg.Now().Unix()
	var ends marks
	var records int
	began := time.Now()
	err := policy.Do(ctx, func(ctx context.Context) error {
		from := old
		if len(added) > 0 {
			at, err := p.pub.Marks(ctx, since)
			if err != nil {
				return err
			}
			from = lowest(old, at)
		}
		if len(from) == 0 {
			// A new checkpoint: nothing of this pipeline can be in Kafka
			// yet. Record where the topics end now.
			m, err := p.pub.Marks(ctx, time.Time{})
			ends = m
			return err
		}
		records = 0
		clear(pending)
		p.stats.readBacks.Add(1)
		m, err := p.pub.ReadBack(ctx, from, func(f sink.Found) error {
			records++
			if !seen.has(f.MsgID) {
				pending[f.MsgID] = p.horizonOf(f, now)
			}
			return nil
		})
		ends = m
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: reconcile with kafka: %w", err)
	}
	for id, h := range pending {
		seen.add(id, h)
	}
	p.stats.recovered.Add(int64(len(pending)))
	p.stats.seen.Store(int64(seen.len()))
	switch {
	case len(added) > 0:
		p.cfg.Logger.Info("streams reach below the dedupe set's horizon (added later or moved back): read what was published since then to deduplicate them",
			"streams", added, "since", since, "records", records, "new_to_dedupe", len(pending), "elapsed", time.Since(began).Round(time.Millisecond))
	case len(old) > 0:
		p.cfg.Logger.Info("reconciled with kafka", "records_after_checkpoint", records,
			"unknown_to_checkpoint", len(pending), "elapsed", time.Since(began).Round(time.Millisecond))
	}
	var read marks // where the read-back started; nil if it read nothing
	if records > 0 || len(pending) > 0 {
		read = old
		if len(added) > 0 {
			read = nil // the read-back's own from, which covers old: recomputed below
		}
	}
	if len(added) > 0 {
		at, err := p.pub.Marks(ctx, since)
		if err != nil {
			return nil, fmt.Errorf("pipeline: reconcile with kafka: %w", err)
		}
		read = lowest(old, at)
	}
	floor, err := p.initialFloor(ctx, state, seen, read, len(pending), ends)
	if err != nil {
		return nil, err
	}
	p.start.floor = floor
	p.start.prunedBefore = state.PrunedBefore
	p.start.sequence = state.Sequence
	if p.start.sequence == 0 {
		p.start.sequence = state.Commits
	}
	p.start.sequence++
	c := checkpoint.Commit{Seen: pending, Marks: ends, Now: p.cfg.Now(), Floor: cloneMarks(floor), Sequence: p.start.sequence, Lineage: p.cfg.Lineage}
	if err := p.cp.Commit(c); err != nil {
		return nil, &commitError{err: err}
	}
	p.stats.commits.Add(1)
	if p.cfg.OnSnapshot != nil {
		p.cfg.OnSnapshot(Snapshot{Cursors: p.Cursors(), Sequence: c.Sequence, Floor: c.Floor, PrunedBefore: p.start.prunedBefore})
	}
	return ends, nil
}

// horizonOf returns the dedupe horizon of a record found in Kafka: a second
// past its create_time, read from the Avro value (a lookback query can
// return it until the cursors pass that), or fallback when it cannot be
// read (a dead letter).
func (p *Pipeline) horizonOf(f sink.Found, fallback int64) int64 {
	if f.DeadLetter {
		return fallback
	}
	rec, err := p.codec.Decode(f.Value)
	if err != nil {
		return fallback
	}
	if t, ok := rec["create_time"].(time.Time); ok && !t.IsZero() {
		return t.Unix() + 1
	}
	return fallback
}

// lowest merges two sets of marks, keeping the lower offset of each
// partition; a partition missing from either is missing from the result (a
// read-back then reads it from its first offset).
func lowest(a, b marks) marks {
	out := marks{}
	for t, ps := range b {
		for part, off := range ps {
			if len(a) > 0 {
				prev, ok := a[t][part]
				if !ok {
					continue
				}
				off = min(off, prev)
			}
			if out[t] == nil {
				out[t] = map[int]int64{}
			}
			out[t][part] = off
		}
	}
	return out
}

// kafkaPolicy is Config.PublishRetry with its waits cut short by ctx and
// every retry counted and logged.
func (p *Pipeline) kafkaPolicy(ctx context.Context, msg string) retry.Policy {
	policy := p.cfg.PublishRetry
	sleep := policy.Sleep
	if sleep == nil {
		sleep = retry.Sleep
	}
	policy.Sleep = func(_ context.Context, d time.Duration) error { return sleep(ctx, d) }
	onRetry := policy.OnRetry // the caller's, e.g. a status board's
	policy.OnRetry = func(attempt int, err error, wait time.Duration) {
		p.stats.retries.Add(1)
		p.cfg.Logger.Warn(msg, "attempt", attempt, "wait", wait, "error", err)
		if onRetry != nil {
			onRetry(attempt, err, wait)
		}
	}
	return policy
}
