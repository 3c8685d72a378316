package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imreport/imreport/sink"
)

// publish writes recs to Kafka, retrying temporary failures, and records each
// acknowledged one as seen with its horizon; path says which path the records
// came by (PathPoll or PathCallback). After a failed write it reads back
// before writing again, so that a record that landed despite the error is
// not written twice.
func (w *pageWriter) publish(recs []sink.Record, horizon func(sink.Record) int64, path string) error {
	return w.publishFrom(recs, horizon, path, nil)
}

// publishFrom is publish whose first attempt, when first is not nil, was
// made already (a write in flight, see flight.go): *first is its result.
func (w *pageWriter) publishFrom(recs []sink.Record, horizon func(sink.Record) int64, path string, first *error) error {
	p := w.p
	// Every record this call publishes, or finds landed, is at or above
	// the marks of the records acknowledged before it: one epoch of the
	// floor (floor.go).
	from, before := w.writeFrom(), len(w.pending)
	w.epochMax = 0
	defer func() {
		if len(w.pending) > before {
			w.addEpoch(from, w.epochMax)
		}
	}()
	done := func(r sink.Record, at time.Time) {
		h := horizon(r)
		w.epochMax = max(w.epochMax, h)
		w.seen.add(r.MsgID, h)
		w.landedMarks(r)
		w.pending = append(w.pending, r.MsgID)
		if r.DeadLetter != nil {
			p.stats.deadLettered.Add(1)
		} else {
			p.stats.published.Add(1)
		}
		p.published(path, r, at)
	}
	remaining := recs
	policy := p.kafkaPolicy(w.ctx, "kafka publish failed, retrying")
	return policy.Do(w.writeCtx, func(ctx context.Context) error {
		if w.ambiguous {
			// The last write failed, and some of its records may have
			// landed: find out which before writing them again.
			if err := w.readBack(ctx); err != nil {
				return err
			}
			next := remaining[:0:0]
			for _, r := range remaining {
				if w.seen.has(r.MsgID) {
					continue // landed after all: found by the read-back
				}
				next = append(next, r)
			}
			remaining = next
			if len(remaining) == 0 {
				return nil
			}
		}
		var err error
		if first != nil {
			err, first = *first, nil
		} else {
			err = p.pub.Publish(ctx, remaining)
		}
		at := p.cfg.Now()
		var failed []int
		var we *sink.WriteError
		switch {
		case err == nil:
		case errors.As(err, &we):
			failed = we.Failed
		default:
			// Nothing is known about any record.
			failed = make([]int, len(remaining))
			for i := range failed {
				failed[i] = i
			}
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
			done(r, at)
		}
		remaining = next
		if len(remaining) > 0 {
			w.ambiguous = true
		}
		return err
	})
}

// readBack reads what this app wrote at or after the marks and takes every
// msgid found as published. It resolves an ambiguous write: Publish promises
// that a failed write can no longer land, so after the read-back every
// record below the new marks is known.
func (w *pageWriter) readBack(ctx context.Context) error {
	p := w.p
	p.stats.readBacks.Add(1)
	now := p.cfg.Now().Unix()
	found := map[int64]int64{}
	ends, err := p.pub.ReadBack(ctx, w.marks, func(f sink.Found) error {
		found[f.MsgID] = p.horizonOf(f, now)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read back after a failed write: %w", err)
	}
	recovered := 0
	for id, h := range found {
		if !w.seen.has(id) {
			w.epochMax = max(w.epochMax, h)
			w.seen.add(id, h)
			w.pending = append(w.pending, id)
			recovered++
		}
	}
	p.stats.recovered.Add(int64(recovered))
	w.marks, w.marksMoved, w.ambiguous = ends, true, false
	raiseMarks(w.landedEnds, ends) // nothing is in flight: every record below ends is known now
	p.cfg.Logger.Info("read back kafka after a failed write", "records", len(found), "landed_despite_the_error", recovered)
	return nil
}
