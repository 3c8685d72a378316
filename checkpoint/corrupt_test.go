package checkpoint

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeBolt creates a bbolt file at path directly and runs fn in an update
// transaction (fn may be nil: an empty bbolt database).
func writeBolt(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if fn != nil {
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// countBucket counts the keys of a top-level bucket.
func countBucket(t testing.TB, s *Store, name []byte) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(name).ForEach(func(_, _ []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// newCheckpointFile writes a valid, bound checkpoint with some data and
// returns its path, closed.
func newCheckpointFile(t testing.TB, seen int) string {
	t.Helper()
	path := tempPath(t)
	s := openBoundAt(t, path)
	c := Commit{Cursors: map[string]time.Time{"messages": ts(5000)}, Seen: map[int64]int64{}}
	for i := range seen {
		c.Seen[int64(i)*7919] = 5000 + int64(i%100)
	}
	mustCommit(t, s, c)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// expectCorruptOpen checks that both a writable and a read-only Open of
// path fail with ErrCorrupt, naming the path, and leave the file untouched.
func expectCorruptOpen(t *testing.T, path string) {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		s, err := Open(Options{Path: path, ReadOnly: ro, LockTimeout: 200 * time.Millisecond})
		if err == nil {
			_ = s.Close()
			t.Errorf("Open(ReadOnly=%v) succeeded, want ErrCorrupt", ro)
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(ReadOnly=%v) = %v, want ErrCorrupt", ro, err)
		}
		if !strings.HasPrefix(err.Error(), "checkpoint open: ") || !strings.Contains(err.Error(), path) {
			t.Errorf("error %q lacks the op prefix or the path", err)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("a failed Open modified the file (%d -> %d bytes)", len(before), len(after))
	}
	// A failed Open must not leave the lock held.
	if err := tryLock(path); err != nil {
		t.Errorf("lock still held after failed Opens: %v", err)
	}
}

// tryLock takes and releases the exclusive lock of path through bbolt's
// own locking, without touching the file's content (the file must not be
// empty: bbolt would initialise it).
func tryLock(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond, ReadOnly: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return err
	}
	if db != nil {
		_ = db.Close()
	}
	return nil
}

func TestGarbageFileIsCorrupt(t *testing.T) {
	for _, size := range []int{1, 100, 4096, 64 << 10} {
		path := tempPath(t)
		buf := make([]byte, size)
		rng := rand.New(rand.NewPCG(uint64(size), 7))
		for i := range buf {
			buf[i] = byte(rng.UintN(256))
		}
		if err := os.WriteFile(path, buf, 0o600); err != nil {
			t.Fatal(err)
		}
		expectCorruptOpen(t, path)
	}
}

func TestEmptyFileIsCorrupt(t *testing.T) {
	path := tempPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		if _, err := Open(Options{Path: path, ReadOnly: ro}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(ReadOnly=%v) of a zero-length file = %v, want ErrCorrupt", ro, err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("zero-length file was modified: %v %v", fi.Size(), err)
	}
}

func TestForeignBoltFileIsCorrupt(t *testing.T) {
	path := tempPath(t)
	writeBolt(t, path, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("something_else"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	expectCorruptOpen(t, path)
}

func TestLayoutErrorsAreCorrupt(t *testing.T) {
	cases := map[string]func(tx *bolt.Tx) error{
		"unknown layout version": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyVersion, encUint(2))
		},
		"short version": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyVersion, []byte{1})
		},
		"no version": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Delete(keyVersion)
		},
		"missing bucket": func(tx *bolt.Tx) error {
			return tx.DeleteBucket(bucketSeenByHorizon)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			path := newCheckpointFile(t, 10)
			writeBolt(t, path, mutate)
			expectCorruptOpen(t, path)
		})
	}
}

func TestValueErrorsAreCorrupt(t *testing.T) {
	cases := map[string]func(tx *bolt.Tx) error{
		"cursor of 4 bytes": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketCursors).Put([]byte("messages"), []byte{0, 0, 0, 1})
		},
		"seen value of 9 bytes": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketSeen).Put(encInt(0), make([]byte, 9))
		},
		"seen without index": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketSeen).Put(encInt(-1), encInt(5000))
		},
		"index without seen": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketSeenByHorizon).Put(indexKey(10, 424242), nil)
		},
		"seen count wrong": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySeenCount, encUint(3))
		},
		"only app key": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Delete(keyTopic)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			path := newCheckpointFile(t, 10)
			writeBolt(t, path, mutate)
			s := openT(t, Options{Path: path})
			if _, err := s.Load(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Load = %v, want ErrCorrupt", err)
			}
		})
	}

	// Commit reports a bad value it has to read, and applies nothing.
	path := newCheckpointFile(t, 10)
	writeBolt(t, path, cases["cursor of 4 bytes"])
	s := openT(t, Options{Path: path})
	err := s.Commit(Commit{Cursors: map[string]time.Time{"messages": ts(6000)}, Seen: map[int64]int64{99: 6000}})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Commit = %v, want ErrCorrupt", err)
	}
	if n := countBucket(t, s, bucketSeen); n != 10 {
		t.Errorf("failed Commit changed seen: %d entries, want 10", n)
	}
}

// garbagePages overwrites every page of path after the two meta pages, so
// the meta pages still validate but the trees they point to are garbage.
func garbagePages(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	off := int64(2 * os.Getpagesize())
	if fi.Size() <= off {
		t.Fatalf("file too small (%d bytes)", fi.Size())
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, int(fi.Size()-off)), off); err != nil {
		t.Fatal(err)
	}
}

func TestGarbagePagesAreCorruptNotCrash(t *testing.T) {
	path := newCheckpointFile(t, 2000)
	garbagePages(t, path)
	expectCorruptOpen(t, path)
}

func TestPanicPoisonsStore(t *testing.T) {
	path := newCheckpointFile(t, 2000)
	s := openT(t, Options{Path: path, ReadOnly: true})
	mustLoad(t, s)

	// Another party scribbles over the file while it is open.
	garbagePages(t, path)
	_, err := s.Load()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load of a scribbled file = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Load error %q: expected a recovered bbolt panic", err)
	}
	if _, err := s.Stats(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Stats after a recovered panic = %v, want ErrCorrupt (poisoned)", err)
	}
	if err := s.Bind(testID); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Bind after a recovered panic = %v, want ErrCorrupt (poisoned)", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close of a poisoned Store = %v", err)
	}
}
