package checkpoint

import (
	"encoding/binary"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// layoutVersion is the only layout this build reads and writes.
const layoutVersion = 1

var (
	bucketMeta          = []byte("meta")
	bucketCursors       = []byte("cursors")
	bucketSeen          = []byte("seen")
	bucketSeenByHorizon = []byte("seen_by_horizon")
	// bucketMarks was added after the first release of layout 1: files
	// written before lack it. A writable Open adds it; a read-only Store
	// treats a missing one as empty.
	bucketMarks = []byte("marks")

	keyVersion   = []byte("version")
	keyAppKey    = []byte("app_key")
	keyTopic     = []byte("topic")
	keyCommits   = []byte("commits")
	keySeenCount = []byte("seen_count")
	keyUpdated   = []byte("updated")
	// keyPrunedBefore is the highest PruneBefore ever applied (absent
	// until the first pruning, and in files written before it existed).
	keyPrunedBefore = []byte("pruned_before")
)

// errNoLayout is returned by openBuckets for a file without a meta bucket.
// It never leaves the package: callers turn it into an empty checkpoint, a
// fresh layout or ErrCorrupt.
var errNoLayout = errors.New("no checkpoint layout")

// buckets are the top-level buckets of one transaction.
type buckets struct {
	meta, cursors, seen, index *bolt.Bucket
	// marks is nil in a file written before the bucket existed and not yet
	// opened writable since (see bucketMarks).
	marks *bolt.Bucket
}

// openBuckets returns the layout's buckets after checking the layout
// version. It returns errNoLayout if there is no meta bucket. A missing
// marks bucket is not an error: b.marks is nil then.
func openBuckets(tx *bolt.Tx) (buckets, error) {
	b := buckets{
		meta:    tx.Bucket(bucketMeta),
		cursors: tx.Bucket(bucketCursors),
		seen:    tx.Bucket(bucketSeen),
		index:   tx.Bucket(bucketSeenByHorizon),
		marks:   tx.Bucket(bucketMarks),
	}
	if b.meta == nil {
		return b, errNoLayout
	}
	v, ok, err := getUint(b.meta, keyVersion)
	if err != nil {
		return b, err
	}
	if !ok {
		return b, corruptf("meta has no layout version")
	}
	if v != layoutVersion {
		return b, corruptf("layout version %d, this build understands %d only", v, layoutVersion)
	}
	for _, m := range []struct {
		b    *bolt.Bucket
		name []byte
	}{{b.cursors, bucketCursors}, {b.seen, bucketSeen}, {b.index, bucketSeenByHorizon}} {
		if m.b == nil {
			return b, corruptf("bucket %q missing", m.name)
		}
	}
	return b, nil
}

// firstBucket returns the name of some top-level bucket, or nil if the
// database has none.
func firstBucket(tx *bolt.Tx) []byte {
	k, _ := tx.Cursor().First()
	return k
}

// initLayout creates the layout in a database that has no buckets at all.
// A database holding other buckets is not a checkpoint: ErrCorrupt.
func initLayout(tx *bolt.Tx) error {
	if name := firstBucket(tx); name != nil {
		return corruptf("not a checkpoint file: bucket %q but no %q bucket", name, bucketMeta)
	}
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketCursors, bucketSeen, bucketSeenByHorizon, bucketMarks} {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	for _, kv := range []struct {
		k []byte
		v uint64
	}{{keyVersion, layoutVersion}, {keyCommits, 0}, {keySeenCount, 0}} {
		if err := meta.Put(kv.k, encUint(kv.v)); err != nil {
			return err
		}
	}
	return nil
}

// addMarks creates the marks bucket in a file whose layout predates it
// (the only migration of layout 1). The rest of the layout must be valid.
func addMarks(tx *bolt.Tx) error {
	if _, err := openBuckets(tx); err != nil {
		return err
	}
	_, err := tx.CreateBucketIfNotExists(bucketMarks)
	return err
}

// markKey encodes a marks key: the topic, a NUL byte, then the partition as
// 4 bytes big-endian. Kafka topic names cannot contain NUL, and the fixed
// suffix makes the split unambiguous anyway.
func markKey(topic string, partition int32) []byte {
	k := make([]byte, 0, len(topic)+5)
	k = append(k, topic...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(partition))
}

// decMarkKey splits a marks key; ok is false if it is malformed: an empty
// topic, no NUL before the 4-byte partition, or a negative partition.
func decMarkKey(k []byte) (topic string, partition int32, ok bool) {
	if len(k) < 6 || k[len(k)-5] != 0 {
		return "", 0, false
	}
	p := int32(binary.BigEndian.Uint32(k[len(k)-4:]))
	if p < 0 {
		return "", 0, false
	}
	return string(k[:len(k)-5]), p, true
}

// encUint encodes v as 8 bytes big-endian.
func encUint(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

// encInt encodes v as 8 bytes big-endian two's complement.
func encInt(v int64) []byte { return encUint(uint64(v)) }

// decIndexKey splits a seen_by_horizon key; ok is false if it is not 16 bytes.
func decIndexKey(k []byte) (horizon, msgid int64, ok bool) {
	if len(k) != 16 {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(k[:8])), int64(binary.BigEndian.Uint64(k[8:])), true
}

// dec8 decodes an 8-byte big-endian value; ok is false for any other size.
func dec8(v []byte) (uint64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// getUint reads an 8-byte value from bucket b. ok is false if the key is
// absent; a value of another size is ErrCorrupt.
func getUint(b *bolt.Bucket, key []byte) (v uint64, ok bool, err error) {
	raw := b.Get(key)
	if raw == nil {
		return 0, false, nil
	}
	v, ok = dec8(raw)
	if !ok {
		return 0, false, corruptf("value of %q is %d bytes, want 8", key, len(raw))
	}
	return v, true, nil
}

// mustUint reads an 8-byte meta value that the layout always has.
func mustUint(b *bolt.Bucket, key []byte) (uint64, error) {
	v, ok, err := getUint(b, key)
	if err == nil && !ok {
		err = corruptf("meta has no %q", key)
	}
	return v, err
}
