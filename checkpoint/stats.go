package checkpoint

import (
	"os"

	bolt "go.etcd.io/bbolt"
)

// Stats summarises a checkpoint for operators.
type Stats struct {
	Streams    int   // number of streams with a cursor
	Seen       int   // number of dedupe entries (msgids not yet pruned)
	OldestSeen int64 // smallest horizon value in Seen (Unix seconds); 0 if Seen is empty
	NewestSeen int64 // largest horizon value in Seen (Unix seconds); 0 if Seen is empty
	Marks      int   // number of partitions (over all topics) with a Kafka offset mark
	FileSize   int64 // size of the file on disk in bytes (bbolt grows it in steps)
}

// Stats returns the checkpoint's summary in one read transaction. It is
// cheap: Seen comes from the counter that Commit keeps, OldestSeen and
// NewestSeen from the ends of the horizon index; only the (small) cursors
// and marks buckets are walked.
func (s *Store) Stats() (Stats, error) {
	var st Stats
	err := s.view("stats", func(tx *bolt.Tx) error {
		st = Stats{}
		fi, err := os.Stat(s.path)
		if err != nil {
			return err
		}
		st.FileSize = fi.Size()
		if s.fresh {
			return nil
		}
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		count, err := mustUint(b.meta, keySeenCount)
		if err != nil {
			return err
		}
		st.Seen = int(count)
		if err := b.cursors.ForEach(func(_, _ []byte) error {
			st.Streams++
			return nil
		}); err != nil {
			return err
		}
		if b.marks != nil {
			if err := b.marks.ForEach(func(_, _ []byte) error {
				st.Marks++
				return nil
			}); err != nil {
				return err
			}
		}
		cur := b.index.Cursor()
		if k, _ := cur.First(); k != nil {
			h, _, ok := decIndexKey(k)
			if !ok {
				return corruptf("seen_by_horizon key of %d bytes, want 16", len(k))
			}
			st.OldestSeen = h
		}
		if k, _ := cur.Last(); k != nil {
			h, _, ok := decIndexKey(k)
			if !ok {
				return corruptf("seen_by_horizon key of %d bytes, want 16", len(k))
			}
			st.NewestSeen = h
		}
		return nil
	})
	if err != nil {
		return Stats{}, err
	}
	return st, nil
}
