package checkpoint

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Commit is one atomic step of progress, applied by Store.Commit.
type Commit struct {
	// Cursors holds the streams whose cursor moves; other streams keep
	// theirs. A cursor is stored as whole Unix seconds (a fractional second
	// is truncated down). Moving a cursor to an earlier second than the
	// stored one fails with ErrCursorBackwards unless Force is set; the
	// same second is fine. Stream names must be non-empty and cursors
	// non-zero.
	Cursors map[string]time.Time

	// Seen holds the msgids newly published, each with its horizon value
	// (Unix seconds, not negative). A msgid already stored keeps the larger
	// of its stored and new horizon.
	Seen map[int64]int64

	// PruneBefore deletes every Seen entry whose horizon value is below it
	// (Unix seconds); 0 or negative prunes nothing. Pruning is applied last,
	// so it also drops entries of this Commit's Seen below the horizon.
	PruneBefore int64

	// Marks holds Kafka offsets, topic -> partition -> offset, each saying:
	// every record the pipeline wrote to that partition at or above this
	// offset may be unknown to the checkpoint; everything below it is
	// recorded (in Seen or behind a cursor). nil or empty keeps the stored
	// marks; a topic's map replaces only the partitions it lists, the
	// topic's other partitions and other topics keep theirs. A mark may move
	// backwards (a lower mark only makes a read-back read more). Topics must
	// be non-empty without a NUL byte, partitions 0 to 2^31-1, offsets not
	// negative.
	Marks map[string]map[int]int64

	// Force allows moving a cursor backwards (an operator's re-run).
	Force bool

	// Now is recorded as State.Updated; zero means time.Now().
	Now time.Time

	// Floor, when not nil, replaces the stored floor (State.Floor): Kafka
	// offsets, topic -> partition -> offset, below every record whose
	// msgid is still in Seen (or held by the caller). A restore from a
	// snapshot, which holds no msgids, reads back from there. Same
	// constraints as Marks.
	Floor map[string]map[int]int64

	// Sequence, when not zero, is stored as State.Sequence: the caller's
	// commit sequence, which continues across restores (the snapshot in
	// Kafka carries the same number).
	Sequence uint64

	// Lineage, when not empty, is stored as State.Lineage: the history
	// this file continues (a new one starts at each restore).
	Lineage string
}

