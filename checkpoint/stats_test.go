package checkpoint

import (
	"os"
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	s := openBound(t)
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Streams != 0 || st.Seen != 0 || st.OldestSeen != 0 || st.NewestSeen != 0 {
		t.Errorf("Stats of an empty checkpoint = %+v", st)
	}

	mustCommit(t, s, Commit{
		Cursors: map[string]time.Time{"messages": ts(300), "users/alice": ts(200), "users/bob": ts(100)},
		Seen:    map[int64]int64{1: 300, 2: 200, 3: 100, 4: 250},
	})
	mustCommit(t, s, Commit{
		Cursors: map[string]time.Time{"messages": ts(400)},
		Seen:    map[int64]int64{5: 400, 1: 300}, // 1 already seen: not counted twice
	})
	st, err = s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Streams: 3, Seen: 5, OldestSeen: 100, NewestSeen: 400, FileSize: fi.Size()}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	if st.FileSize <= 0 {
		t.Errorf("FileSize = %d", st.FileSize)
	}

	mustCommit(t, s, Commit{PruneBefore: 250})
	st, err = s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Seen != 3 || st.OldestSeen != 250 || st.NewestSeen != 400 || st.Streams != 3 {
		t.Errorf("Stats after prune = %+v, want Seen 3, Oldest 250, Newest 400, Streams 3", st)
	}
}
