package pipeline

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// seqTracker releases keys 0, 1, 2, ... in order.
func seqTracker[T any]() *tracker[T] {
	return newTracker(0, func(key int64, _ T) int64 { return key + 1 })
}

func TestTrackerInOrder(t *testing.T) {
	tr := seqTracker[string]()
	for i, name := range []string{"a", "b", "c", "d"} {
		got := tr.Ack(int64(i), name)
		if !slices.Equal(got, []string{name}) {
			t.Fatalf("Ack(%d) = %v, want [%s]", i, got, name)
		}
		if p := tr.Pending(); p != 0 {
			t.Fatalf("Pending after in-order Ack(%d) = %d, want 0", i, p)
		}
	}
}

func TestTrackerOutOfOrder(t *testing.T) {
	tr := seqTracker[int64]()
	steps := []struct {
		seq     int64
		want    []int64
		pending int
	}{
		{2, nil, 1},
		{3, nil, 2},
		{5, nil, 3},
		{1, nil, 4},
		{0, []int64{0, 1, 2, 3}, 1}, // releases the contiguous run, 5 waits for 4
		{6, nil, 2},
		{4, []int64{4, 5, 6}, 0},
		{7, []int64{7}, 0},
	}
	for _, s := range steps {
		got := tr.Ack(s.seq, s.seq)
		if !slices.Equal(got, s.want) {
			t.Fatalf("Ack(%d) = %v, want %v", s.seq, got, s.want)
		}
		if p := tr.Pending(); p != s.pending {
			t.Fatalf("Pending after Ack(%d) = %d, want %d", s.seq, p, s.pending)
		}
	}
}

func TestTrackerReverse(t *testing.T) {
	const n = 100
	tr := seqTracker[int]()
	for i := n - 1; i > 0; i-- {
		if got := tr.Ack(int64(i), i); got != nil {
			t.Fatalf("Ack(%d) released %v before 0", i, got)
		}
	}
	if p := tr.Pending(); p != n-1 {
		t.Fatalf("Pending = %d, want %d", p, n-1)
	}
	got := tr.Ack(0, 0)
	if len(got) != n {
		t.Fatalf("Ack(0) released %d items, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("released[%d] = %d: not in order", i, v)
		}
	}
	if p := tr.Pending(); p != 0 {
		t.Fatalf("Pending = %d, want 0", p)
	}
}

func TestTrackerDoubleAckPanics(t *testing.T) {
	cases := []struct {
		name  string
		setup []int64
		again int64
	}{
		{"pending twice", []int64{1}, 1},
		{"released twice", []int64{0}, 0},
		{"released long ago", []int64{0, 1, 2, 3}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := seqTracker[int]()
			for _, s := range c.setup {
				tr.Ack(s, int(s))
			}
			pendingBefore := tr.Pending()
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("Ack(%d) again did not panic", c.again)
				}
				if r != "pipeline: sequence acked twice" {
					t.Errorf("panic value = %v", r)
				}
				if tr.Pending() != pendingBefore {
					t.Errorf("a panicking Ack changed Pending: %d -> %d", pendingBefore, tr.Pending())
				}
			}()
			tr.Ack(c.again, -1)
		})
	}
}

// TestTrackerRandom compares the tracker against a trivial model over random
// permutations: the model releases every seq whose predecessors are all acked.
func TestTrackerRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		n := 1 + rng.IntN(60)
		order := rng.Perm(n)
		tr := seqTracker[int]()
		acked := make([]bool, n)
		released := 0 // the model: seqs [0, released) are out
		var all []int
		for _, seq := range order {
			got := tr.Ack(int64(seq), seq*10)
			acked[seq] = true
			var want []int
			for released < n && acked[released] {
				want = append(want, released*10)
				released++
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: order %v: Ack(%d) = %v, want %v", round, order, seq, got, want)
			}
			pending := 0
			for i := released; i < n; i++ {
				if acked[i] {
					pending++
				}
			}
			if tr.Pending() != pending {
				t.Fatalf("round %d: Pending = %d, want %d", round, tr.Pending(), pending)
			}
			all = append(all, got...)
		}
		if len(all) != n {
			t.Fatalf("round %d: released %d items in all, want %d", round, len(all), n)
		}
		for i, v := range all {
			if v != i*10 {
				t.Fatalf("round %d: release order %v is not sequential", round, all)
			}
		}
	}
}

// TestTrackerByEnd: items that say where the next one starts (windows of
// any length tiling a time line) are released in the order of the line.
func TestTrackerByEnd(t *testing.T) {
	type span struct{ from, to int64 }
	tr := newTracker(100, func(_ int64, s span) int64 { return s.to })
	steps := []struct {
		s    span
		want []span
	}{
		{span{130, 200}, nil},
		{span{105, 130}, nil},
		{span{100, 105}, []span{{100, 105}, {105, 130}, {130, 200}}},
		{span{260, 300}, nil},
		{span{200, 260}, []span{{200, 260}, {260, 300}}},
	}
	for _, st := range steps {
		if got := tr.Ack(st.s.from, st.s); !slices.Equal(got, st.want) {
			t.Fatalf("Ack(%v) = %v, want %v", st.s, got, st.want)
		}
	}
}
