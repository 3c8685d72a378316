package checkpoint

import "testing"

// TestPrunedBefore: the checkpoint remembers the highest PruneBefore ever
// applied, across reopening; a lower one later does not lower it.
func TestPrunedBefore(t *testing.T) {
	path := tempPath(t)
	s := openT(t, Options{Path: path})
	if err := s.Bind(Identity{AppKey: "k", Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if st := mustLoad(t, s); st.PrunedBefore != 0 {
		t.Fatalf("PrunedBefore of a new checkpoint = %d, want 0", st.PrunedBefore)
	}
	mustCommit(t, s, Commit{Seen: map[int64]int64{1: 100, 2: 300}, PruneBefore: 200})
	mustCommit(t, s, Commit{Seen: map[int64]int64{3: 400}, PruneBefore: 150})
	mustCommit(t, s, Commit{Seen: map[int64]int64{4: 500}}) // no pruning: unchanged
	st := mustLoad(t, s)
	if st.PrunedBefore != 200 {
		t.Errorf("PrunedBefore = %d, want 200", st.PrunedBefore)
	}
	equalSeen(t, st.Seen, map[int64]int64{2: 300, 3: 400, 4: 500})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openT(t, Options{Path: path, ReadOnly: true})
	if st := mustLoad(t, r); st.PrunedBefore != 200 {
		t.Errorf("PrunedBefore after reopening = %d, want 200", st.PrunedBefore)
	}
}