// Commit applies c in exactly one bbolt read-write transaction, fsynced
// before Commit returns: either all of it (cursors, seen entries, pruning,
// marks, commit counter and time) is durable, or, when Commit returns an error,
// none of it. It fails with ErrReadOnly on a read-only Store, with
// ErrUnbound if Bind never stored an identity, and with ErrCursorBackwards
// (see Commit.Cursors).
func (s *Store) Commit(c Commit) error {
	if s.readOnly {
		return s.errorf("commit", ErrReadOnly)
	}
	streams := make([]string, 0, len(c.Cursors))
	for name, t := range c.Cursors {
		if name == "" {
			return s.errorf("commit", fmt.Errorf("empty stream name"))
		}
		if t.IsZero() {
			return s.errorf("commit", fmt.Errorf("zero cursor for stream %q", name))
		}
		streams = append(streams, name)
	}
	slices.Sort(streams) // deterministic: the first backwards stream by name is reported
	msgids := make([]int64, 0, len(c.Seen))
	for id, h := range c.Seen {
		if h < 0 {
			return s.errorf("commit", fmt.Errorf("negative horizon %d for msgid %d", h, id))
		}
		msgids = append(msgids, id)
	}
	slices.Sort(msgids) // ascending keys: bbolt inserts them with less page churn
	marks, err := sortedMarks(c.Marks)
	if err != nil {
		return s.errorf("commit", err)
	}
	var floor []byte
	if c.Floor != nil {
		if floor, err = encFloor(c.Floor); err != nil {
			return s.errorf("commit", err)
		}
	}
	now := c.Now
	if now.IsZero() {
		now = time.Now()
	}

	return s.update("commit", func(tx *bolt.Tx) error {
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		id, err := readIdentity(b.meta)
		if err != nil {
			return err
		}
		if id.isZero() {
			return fmt.Errorf("%w: call Bind before the first Commit", ErrUnbound)
		}
		commits, err := mustUint(b.meta, keyCommits)
		if err != nil {
			return err
		}
		count, err := mustUint(b.meta, keySeenCount)
		if err != nil {
			return err
		}

		for _, name := range streams {
			if err := putCursor(b.cursors, name, c.Cursors[name], c.Force); err != nil {
				return err
			}
		}
		// bbolt copies keys on Put but keeps values until the commit, so
		// values come from one slab per Commit and keys from scratch.
		sc := &scratch{slab: make([]byte, 0, 8*len(msgids))}
		index := make([]indexEntry, 0, len(msgids))
		for _, id := range msgids {
			added, put, err := putSeen(b, sc, id, c.Seen[id])
			if err != nil {
				return err
			}
			if added {
				count++
			}
			if put {
				index = append(index, indexEntry{c.Seen[id], id})
			}
		}
		if err := putIndex(b, sc, index); err != nil {
			return err
		}
		if c.PruneBefore > 0 {
			pruned, err := prune(b, sc, c.PruneBefore)
			if err != nil {
				return err
			}
			if pruned > count {
				return corruptf("pruned %d seen entries, meta counted %d", pruned, count)
			}
			count -= pruned
			prev, _, err := getUint(b.meta, keyPrunedBefore)
			if err != nil {
				return err
			}
			if c.PruneBefore > int64(prev) {
				if err := b.meta.Put(keyPrunedBefore, encInt(c.PruneBefore)); err != nil {
					return err
				}
			}
		}

		if len(marks) > 0 && b.marks == nil {
			// Only a read-only Store can see a file without the bucket,
			// and it never gets here; create it anyway rather than fail.
			if b.marks, err = tx.CreateBucketIfNotExists(bucketMarks); err != nil {
				return err
			}
		}
		for _, m := range marks {
			if err := b.marks.Put(m.key, encInt(m.offset)); err != nil {
				return err
			}
		}

		if err := putLineage(b.meta, c, floor); err != nil {
			return err
		}
		if err := b.meta.Put(keySeenCount, encUint(count)); err != nil {
			return err
		}
		if err := b.meta.Put(keyCommits, encUint(commits+1)); err != nil {
			return err
		}
		return b.meta.Put(keyUpdated, encInt(now.UnixNano()))
	})
}

// mark is one validated Commit.Marks entry with its encoded key.
type mark struct {
	key    []byte
	offset int64
}

// sortedMarks validates c.Marks and returns its entries in key order.
func sortedMarks(in map[string]map[int]int64) ([]mark, error) {
	var out []mark
	for topic, parts := range in {
		if topic == "" || strings.IndexByte(topic, 0) >= 0 {
			return nil, fmt.Errorf("mark for an invalid topic name %q (empty or with a NUL byte)", topic)
		}
		for p, off := range parts {
			if p < 0 || p > math.MaxInt32 {
				return nil, fmt.Errorf("mark for topic %q: partition %d out of range", topic, p)
			}
			if off < 0 {
				return nil, fmt.Errorf("negative mark %d for topic %q partition %d", off, topic, p)
			}
			out = append(out, mark{key: markKey(topic, int32(p)), offset: off})
		}
	}
	slices.SortFunc(out, func(a, b mark) int { return bytes.Compare(a.key, b.key) })
	return out, nil
}

// putCursor stores the cursor of one stream, refusing to move it backwards
// unless force.
func putCursor(cursors *bolt.Bucket, name string, t time.Time, force bool) error {
	key := []byte(name)
	next := t.Unix()
	if raw := cursors.Get(key); raw != nil {
		prev, ok := dec8(raw)
		if !ok {
			return corruptf("cursor of stream %q is %d bytes, want 8", name, len(raw))
		}
		if next < int64(prev) && !force {
			return fmt.Errorf("%w: stream %q from %s to %s (Force allows it)", ErrCursorBackwards, name,
				time.Unix(int64(prev), 0).UTC().Format(time.RFC3339), time.Unix(next, 0).UTC().Format(time.RFC3339))
		}
	}
	return cursors.Put(key, encInt(next))
}

// scratch holds a Commit's reusable key buffers and its slab of values.
type scratch struct {
	key  [8]byte
	ikey [16]byte
	slab []byte
}

// seenKey encodes msgid into the reusable seen key buffer.
func (sc *scratch) seenKey(msgid int64) []byte {
	binary.BigEndian.PutUint64(sc.key[:], uint64(msgid))
	return sc.key[:]
}

