package checkpoint

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCommitRoundTrip(t *testing.T) {
	s := openBound(t)
	mustCommit(t, s, Commit{
		Cursors: map[string]time.Time{"messages": ts(100)},
		Seen:    map[int64]int64{10: 100, 11: 100},
	})
	mustCommit(t, s, Commit{
		// A cursor with nanoseconds and a zone is stored as whole UTC seconds.
		Cursors: map[string]time.Time{"users/alice": time.Unix(200, 999_999_999).In(time.FixedZone("Y", -7200))},
		Seen:    map[int64]int64{12: 200, -5: 200},
	})
	st := mustLoad(t, s)
	equalCursors(t, st.Cursors, map[string]time.Time{"messages": ts(100), "users/alice": ts(200)})
	equalSeen(t, st.Seen, map[int64]int64{10: 100, 11: 100, 12: 200, -5: 200})
	if st.Commits != 2 {
		t.Errorf("Commits = %d, want 2", st.Commits)
	}
	if st.Updated.IsZero() || time.Since(st.Updated) > time.Minute {
		t.Errorf("Updated = %v, want about now (Commit.Now was zero)", st.Updated)
	}
}

func TestCommitCursorSameSecondAndForward(t *testing.T) {
	s := openBound(t)
	mustCommit(t, s, Commit{Cursors: map[string]time.Time{"m": ts(100)}})
	mustCommit(t, s, Commit{Cursors: map[string]time.Time{"m": ts(100)}}) // unchanged is fine
	// Truncation: 100.5s is second 100, not backwards.
	mustCommit(t, s, Commit{Cursors: map[string]time.Time{"m": time.Unix(100, 5e8)}})
	mustCommit(t, s, Commit{Cursors: map[string]time.Time{"m": ts(160)}})
	equalCursors(t, mustLoad(t, s).Cursors, map[string]time.Time{"m": ts(160)})
}

func TestCommitBackwardsCursorChangesNothing(t *testing.T) {
	s := openBound(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mustCommit(t, s, Commit{
		Cursors: map[string]time.Time{"messages": ts(1000), "users/bob": ts(500)},
		Seen:    map[int64]int64{1: 1000, 2: 900},
		Now:     base,
	})
	before := mustLoad(t, s)
	statsBefore, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}

	err = s.Commit(Commit{
		Cursors:     map[string]time.Time{"a-first": ts(5000), "messages": ts(999), "users/carol": ts(10)},
		Seen:        map[int64]int64{3: 1000, 1: 5000},
		PruneBefore: 950,
		Now:         base.Add(time.Hour),
	})
	if !errors.Is(err, ErrCursorBackwards) {
		t.Fatalf("Commit with a backwards cursor = %v, want ErrCursorBackwards", err)
	}
	if !strings.Contains(err.Error(), `"messages"`) || !strings.HasPrefix(err.Error(), "checkpoint commit: ") {
		t.Errorf("error %q should start with \"checkpoint commit: \" and name the stream", err)
	}

	after := mustLoad(t, s)
	equalCursors(t, after.Cursors, before.Cursors)
	equalSeen(t, after.Seen, before.Seen)
	if after.Commits != before.Commits || !after.Updated.Equal(before.Updated) {
		t.Errorf("commit counter/time changed: %d %v -> %d %v", before.Commits, before.Updated, after.Commits, after.Updated)
	}
	statsAfter, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	statsAfter.FileSize, statsBefore.FileSize = 0, 0
	if statsAfter != statsBefore {
		t.Errorf("Stats changed: %+v -> %+v", statsBefore, statsAfter)
	}

	// With Force the same commit goes through, moving the cursor back.
	mustCommit(t, s, Commit{
		Cursors: map[string]time.Time{"messages": ts(999)},
		Force:   true,
	})
	if got := mustLoad(t, s).Cursors["messages"]; !got.Equal(ts(999)) {
		t.Errorf("forced cursor = %v, want %v", got, ts(999))
	}
}

func TestCommitPrune(t *testing.T) {
	s := openBound(t)
	seen := map[int64]int64{}
	for id := int64(1); id <= 300; id++ {
		seen[id] = 1000 + id%30*10 // horizons 1000..1290
	}
	mustCommit(t, s, Commit{Seen: seen})

	const before = 1150
	// Also add a new entry below the horizon (pruned in the same commit) and
	// one above it (kept).
	mustCommit(t, s, Commit{Seen: map[int64]int64{1000: 1100, 1001: 1200}, PruneBefore: before})

	want := map[int64]int64{1001: 1200}
	for id, h := range seen {
		if h >= before {
			want[id] = h
		}
	}
	st := mustLoad(t, s) // Load also cross-checks seen against seen_by_horizon
	equalSeen(t, st.Seen, want)

	stats, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Seen != len(want) || stats.OldestSeen != before || stats.NewestSeen != 1290 {
		t.Errorf("Stats = %+v, want Seen %d Oldest %d Newest 1290", stats, len(want), before)
	}
	if n := countBucket(t, s, bucketSeenByHorizon); n != len(want) {
		t.Errorf("seen_by_horizon has %d keys, want %d", n, len(want))
	}
	if n := countBucket(t, s, bucketSeen); n != len(want) {
		t.Errorf("seen has %d keys, want %d", n, len(want))
	}

	// Pruning past everything empties both buckets.
	mustCommit(t, s, Commit{PruneBefore: 1 << 40})
	if st := mustLoad(t, s); len(st.Seen) != 0 {
		t.Errorf("Seen after full prune = %d entries", len(st.Seen))
	}
	if n := countBucket(t, s, bucketSeenByHorizon); n != 0 {
		t.Errorf("seen_by_horizon after full prune has %d keys", n)
	}
}

