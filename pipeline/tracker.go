package pipeline

// tracker releases sequence numbers strictly in order: Ack may be called in
// any order, and returns the acked items that have become contiguous with
// everything released before them.
type tracker[T any] struct {
	next  uint64 // lowest sequence not yet released
	acked map[uint64]T
}

func newTracker[T any]() *tracker[T] { return &tracker[T]{acked: map[uint64]T{}} }

// Ack marks seq done and returns the items released by it, in order.
// Acking a sequence twice, or one already released, is a programming error and
// panics.
func (t *tracker[T]) Ack(seq uint64, item T) []T {
	if _, dup := t.acked[seq]; dup || seq < t.next {
		panic("pipeline: sequence acked twice")
	}
	t.acked[seq] = item
	var out []T
	for {
		it, ok := t.acked[t.next]
		if !ok {
			return out
		}
		delete(t.acked, t.next)
		out = append(out, it)
		t.next++
	}
}

// Pending is the number of acked items waiting for an earlier one.
func (t *tracker[T]) Pending() int { return len(t.acked) }
