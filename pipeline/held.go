package pipeline

// heldSeen is the msgids published between two commits that no commit has
// written yet, with the end offsets taken at the first of those commits:
// every record they name is at or above from. Their horizons are the seen
// set's.
type heldSeen struct {
	from marks
	ids  []int64
}

// waiting is how many published msgids no commit has written and no
// committed cursor has passed yet.
func (w *pageWriter) waiting() int {
	n := len(w.pending)
	for _, h := range w.held {
		n += len(h.ids)
	}
	return n
}

// settle decides what a commit with pruning horizon pruneBefore (Unix
// seconds; 0 prunes nothing) stores besides its cursors: the msgids to
// write, each with its horizon, and the marks (nil keeps the stored ones).
// Msgids behind the horizon are dropped, neither written nor held. A full
// commit writes every other msgid with the current end offsets; a light one
// writes none and stores the end offsets from before the oldest msgid still
// held, or the current ones when none is.
func (w *pageWriter) settle(pruneBefore int64, full bool) (map[int64]int64, marks) {
	if len(w.pending) > 0 {
		w.held = append(w.held, heldSeen{from: w.ends, ids: w.pending})
		w.pending = nil
	}
	w.pruneEpochs(pruneBefore)
	if pruneBefore > 0 {
		kept := w.held[:0]
		for _, h := range w.held {
			ids := h.ids[:0]
			for _, id := range h.ids {
				if horizon, ok := w.seen.horizon(id); ok && horizon >= pruneBefore {
					ids = append(ids, id)
				}
			}
			if len(ids) > 0 {
				kept = append(kept, heldSeen{from: h.from, ids: ids})
			}
		}
		clear(w.held[len(kept):])
		w.held = kept
	}
	now := w.commitMarks()
	if now != nil {
		w.marks, w.marksMoved = now, false
		w.ends = now
	}
	if !full {
		if len(w.held) > 0 {
			return nil, w.held[0].from
		}
		return nil, now
	}
	seen := make(map[int64]int64, w.waiting())
	for _, h := range w.held {
		for _, id := range h.ids {
			if horizon, ok := w.seen.horizon(id); ok {
				seen[id] = horizon
			}
		}
	}
	clear(w.held)
	w.held = w.held[:0]
	return seen, now
}