// indexKey encodes horizon||msgid into the reusable index key buffer.
func (sc *scratch) indexKey(horizon, msgid int64) []byte {
	binary.BigEndian.PutUint64(sc.ikey[:8], uint64(horizon))
	binary.BigEndian.PutUint64(sc.ikey[8:], uint64(msgid))
	return sc.ikey[:]
}

// value returns v encoded in 8 bytes that stay valid until the commit.
func (sc *scratch) value(v int64) []byte {
	n := len(sc.slab)
	sc.slab = binary.BigEndian.AppendUint64(sc.slab, uint64(v))
	return sc.slab[n : n+8 : n+8]
}

// putSeen records msgid at horizon in seen, keeping the larger horizon if
// the msgid is stored already, and deletes the msgid's old entry from the
// index. added reports a new msgid; put reports that the index needs the
// entry (horizon, msgid), which putIndex adds.
func putSeen(b buckets, sc *scratch, msgid, horizon int64) (added, put bool, err error) {
	key := sc.seenKey(msgid)
	if raw := b.seen.Get(key); raw != nil {
		prev, ok := dec8(raw)
		if !ok {
			return false, false, corruptf("seen value of msgid %d is %d bytes, want 8", msgid, len(raw))
		}
		if horizon <= int64(prev) {
			return false, false, nil
		}
		old := sc.indexKey(int64(prev), msgid)
		if b.index.Get(old) == nil {
			return false, false, corruptf("msgid %d at horizon %d is missing from seen_by_horizon", msgid, prev)
		}
		if err := b.index.Delete(old); err != nil {
			return false, false, err
		}
	} else {
		added = true
	}
	if err := b.seen.Put(key, sc.value(horizon)); err != nil {
		return false, false, err
	}
	return added, true, nil
}

// indexEntry is one key of seen_by_horizon: horizon||msgid.
type indexEntry struct{ horizon, msgid int64 }

// putIndex adds entries to seen_by_horizon in key order. bbolt keeps a
// node's keys in one sorted slice until the transaction commits, so keys put
// out of order shift that slice on every insert: a window's msgids in msgid
// order land at random places among its horizons, which cost a commit of n
// msgids n^2/2 moves (about half the CPU of a fast backfill).
func putIndex(b buckets, sc *scratch, entries []indexEntry) error {
	slices.SortFunc(entries, func(x, y indexEntry) int {
		if c := cmp.Compare(x.horizon, y.horizon); c != 0 {
			return c
		}
		return cmp.Compare(x.msgid, y.msgid)
	})
	for _, e := range entries {
		if err := b.index.Put(sc.indexKey(e.horizon, e.msgid), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// prune deletes the entries whose horizon is below before from both seen
// buckets. It walks seen_by_horizon from its first key and stops at the
// first key at or above before, so it touches only what it deletes.
//
// The keys are collected first and deleted after: deleting under the
// cursor would need a restart at First after each delete (bbolt's
// Cursor.Next after Cursor.Delete can skip the following key), and First
// walks past every leaf emptied so far in the transaction, which made a
// prune of n entries cost n^2.
func prune(b buckets, sc *scratch, before int64) (pruned uint64, err error) {
	var doomed [][16]byte
	cur := b.index.Cursor()
	for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
		h, msgid, ok := decIndexKey(k)
		if !ok {
			return pruned, corruptf("seen_by_horizon key of %d bytes, want 16", len(k))
		}
		if h < 0 {
			return pruned, corruptf("seen_by_horizon has negative horizon %d", h)
		}
		if h >= before {
			break
		}
		sk := sc.seenKey(msgid)
		raw := b.seen.Get(sk)
		if v, ok := dec8(raw); !ok || int64(v) != h {
			return pruned, corruptf("seen_by_horizon has msgid %d at horizon %d, seen does not", msgid, h)
		}
		doomed = append(doomed, [16]byte(k))
	}
	for i := range doomed {
		_, msgid, _ := decIndexKey(doomed[i][:])
		if err := b.seen.Delete(sc.seenKey(msgid)); err != nil {
			return pruned, err
		}
		if err := b.index.Delete(doomed[i][:]); err != nil {
			return pruned, err
		}
		pruned++
	}
	return pruned, nil
}
