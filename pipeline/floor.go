package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/imreport/imreport/checkpoint"
)

// Snapshot is what a commit tells about the state beyond its cursors: enough,
// with Kafka, to restore the dedupe set without any msgid (see "State in
// Kafka" in doc.go).
type Snapshot struct {
	// Cursors are the committed cursors, one per configured stream (a
	// stream that never moved has its starting cursor).
	Cursors map[string]time.Time
	// Sequence numbers the commits; it continues the checkpoint's.
	Sequence uint64
	// Floor are Kafka offsets below every record whose msgid is still in
	// the dedupe set: a read-back from there recovers all of it.
	Floor map[string]map[int]int64
	// PrunedBefore is the pruning horizon so far (Unix seconds, 0 = none).
	PrunedBefore int64
}

// epoch is the msgids of one write (with what a read-back found of it), as
// far as the floor needs them: marks below every record they name, and the
// largest of their horizons (the epoch matters until pruning passes it).
type epoch struct {
	from marks
	maxH int64
}

// maxEpochs bounds the epochs kept: beyond it, neighbours are merged (the
// older one's marks and the larger horizon), which only keeps the floor
// lower for longer.
const maxEpochs = 512

// writeFrom returns marks below every record a write starting now can
// land at: the marks of the acknowledged records (one write in flight,
// each partition written in order), or without them the end offsets of the
// last commit.
func (w *pageWriter) writeFrom() marks {
	if w.landedOK {
		return cloneMarks(w.landedEnds)
	}
	return w.ends
}

// addEpoch records msgids published at or above from, the largest of
// their horizons maxH.
func (w *pageWriter) addEpoch(from marks, maxH int64) {
	if n := len(w.epochs); n > 0 && sameMarks(w.epochs[n-1].from, from) {
		w.epochs[n-1].maxH = max(w.epochs[n-1].maxH, maxH)
		return
	}
	w.epochs = append(w.epochs, epoch{from: from, maxH: maxH})
	if len(w.epochs) > maxEpochs {
		merged := w.epochs[:0]
		for i := 0; i < len(w.epochs); i += 2 {
			e := w.epochs[i]
			if i+1 < len(w.epochs) {
				e.maxH = max(e.maxH, w.epochs[i+1].maxH)
			}
			merged = append(merged, e)
		}
		clear(w.epochs[len(merged):])
		w.epochs = merged
	}
}

// pruneEpochs drops the oldest epochs whose msgids are all behind
// pruneBefore (0 prunes nothing).
func (w *pageWriter) pruneEpochs(pruneBefore int64) {
	if pruneBefore <= 0 {
		return
	}
	n := 0
	for n < len(w.epochs) && w.epochs[n].maxH < pruneBefore {
		n++
	}
	if n > 0 {
		clear(w.epochs[:n])
		w.epochs = w.epochs[n:]
	}
}

// floor returns the marks below every record whose msgid is still in the
// dedupe set: the oldest live epoch's, or with none, the end offsets of the
// last commit (every later record is above them).
func (w *pageWriter) floor() marks {
	if len(w.epochs) > 0 {
		return w.epochs[0].from
	}
	return w.ends
}

// sameMarks reports whether a and b hold the same offsets.
func sameMarks(a, b marks) bool {
	if len(a) != len(b) {
		return false
	}
	for t, ps := range a {
		qs, ok := b[t]
		if !ok || len(ps) != len(qs) {
			return false
		}
		for p, off := range ps {
			if o, ok := qs[p]; !ok || o != off {
				return false
			}
		}
	}
	return true
}

// initialFloor returns the floor at the start of a run, once reconcile has
// read back from from (nil: it read nothing) and found found new msgids:
// the checkpoint's floor, or for a file written before floors were stored,
// the offsets of the records stamped since the oldest horizon in the
// dedupe set (record timestamps are event times; see StampedSince), lowered
// to from when the read-back added msgids. With an empty dedupe set, ends.
func (p *Pipeline) initialFloor(ctx context.Context, state checkpoint.State, seen *seenSet, from marks, found int, ends marks) (marks, error) {
	if seen.len() == 0 {
		return ends, nil
	}
	var f marks
	switch {
	case state.Floor != nil:
		f = state.Floor
	case len(state.Seen) > 0:
		oldest := int64(0)
		for _, h := range state.Seen {
			if oldest == 0 || h < oldest {
				oldest = h
			}
		}
		at := StampedSince(time.Unix(oldest, 0))
		policy := p.kafkaPolicy(ctx, "kafka offsets by time failed, retrying")
		if err := policy.Do(ctx, func(ctx context.Context) error {
			m, err := p.pub.Marks(ctx, at)
			f = m
			return err
		}); err != nil {
			return nil, fmt.Errorf("pipeline: floor of a checkpoint without one: %w", err)
		}
		p.cfg.Logger.Info("the checkpoint holds no floor (written by an older imreport): taken from record timestamps", "since", at.UTC())
	}
	if found > 0 {
		if f == nil {
			return from, nil
		}
		f = lowest(f, from)
	}
	if f == nil {
		return ends, nil
	}
	return f, nil
}
