package state

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/pipeline"
)

// rebuildKafka is what Rebuild asks Kafka (sink.Writer).
type rebuildKafka interface {
	// LatestState returns the newest record under key in the state topic.
	LatestState(ctx context.Context, key string) (value []byte, offset int64, found bool, err error)
	// Marks returns, per partition of the main and the dead-letter topic,
	// the end offset (a zero at) or the first offset stamped at or after
	// at.
	Marks(ctx context.Context, at time.Time) (map[string]map[int]int64, error)
	// PutState writes a record of the state topic.
	PutState(ctx context.Context, key string, value []byte) error
}

// RebuildOptions configure Rebuild: the configuration the next run has.
type RebuildOptions struct {
	Checkpoint checkpoint.Options
	Identity   checkpoint.Identity
	// Streams are the configured streams' names (source.Stream.String).
	Streams []string
	// Start, Lookback and Retention are the run's (pipeline.Config):
	// where a stream without a checkpoint starts, and how far behind its
	// cursor it looks again.
	Start     time.Time
	Lookback  time.Duration
	Retention time.Duration // 0 = pipeline.Retention
	Kafka     rebuildKafka
	Now       func() time.Time // nil = time.Now
}

// Rebuilt is the snapshot Rebuild wrote and what a restore from it reads.
type Rebuilt struct {
	Snapshot Snapshot
	// Since is the timestamp the floor was taken at: every record stamped
	// at or after it is at or above the floor.
	Since time.Time
	// Ends are the end offsets when the floor was taken.
	Ends map[string]map[int]int64
	// ReadBack is how many records a restore reads back at most: the end
	// offsets minus the floor, summed (records of other app keys
	// included; more if records are written meanwhile).
	ReadBack int64
	// CorruptFile is set when the checkpoint file could not be read: the
	// next run moves it aside and restores from the snapshot.
	CorruptFile bool
}

// Rebuild writes a snapshot of the app to the state topic, taken from the
// configuration and the topic itself, for a run that Open refused with
// ErrUnknownHistory. It holds no msgid and reads no record:
//
//   - every configured stream's cursor is where a run without a checkpoint
//     starts (pipeline.StartCursor: the start, within the API's
//     retention), so the next run walks everything the API still serves;
//   - the floor is, per partition of the main and the dead-letter topic,
//     the first offset stamped at or after the pruning horizon of those
//     cursors (pipeline.StampedSince). Record timestamps are event times,
//     so every record a query of that walk can return again is at or
//     above it: the restore's read-back finds its msgid, and the walk
//     publishes only what the topic lacks.
//
// It refuses with ErrSnapshotExists when the state topic holds a snapshot
// of the app key, and with ErrFileHasCommits when the checkpoint file
// holds commits (or is locked: checkpoint.ErrLocked, wrapped). A corrupt
// file is left for the run to move aside (Rebuilt.CorruptFile).
func Rebuild(ctx context.Context, o RebuildOptions) (Rebuilt, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var out Rebuilt
	if len(o.Streams) == 0 {
		return out, errors.New("state: rebuild: no streams")
	}
	corrupt, err := checkFresh(o.Checkpoint)
	if err != nil {
		return out, err
	}
	out.CorruptFile = corrupt
	if err := refuseSnapshot(ctx, o.Kafka, o.Identity.AppKey); err != nil {
		return out, err
	}
	snap, since := rebuiltSnapshot(o, now().UTC())
	if out.Ends, err = o.Kafka.Marks(ctx, time.Time{}); err != nil {
		return out, fmt.Errorf("state: rebuild: end offsets: %w", err)
	}
	if snap.Floor, err = o.Kafka.Marks(ctx, since); err != nil {
		return out, fmt.Errorf("state: rebuild: offsets stamped since %s: %w", since.Format(time.RFC3339), err)
	}
	b, err := snap.Encode()
	if err != nil {
		return out, err
	}
	if err := o.Kafka.PutState(ctx, o.Identity.AppKey, b); err != nil {
		return out, fmt.Errorf("state: rebuild: write the snapshot: %w", err)
	}
	out.Snapshot, out.Since = snap, since
	out.ReadBack = readBackSize(snap.Floor, out.Ends)
	return out, nil
}

// rebuiltSnapshot returns the snapshot without its floor, and the
// timestamp to take the floor at.
func rebuiltSnapshot(o RebuildOptions, now time.Time) (Snapshot, time.Time) {
	retention := o.Retention
	if retention == 0 {
		retention = pipeline.Retention
	}
	cursor, _ := pipeline.StartCursor(o.Start, now, retention)
	snap := Snapshot{Version: Version, AppKey: o.Identity.AppKey, Topic: o.Identity.Topic, Cursors: make(map[string]int64, len(o.Streams)),
		Sequence: 1, Lineage: newLineage(now), Written: now}
	cursors := make([]time.Time, 0, len(o.Streams))
	for _, s := range o.Streams {
		snap.Cursors[s] = cursor.Unix()
		cursors = append(cursors, cursor)
	}
	snap.Streams = slices.Sorted(maps.Keys(snap.Cursors))
	horizon := pipeline.PruneBefore(cursors, o.Lookback)
	snap.PrunedBefore = horizon.Unix()
	return snap, pipeline.StampedSince(horizon)
}

// checkFresh makes sure the checkpoint file is missing, or holds no commit
// (a run that Open refused leaves a new file bound to the identity);
// corrupt is set when it cannot be read. It reads the file's counters, not
// its dedupe set.
func checkFresh(o checkpoint.Options) (corrupt bool, err error) {
	if _, err := os.Stat(o.Path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	o.ReadOnly = true
	store, err := checkpoint.Open(o)
	if errors.Is(err, checkpoint.ErrCorrupt) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("state: rebuild: %w (stop the run that holds the checkpoint file)", err)
	}
	defer store.Close()
	st, err := store.Stats()
	if errors.Is(err, checkpoint.ErrCorrupt) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("state: rebuild: %w", err)
	}
	if st.Streams > 0 || st.Seen > 0 || st.Marks > 0 {
		return false, fmt.Errorf("state: rebuild: %w: %s has %d cursors, %d msgids and %d Kafka marks: run `imreport run`, which continues from it and writes snapshots",
			ErrFileHasCommits, o.Path, st.Streams, st.Seen, st.Marks)
	}
	return false, nil
}

// refuseSnapshot returns ErrSnapshotExists when the state topic holds a
// snapshot under key.
func refuseSnapshot(ctx context.Context, k rebuildKafka, key string) error {
	raw, offset, found, err := k.LatestState(ctx, key)
	if err != nil {
		return fmt.Errorf("state: rebuild: newest snapshot: %w", err)
	}
	if !found {
		return nil
	}
	what := fmt.Sprintf("offset %d", offset)
	if s, err := Decode(raw); err == nil {
		what = fmt.Sprintf("sequence %d of lineage %s, written %s", s.Sequence, s.Lineage, s.Written.Format(time.RFC3339))
	}
	return fmt.Errorf("state: rebuild: %w: app key %q (%s): `imreport run` restores from it", ErrSnapshotExists, key, what)
}

// readBackSize sums, over the floor's partitions, the end offset minus the
// floor.
func readBackSize(floor, ends map[string]map[int]int64) int64 {
	var n int64
	for t, ps := range floor {
		for p, off := range ps {
			if end, ok := ends[t][p]; ok && end > off {
				n += end - off
			}
		}
	}
	return n
}
