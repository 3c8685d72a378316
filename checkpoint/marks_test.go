package checkpoint

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

type marksT = map[string]map[int]int64

func equalMarks(t testing.TB, got, want marksT) {
	t.Helper()
	if got == nil {
		t.Fatalf("Marks is nil")
	}
	if !maps.EqualFunc(got, want, func(a, b map[int]int64) bool { return maps.Equal(a, b) }) {
		t.Errorf("Marks = %v, want %v", got, want)
	}
}

func hasBucket(t testing.TB, s *Store, name []byte) bool {
	t.Helper()
	var ok bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(name) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestCommitMarks(t *testing.T) {
	path := tempPath(t)
	s := openT(t, Options{Path: path})
	if err := s.Bind(testID); err != nil {
		t.Fatal(err)
	}
	if !hasBucket(t, s, bucketMarks) {
		t.Fatal("a new file has no marks bucket")
	}
	equalMarks(t, mustLoad(t, s).Marks, marksT{})

	mustCommit(t, s, Commit{
		Cursors: map[string]time.Time{"messages": ts(100)},
		Marks:   marksT{"im.messages": {0: 10, 1: 0, 2: 7}, "im.messages.dlq": {0: 3}},
	})
	equalMarks(t, mustLoad(t, s).Marks, marksT{"im.messages": {0: 10, 1: 0, 2: 7}, "im.messages.dlq": {0: 3}})

	// nil and empty Marks keep the stored ones; an empty topic map too.
	mustCommit(t, s, Commit{Seen: map[int64]int64{1: 100}})
	mustCommit(t, s, Commit{Marks: marksT{}})
	mustCommit(t, s, Commit{Marks: marksT{"im.messages": {}}})
	equalMarks(t, mustLoad(t, s).Marks, marksT{"im.messages": {0: 10, 1: 0, 2: 7}, "im.messages.dlq": {0: 3}})

	// A topic's map replaces the partitions it lists only; a mark may move
	// backwards; a new partition (the topic grew) is added.
	mustCommit(t, s, Commit{Marks: marksT{"im.messages": {0: 12, 2: 5, 3: 1}}})
	want := marksT{"im.messages": {0: 12, 1: 0, 2: 5, 3: 1}, "im.messages.dlq": {0: 3}}
	st := mustLoad(t, s)
	equalMarks(t, st.Marks, want)
	if st.Commits != 5 {
		t.Errorf("Commits = %d, want 5 (marks-only commits count)", st.Commits)
	}
	stats, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Marks != 5 {
		t.Errorf("Stats.Marks = %d, want 5", stats.Marks)
	}

	// Large offsets and partitions round-trip.
	mustCommit(t, s, Commit{Marks: marksT{"t": {1<<31 - 1: 1<<63 - 1}}})
	want["t"] = map[int]int64{1<<31 - 1: 1<<63 - 1}

	// Durable across reopen, read-only too.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openT(t, Options{Path: path, ReadOnly: true})
	equalMarks(t, mustLoad(t, r).Marks, want)
}

func TestCommitMarksInvalidChangesNothing(t *testing.T) {
	s := openBound(t)
	mustCommit(t, s, Commit{Cursors: map[string]time.Time{"m": ts(100)}, Marks: marksT{"t": {0: 5}}})
	before := mustLoad(t, s)
	for name, m := range map[string]marksT{
		"negative offset":    {"t": {0: 6, 1: -1}},
		"negative partition": {"t": {-1: 6}},
		"huge partition":     {"t": {1 << 31: 6}},
		"empty topic":        {"": {0: 6}},
		"NUL in topic":       {"a\x00b": {0: 6}},
	} {
		t.Run(name, func(t *testing.T) {
			err := s.Commit(Commit{Cursors: map[string]time.Time{"m": ts(200)}, Seen: map[int64]int64{9: 200}, Marks: m})
			if err == nil {
				t.Fatal("Commit succeeded")
			}
			if !strings.HasPrefix(err.Error(), "checkpoint commit: ") || errors.Is(err, ErrCorrupt) {
				t.Errorf("error %q: want the op prefix and no sentinel", err)
			}
			after := mustLoad(t, s)
			equalMarks(t, after.Marks, before.Marks)
			equalCursors(t, after.Cursors, before.Cursors)
			equalSeen(t, after.Seen, before.Seen)
			if after.Commits != before.Commits {
				t.Errorf("Commits %d -> %d", before.Commits, after.Commits)
			}
		})
	}
}

// Marks are part of the Commit's one transaction: a Commit that fails for
// another reason does not store them.
func TestCommitMarksAtomic(t *testing.T) {
	s := openBound(t)
	mustCommit(t, s, Commit{Cursors: map[string]time.Time{"m": ts(100)}, Marks: marksT{"t": {0: 5}}})
	err := s.Commit(Commit{Cursors: map[string]time.Time{"m": ts(50)}, Marks: marksT{"t": {0: 9, 1: 1}}})
	if !errors.Is(err, ErrCursorBackwards) {
		t.Fatalf("Commit = %v, want ErrCursorBackwards", err)
	}
	equalMarks(t, mustLoad(t, s).Marks, marksT{"t": {0: 5}})

	u := openT(t, Options{Path: tempPath(t)})
	if err := u.Commit(Commit{Marks: marksT{"t": {0: 1}}}); !errors.Is(err, ErrUnbound) {
		t.Fatalf("Commit of marks before Bind = %v, want ErrUnbound", err)
	}
	equalMarks(t, mustLoad(t, u).Marks, marksT{})
}

// writeOldLayout writes, with bbolt directly, a bound checkpoint in the
// layout of the builds before marks existed: four buckets, version 1.
func writeOldLayout(t testing.TB, path string) {
	t.Helper()
	writeBolt(t, path, func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		for _, name := range []string{"cursors", "seen", "seen_by_horizon"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		for k, v := range map[string][]byte{
			"version": encUint(1), "commits": encUint(3), "seen_count": encUint(2),
			"app_key": []byte(testID.AppKey), "topic": []byte(testID.Topic), "updated": encInt(1e18),
		} {
			if err := meta.Put([]byte(k), v); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("cursors")).Put([]byte("messages"), encInt(5000)); err != nil {
			return err
		}
		for id, h := range map[int64]int64{7: 4000, 8: 5000} {
			if err := tx.Bucket([]byte("seen")).Put(encInt(id), encInt(h)); err != nil {
				return err
			}
			if err := tx.Bucket([]byte("seen_by_horizon")).Put(indexKey(h, id), []byte{}); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestOldLayoutWithoutMarks(t *testing.T) {
	path := tempPath(t)
	writeOldLayout(t, path)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, marks marksT) {
		t.Helper()
		st := mustLoad(t, s)
		if st.Identity != testID || st.Commits < 3 {
			t.Errorf("Load = %+v", st)
		}
		equalCursors(t, st.Cursors, map[string]time.Time{"messages": ts(5000)})
		equalSeen(t, st.Seen, map[int64]int64{7: 4000, 8: 5000})
		equalMarks(t, st.Marks, marks)
	}

	// Read-only: no marks, and the file is left alone.
	r := openT(t, Options{Path: path, ReadOnly: true})
	if hasBucket(t, r, bucketMarks) {
		t.Fatal("test file already has a marks bucket")
	}
	check(r, marksT{})
	stats, err := r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Marks != 0 || stats.Seen != 2 || stats.Streams != 1 {
		t.Errorf("Stats = %+v", stats)
	}
	if err := r.Bind(testID); err != nil {
		t.Errorf("read-only Bind of the stored identity = %v", err)
	}
	if err := r.Commit(Commit{Marks: marksT{"t": {0: 1}}}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Commit = %v, want ErrReadOnly", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, orig) {
		t.Fatal("a read-only Open modified the file")
	}

	// Writable: the bucket is added, everything else kept.
	w := openT(t, Options{Path: path})
	if !hasBucket(t, w, bucketMarks) {
		t.Fatal("writable Open did not add the marks bucket")
	}
	check(w, marksT{})
	if err := w.Bind(testID); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, w, Commit{Seen: map[int64]int64{9: 6000}, Marks: marksT{"im.messages": {0: 4, 1: 2}}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r2 := openT(t, Options{Path: path, ReadOnly: true})
	st := mustLoad(t, r2)
	equalMarks(t, st.Marks, marksT{"im.messages": {0: 4, 1: 2}})
	equalSeen(t, st.Seen, map[int64]int64{7: 4000, 8: 5000, 9: 6000})
	if st.Commits != 4 {
		t.Errorf("Commits = %d, want 4", st.Commits)
	}
}

// A broken old-layout file stays ErrCorrupt: the migration runs only on a
// layout that is otherwise valid, and does not write to a corrupt file.
func TestOldLayoutCorruptIsNotMigrated(t *testing.T) {
	path := tempPath(t)
	writeOldLayout(t, path)
	writeBolt(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketSeenByHorizon) })
	expectCorruptOpen(t, path)

	path = tempPath(t)
	writeOldLayout(t, path)
	writeBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, encUint(2)) })
	expectCorruptOpen(t, path)
}

