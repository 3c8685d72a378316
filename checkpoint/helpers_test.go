package checkpoint

import (
	"path/filepath"
	"testing"
	"time"
)

var testID = Identity{AppKey: "org#app", Topic: "im.messages"}

// tempPath returns a checkpoint path in a fresh temporary directory.
func tempPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "checkpoint.db")
}

// openT opens a Store and closes it at the end of the test.
func openT(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openBound opens a writable Store at a new path and binds testID.
func openBound(t testing.TB) *Store {
	t.Helper()
	return openBoundAt(t, tempPath(t))
}

// openBoundAt opens a writable Store at path and binds testID; it is
// closed at the end of the test if the test did not close it.
func openBoundAt(t testing.TB, path string) *Store {
	t.Helper()
	s := openT(t, Options{Path: path})
	if err := s.Bind(testID); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	return s
}

func mustCommit(t testing.TB, s *Store, c Commit) {
	t.Helper()
	if err := s.Commit(c); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func mustLoad(t testing.TB, s *Store) State {
	t.Helper()
	st, err := s.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

func ts(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// equalSeen compares two dedupe sets.
func equalSeen(t testing.TB, got, want map[int64]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("Seen has %d entries, want %d", len(got), len(want))
	}
	for id, h := range want {
		if g, ok := got[id]; !ok || g != h {
			t.Errorf("Seen[%d] = %d (present %v), want %d", id, g, ok, h)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("Seen has unexpected msgid %d", id)
		}
	}
}

// equalCursors compares two cursor maps.
func equalCursors(t testing.TB, got, want map[string]time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("Cursors = %v, want %v", got, want)
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok || !g.Equal(w) {
			t.Errorf("Cursors[%q] = %v (present %v), want %v", name, g, ok, w)
		}
		if ok && g.Location() != time.UTC {
			t.Errorf("Cursors[%q] location = %v, want UTC", name, g.Location())
		}
	}
}

// indexKey returns the seen_by_horizon key horizon||msgid.
func indexKey(horizon, msgid int64) []byte {
	var sc scratch
	return append([]byte(nil), sc.indexKey(horizon, msgid)...)
}
