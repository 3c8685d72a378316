package pipeline

import (
	"testing"
)

func TestSeenSetAddHasPrune(t *testing.T) {
	s := newSeenSet(nil)
	if s.has(1) || s.len() != 0 {
		t.Fatal("a new set is not empty")
	}
	s.add(1, 100)
	s.add(2, 100)
	s.add(3, 200)
	s.add(4, 300)
	for _, id := range []int64{1, 2, 3, 4} {
		if !s.has(id) {
			t.Errorf("has(%d) = false after add", id)
		}
	}
	if s.has(5) {
		t.Error("has(5) = true, never added")
	}
	if s.len() != 4 {
		t.Errorf("len = %d, want 4", s.len())
	}

	s.prune(100) // only below 100: nothing
	if s.len() != 4 {
		t.Fatalf("prune(100) removed entries at 100: len = %d", s.len())
	}
	s.prune(101)
	if s.has(1) || s.has(2) {
		t.Error("prune(101) kept entries with horizon 100")
	}
	if !s.has(3) || !s.has(4) || s.len() != 2 {
		t.Errorf("prune(101) removed entries at or above it: len = %d", s.len())
	}
	s.prune(300)
	if s.has(3) || !s.has(4) || s.len() != 1 {
		t.Errorf("prune(300): has(3)=%v has(4)=%v len=%d, want false true 1", s.has(3), s.has(4), s.len())
	}
	s.prune(0)
	s.prune(-5)
	if s.len() != 1 {
		t.Error("prune at or below every horizon removed something")
	}
	s.prune(1 << 40)
	if s.len() != 0 || len(s.byBucket) != 0 {
		t.Errorf("prune above everything left len=%d index=%d", s.len(), len(s.byBucket))
	}
}

func TestSeenSetLaterHorizonWins(t *testing.T) {
	s := newSeenSet(nil)
	s.add(7, 100)
	s.add(7, 300) // later wins
	s.add(7, 200) // earlier is ignored
	if s.ids[7] != 300 {
		t.Fatalf("horizon = %d, want 300", s.ids[7])
	}
	if s.len() != 1 {
		t.Fatalf("len = %d, want 1", s.len())
	}
	// Pruning the stale horizons must not drop the id: it lives at 300.
	s.prune(300)
	if !s.has(7) {
		t.Fatal("prune below the latest horizon dropped the id (stale index entry)")
	}
	if _, ok := s.byBucket[100>>bucketShift]; ok {
		t.Error("the index bucket of horizon 100 survived the prune")
	}
	s.prune(301)
	if s.has(7) {
		t.Fatal("prune above the latest horizon kept the id")
	}
	// Re-adding after a prune works like a first add.
	s.add(7, 50)
	if !s.has(7) || s.ids[7] != 50 {
		t.Fatalf("re-add after prune: has=%v horizon=%d", s.has(7), s.ids[7])
	}
}

func TestSeenSetSameHorizonTwice(t *testing.T) {
	s := newSeenSet(nil)
	s.add(9, 100)
	s.add(9, 100)
	s.add(9, 101) // later, in the same bucket
	if got := len(s.byBucket[100>>bucketShift]); got != 1 {
		t.Errorf("the same (id, horizon) is indexed %d times, want 1", got)
	}
}

func TestSeenSetFromCheckpoint(t *testing.T) {
	from := map[int64]int64{1: 10, 2: 20, 3: 30}
	s := newSeenSet(from)
	if s.len() != 3 {
		t.Fatalf("len = %d, want 3", s.len())
	}
	s.add(4, 40)
	if _, ok := from[4]; ok {
		t.Fatal("the set writes into the checkpoint's map")
	}
	s.prune(21)
	if s.has(1) || s.has(2) || !s.has(3) || !s.has(4) {
		t.Errorf("after prune(21): has 1..4 = %v %v %v %v", s.has(1), s.has(2), s.has(3), s.has(4))
	}
	if len(from) != 3 {
		t.Error("prune changed the checkpoint's map")
	}
}

// TestSeenSetPruneInsideABucket: a prune that cuts through a bucket keeps
// the bucket's ids at or above it, and a later prune drops them.
func TestSeenSetPruneInsideABucket(t *testing.T) {
	s := newSeenSet(nil)
	base := int64(1000) << bucketShift
	for i := range int64(64) {
		s.add(i, base+i)
	}
	s.add(100, base-1) // the bucket before
	s.prune(base + 10)
	for i := range int64(64) {
		if s.has(i) != (i >= 10) {
			t.Errorf("after prune(base+10): has(%d) = %v", i, s.has(i))
		}
	}
	if s.has(100) || s.len() != 54 || len(s.byBucket) != 1 {
		t.Errorf("len = %d, buckets = %d, has(100) = %v: want 54, 1, false", s.len(), len(s.byBucket), s.has(100))
	}
	if got := len(s.byBucket[1000]); got != 54 {
		t.Errorf("the cut bucket lists %d ids, want the 54 kept", got)
	}
	s.add(5, base+70)  // pruned before, now in the next bucket
	s.add(20, base+80) // moves to the next bucket: listed in both
	s.prune(base + 64)
	if s.len() != 2 || !s.has(5) || !s.has(20) {
		t.Errorf("after prune(base+64): len = %d, has(5) = %v, has(20) = %v; want 2, true, true", s.len(), s.has(5), s.has(20))
	}
	if _, ok := s.byBucket[1000]; ok {
		t.Error("the passed bucket survived")
	}
	s.prune(base + 81)
	if s.len() != 0 || len(s.byBucket) != 0 {
		t.Errorf("prune above everything left len=%d index=%d", s.len(), len(s.byBucket))
	}
}
