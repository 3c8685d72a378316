package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenCreatesFileWithLayout(t *testing.T) {
	path := tempPath(t)
	s := openT(t, Options{Path: path})
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600", perm)
	}
	st := mustLoad(t, s)
	if st.Cursors == nil || st.Seen == nil {
		t.Fatalf("Load of a new file returned nil maps: %+v", st)
	}
	if len(st.Cursors) != 0 || len(st.Seen) != 0 || st.Commits != 0 || !st.Updated.IsZero() || st.Identity != (Identity{}) {
		t.Errorf("Load of a new file = %+v, want empty", st)
	}
}

func TestReopenAfterCloseKeepsData(t *testing.T) {
	path := tempPath(t)
	s := openBoundAt(t, path)
	now := time.Date(2025, 3, 4, 5, 6, 7, 890, time.FixedZone("X", 3600))
	mustCommit(t, s, Commit{
		Cursors: map[string]time.Time{"messages": ts(1000), "users/alice": ts(2000)},
		Seen:    map[int64]int64{1: 1000, 2: 1000, 3: 2000},
		Now:     now,
	})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}

	s2 := openT(t, Options{Path: path})
	st := mustLoad(t, s2)
	if st.Identity != testID {
		t.Errorf("Identity = %+v, want %+v", st.Identity, testID)
	}
	equalCursors(t, st.Cursors, map[string]time.Time{"messages": ts(1000), "users/alice": ts(2000)})
	equalSeen(t, st.Seen, map[int64]int64{1: 1000, 2: 1000, 3: 2000})
	if st.Commits != 1 {
		t.Errorf("Commits = %d, want 1", st.Commits)
	}
	if !st.Updated.Equal(now) || st.Updated.Location() != time.UTC {
		t.Errorf("Updated = %v, want %v in UTC", st.Updated, now)
	}
	// The identity survives too: a different one is refused after reopen.
	if err := s2.Bind(Identity{AppKey: "org#other", Topic: testID.Topic}); !errors.Is(err, ErrIdentityMismatch) {
		t.Errorf("Bind(other) after reopen = %v, want ErrIdentityMismatch", err)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := tempPath(t)
	s := openT(t, Options{Path: path})

	start := time.Now()
	s2, err := Open(Options{Path: path, LockTimeout: 100 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		_ = s2.Close()
		t.Fatal("second writable Open of the same file succeeded; flock should conflict across descriptors")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "checkpoint locked") || !strings.Contains(msg, path) {
		t.Errorf("error %q should say \"checkpoint locked\" and name %s", msg, path)
	}
	if elapsed > time.Second {
		t.Errorf("second Open took %v with a 100ms LockTimeout", elapsed)
	}

	// Read-only takes a shared lock, which conflicts with the writer's.
	if r, err := Open(Options{Path: path, ReadOnly: true, LockTimeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		if r != nil {
			_ = r.Close()
		}
		t.Errorf("read-only Open while a writer holds the file = %v, want ErrLocked", err)
	}

	// Once the first Store is closed the file can be opened again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(Options{Path: path, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = s3.Close()
}

func TestReadOnly(t *testing.T) {
	path := tempPath(t)
	w := openT(t, Options{Path: path})
	if err := w.Bind(testID); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, w, Commit{Cursors: map[string]time.Time{"messages": ts(50)}, Seen: map[int64]int64{7: 50}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r1 := openT(t, Options{Path: path, ReadOnly: true})
	// Shared locks: a second reader is fine.
	r2 := openT(t, Options{Path: path, ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	for _, r := range []*Store{r1, r2} {
		st := mustLoad(t, r)
		equalCursors(t, st.Cursors, map[string]time.Time{"messages": ts(50)})
		equalSeen(t, st.Seen, map[int64]int64{7: 50})
	}
	// A writer is locked out while readers hold the file.
	if w2, err := Open(Options{Path: path, LockTimeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		if w2 != nil {
			_ = w2.Close()
		}
		t.Errorf("writable Open while readers hold the file = %v, want ErrLocked", err)
	}

	err := r1.Commit(Commit{Seen: map[int64]int64{8: 60}})
	if !errors.Is(err, ErrReadOnly) {
		t.Errorf("Commit on read-only = %v, want ErrReadOnly", err)
	}
	if err := r1.Bind(testID); err != nil {
		t.Errorf("read-only Bind of the stored identity = %v, want nil", err)
	}
	if err := r1.Bind(Identity{AppKey: "x", Topic: "y"}); !errors.Is(err, ErrIdentityMismatch) {
		t.Errorf("read-only Bind of another identity = %v, want ErrIdentityMismatch", err)
	}
	if st := mustLoad(t, r1); len(st.Seen) != 1 || st.Commits != 1 {
		t.Errorf("read-only Store changed: %+v", st)
	}
}

func TestReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.db")
	_, err := Open(Options{Path: path, ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only Open of a missing file = %v, want fs.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), "checkpoint open: ") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q lacks the op prefix or the path", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only Open created the file: %v", err)
	}
}

func TestReadOnlyBucketlessFileIsEmptyCheckpoint(t *testing.T) {
	path := tempPath(t)
	writeBolt(t, path, nil) // a valid bbolt file without any bucket
	r := openT(t, Options{Path: path, ReadOnly: true})
	st := mustLoad(t, r)
	if len(st.Cursors) != 0 || len(st.Seen) != 0 || st.Commits != 0 || st.Cursors == nil || st.Seen == nil {
		t.Errorf("Load = %+v, want empty state with non-nil maps", st)
	}
	stats, err := r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Seen != 0 || stats.Streams != 0 || stats.FileSize <= 0 {
		t.Errorf("Stats = %+v", stats)
	}
	if err := r.Bind(testID); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Bind = %v, want ErrReadOnly", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// A writable Open of the same file creates the layout.
	w := openT(t, Options{Path: path})
	if err := w.Bind(testID); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, w, Commit{Seen: map[int64]int64{1: 1}})
}

func TestClosedStore(t *testing.T) {
	s := openBound(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close = %v, want ErrClosed", err)
	}
	if err := s.Commit(Commit{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats after Close = %v, want ErrClosed", err)
	}
	if err := s.Bind(testID); !errors.Is(err, ErrClosed) {
		t.Errorf("Bind after Close = %v, want ErrClosed", err)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open with an empty path succeeded")
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "cp.db")
	if _, err := Open(Options{Path: path}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open in a missing directory = %v, want fs.ErrNotExist", err)
	}
}
