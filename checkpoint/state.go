package checkpoint

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// State is the whole content of a checkpoint, as returned by Load.
type State struct {
	// Identity is the bound identity; zero if Bind never stored one.
	Identity Identity

	// Cursors maps stream name to cursor (UTC, whole seconds): the end of
	// the stream's last fully published window. Never nil.
	Cursors map[string]time.Time

	// Seen maps each msgid published and not yet pruned to its horizon
	// value (Unix seconds; the pipeline uses a second past the message's
	// create_time, or the end of the window it was published under).
	// Never nil.
	Seen map[int64]int64

	// Marks maps topic -> partition -> Kafka offset as last committed in
	// Commit.Marks: every record written at or above a mark may be unknown
	// to the checkpoint. Empty for a file that never had marks committed
	// (including one written by a build without marks). Never nil.
	Marks map[string]map[int]int64

	// Commits is how many Commits have been applied to the file.
	Commits uint64

	// PrunedBefore is the highest Commit.PruneBefore ever applied (Unix
	// seconds; 0 if none): seen entries with a horizon below it may have
	// been deleted, so a query reaching below it can return messages that
	// were published but are no longer known.
	PrunedBefore int64

	// Updated is the time of the last Commit (UTC), zero if none.
	Updated time.Time

	// Floor is the last Commit.Floor stored: Kafka offsets below every
	// record whose msgid is in Seen. nil when none was ever stored (a file
	// of an older build).
	Floor map[string]map[int]int64

	// Sequence is the last Commit.Sequence stored; 0 if none.
	Sequence uint64

	// Lineage is the last Commit.Lineage stored; "" if none.
	Lineage string
}

// Load reads the whole checkpoint in one read transaction. It also checks
// that the seen bucket, its horizon index and the stored count agree
// (ErrCorrupt if not), so it costs two passes over the dedupe set: call it
// once at start-up, and use Stats for monitoring.
func (s *Store) Load() (State, error) {
	var st State
	err := s.view("load", func(tx *bolt.Tx) error {
		st = State{Cursors: map[string]time.Time{}, Seen: map[int64]int64{}, Marks: map[string]map[int]int64{}}
		if s.fresh {
			return nil
		}
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		if st.Identity, err = readIdentity(b.meta); err != nil {
			return err
		}
		if st.Commits, err = mustUint(b.meta, keyCommits); err != nil {
			return err
		}
		if err := readLineage(b.meta, &st); err != nil {
			return err
		}
		if pb, ok, err := getUint(b.meta, keyPrunedBefore); err != nil {
			return err
		} else if ok {
			st.PrunedBefore = int64(pb)
		}
		if ns, ok, err := getUint(b.meta, keyUpdated); err != nil {
			return err
		} else if ok {
			st.Updated = time.Unix(0, int64(ns)).UTC()
		}
		count, err := mustUint(b.meta, keySeenCount)
		if err != nil {
			return err
		}

		if err := b.cursors.ForEach(func(k, v []byte) error {
			sec, ok := dec8(v)
			if !ok {
				return corruptf("cursor of stream %q is %d bytes, want 8", k, len(v))
			}
			st.Cursors[string(k)] = time.Unix(int64(sec), 0).UTC()
			return nil
		}); err != nil {
			return err
		}

		if err := loadMarks(b.marks, st.Marks); err != nil {
			return err
		}

		st.Seen = make(map[int64]int64, int(min(count, 1<<24)))
		if err := b.seen.ForEach(func(k, v []byte) error {
			id, okK := dec8(k)
			h, okV := dec8(v)
			if !okK || !okV {
				return corruptf("seen entry of %d/%d bytes, want 8/8", len(k), len(v))
			}
			st.Seen[int64(id)] = int64(h)
			return nil
		}); err != nil {
			return err
		}
		if uint64(len(st.Seen)) != count {
			return corruptf("seen holds %d entries, meta counts %d", len(st.Seen), count)
		}

		var indexed int
		if err := b.index.ForEach(func(k, v []byte) error {
			h, id, ok := decIndexKey(k)
			if !ok || len(v) != 0 {
				return corruptf("seen_by_horizon entry of %d/%d bytes, want 16/0", len(k), len(v))
			}
			if got, ok := st.Seen[id]; !ok || got != h {
				return corruptf("seen_by_horizon has msgid %d at horizon %d, seen does not", id, h)
			}
			indexed++
			return nil
		}); err != nil {
			return err
		}
		if indexed != len(st.Seen) {
			return corruptf("seen holds %d entries, seen_by_horizon %d", len(st.Seen), indexed)
		}
		return nil
	})
	if err != nil {
		return State{}, err
	}
	return st, nil
}

// loadMarks reads the marks bucket into out; a nil bucket (a file that
// predates it, opened read-only) reads as empty.
func loadMarks(marks *bolt.Bucket, out map[string]map[int]int64) error {
	if marks == nil {
		return nil
	}
	return marks.ForEach(func(k, v []byte) error {
		topic, p, ok := decMarkKey(k)
		if !ok {
			return corruptf("malformed marks key %q", k)
		}
		off, ok := dec8(v)
		if !ok || int64(off) < 0 {
			return corruptf("mark of topic %q partition %d: value of %d bytes or negative, want 8 and not negative", topic, p, len(v))
		}
		if out[topic] == nil {
			out[topic] = map[int]int64{}
		}
		out[topic][int(p)] = int64(off)
		return nil
	})
}