func TestMarksValueErrorsAreCorrupt(t *testing.T) {
	for name, mutate := range map[string]func(b *bolt.Bucket) error{
		"value of 4 bytes":   func(b *bolt.Bucket) error { return b.Put(markKey("t", 0), []byte{0, 0, 0, 1}) },
		"negative value":     func(b *bolt.Bucket) error { return b.Put(markKey("t", 0), encInt(-1)) },
		"key without NUL":    func(b *bolt.Bucket) error { return b.Put([]byte("topic-without-suffix"), encInt(1)) },
		"key empty topic":    func(b *bolt.Bucket) error { return b.Put([]byte{0, 0, 0, 0, 1}, encInt(1)) },
		"negative partition": func(b *bolt.Bucket) error { return b.Put(markKey("t", -2), encInt(1)) },
	} {
		t.Run(name, func(t *testing.T) {
			path := newCheckpointFile(t, 10)
			writeBolt(t, path, func(tx *bolt.Tx) error { return mutate(tx.Bucket(bucketMarks)) })
			for _, ro := range []bool{false, true} {
				s, err := Open(Options{Path: path, ReadOnly: ro})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Load(); !errors.Is(err, ErrCorrupt) {
					t.Errorf("Load(ReadOnly=%v) = %v, want ErrCorrupt", ro, err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestMarkKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		topic string
		p     int32
	}{{"t", 0}, {"im.messages", 5}, {"a-b_c.d", 1<<31 - 1}, {"x\x00y", 3}} {
		topic, p, ok := decMarkKey(markKey(tc.topic, tc.p))
		if !ok || topic != tc.topic || p != tc.p {
			t.Errorf("decMarkKey(markKey(%q, %d)) = %q, %d, %v", tc.topic, tc.p, topic, p, ok)
		}
	}
}

func TestCommitStoresFloorSequenceAndLineage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.db")
	s, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(Identity{AppKey: "a", Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.Floor != nil || st.Sequence != 0 || st.Lineage != "" {
		t.Fatalf("new file: floor %v sequence %d lineage %q, want none", st.Floor, st.Sequence, st.Lineage)
	}
	floor := map[string]map[int]int64{"t": {0: 5, 1: 0}, "t.dlq": {0: 7}}
	if err := s.Commit(Commit{Floor: floor, Sequence: 42, Lineage: "L1"}); err != nil {
		t.Fatal(err)
	}
	// A commit without them keeps them.
	if err := s.Commit(Commit{Seen: map[int64]int64{1: 10}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Path: path, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err = s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Floor, floor) || st.Sequence != 42 || st.Lineage != "L1" {
		t.Fatalf("floor %v sequence %d lineage %q, want %v 42 L1", st.Floor, st.Sequence, st.Lineage, floor)
	}
}

func TestCommitRejectsAnInvalidFloor(t *testing.T) {
	s, err := Open(Options{Path: filepath.Join(t.TempDir(), "cp.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Bind(Identity{AppKey: "a", Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(Commit{Floor: map[string]map[int]int64{"t": {0: -1}}}); err == nil {
		t.Fatal("negative floor offset accepted")
	}
}