func TestCommitSeenKeepsLargerHorizon(t *testing.T) {
	s := openBound(t)
	mustCommit(t, s, Commit{Seen: map[int64]int64{1: 100, 2: 100}})
	mustCommit(t, s, Commit{Seen: map[int64]int64{1: 50, 2: 300}}) // 1 keeps 100, 2 moves to 300
	st := mustLoad(t, s)
	equalSeen(t, st.Seen, map[int64]int64{1: 100, 2: 300})
	if n := countBucket(t, s, bucketSeenByHorizon); n != 2 {
		t.Errorf("seen_by_horizon has %d keys, want 2 (old index entry must go)", n)
	}
	// Pruning at 200 must drop 1 (100) but keep 2, whose old index entry was 100.
	mustCommit(t, s, Commit{PruneBefore: 200})
	equalSeen(t, mustLoad(t, s).Seen, map[int64]int64{2: 300})
	stats, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Seen != 1 || stats.OldestSeen != 300 || stats.NewestSeen != 300 {
		t.Errorf("Stats = %+v", stats)
	}
}

func TestCommitRequiresBind(t *testing.T) {
	s := openT(t, Options{Path: tempPath(t)})
	err := s.Commit(Commit{Seen: map[int64]int64{1: 1}})
	if !errors.Is(err, ErrUnbound) {
		t.Fatalf("Commit before Bind = %v, want ErrUnbound", err)
	}
	if st := mustLoad(t, s); len(st.Seen) != 0 || st.Commits != 0 {
		t.Errorf("failed Commit left data: %+v", st)
	}
}

func TestCommitRejectsInvalidInput(t *testing.T) {
	s := openBound(t)
	for name, c := range map[string]Commit{
		"empty stream":     {Cursors: map[string]time.Time{"": ts(1)}},
		"zero cursor":      {Cursors: map[string]time.Time{"m": {}}},
		"negative horizon": {Seen: map[int64]int64{1: -1}},
	} {
		err := s.Commit(c)
		if err == nil {
			t.Errorf("%s: Commit succeeded", name)
			continue
		}
		for _, sentinel := range []error{ErrCorrupt, ErrCursorBackwards, ErrReadOnly, ErrUnbound, ErrLocked} {
			if errors.Is(err, sentinel) {
				t.Errorf("%s: %v should wrap no sentinel, wraps %v", name, err, sentinel)
			}
		}
	}
	if st := mustLoad(t, s); st.Commits != 0 {
		t.Errorf("invalid Commits were counted: %d", st.Commits)
	}
}

// TestCommitMatchesModel applies random commits and compares the store with
// a map-based model after each one.
func TestCommitMatchesModel(t *testing.T) {
	s := openBound(t)
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[int64]int64{}
	cursors := map[string]time.Time{}
	streams := []string{"messages", "users/alice", "users/bob"}
	horizon := int64(1_700_000_000)
	for i := 0; i < 60; i++ {
		horizon += 60
		c := Commit{Seen: map[int64]int64{}, Cursors: map[string]time.Time{}}
		for range rng.IntN(200) {
			id := rng.Int64N(3000)
			h := horizon - rng.Int64N(600)
			if _, dup := c.Seen[id]; dup {
				continue
			}
			c.Seen[id] = h
			if old, ok := model[id]; !ok || h > old {
				model[id] = h
			}
		}
		name := streams[rng.IntN(len(streams))]
		c.Cursors[name] = ts(horizon)
		cursors[name] = ts(horizon)
		if rng.IntN(3) == 0 {
			c.PruneBefore = horizon - rng.Int64N(900)
			for id, h := range model {
				if h < c.PruneBefore {
					delete(model, id)
				}
			}
		}
		mustCommit(t, s, c)

		st := mustLoad(t, s)
		equalSeen(t, st.Seen, model)
		equalCursors(t, st.Cursors, cursors)
		stats, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if stats.Seen != len(model) || stats.Streams != len(cursors) {
			t.Fatalf("commit %d: Stats = %+v, model has %d seen, %d streams", i, stats, len(model), len(cursors))
		}
		if t.Failed() {
			t.Fatalf("commit %d diverged from the model", i)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s := openBound(t)
	var wg sync.WaitGroup
	const writers, perWriter = 4, 25
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := int64(w*1000 + i)
				if err := s.Commit(Commit{Seen: map[int64]int64{id: id}}); err != nil {
					t.Errorf("Commit: %v", err)
					return
				}
			}
		})
		wg.Go(func() {
			for range perWriter {
				if _, err := s.Load(); err != nil {
					t.Errorf("Load: %v", err)
					return
				}
				if _, err := s.Stats(); err != nil {
					t.Errorf("Stats: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := mustLoad(t, s)
	if len(st.Seen) != writers*perWriter || st.Commits != writers*perWriter {
		t.Errorf("after concurrent commits: %d seen, %d commits; want %d", len(st.Seen), st.Commits, writers*perWriter)
	}
}
