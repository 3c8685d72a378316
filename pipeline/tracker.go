package pipeline

// tracker releases items strictly in order: each item has a key (where it
// starts) and ends where the next one starts (end). Ack may be called in any
// order, and returns the acked items that have become contiguous with
// everything released before them.
//
// The pipeline keys a stream's windows by their start (Unix seconds): they
// tile the stream's time line, and a window cut smaller after its first page
// is replaced by windows that tile the same range, so no numbering has to be
// known in advance.
type tracker[T any] struct {
	next  int64 // key of the first item not yet released
	end   func(key int64, item T) int64
	acked map[int64]T
}

func newTracker[T any](start int64, end func(key int64, item T) int64) *tracker[T] {
	return &tracker[T]{next: start, end: end, acked: map[int64]T{}}
}

// Ack marks the item at key done and returns the items released by it, in
// order. Acking a key twice, or one already released, is a programming
// error and panics.
func (t *tracker[T]) Ack(key int64, item T) []T {
	if _, dup := t.acked[key]; dup || key < t.next {
		panic("pipeline: sequence acked twice")
	}
	t.acked[key] = item
	var out []T
	for {
		it, ok := t.acked[t.next]
		if !ok {
			return out
		}
		delete(t.acked, t.next)
		out = append(out, it)
		t.next = t.end(t.next, it)
	}
}

// Pending is the number of acked items waiting for an earlier one.
func (t *tracker[T]) Pending() int { return len(t.acked) }
