package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/imreport/imreport/checkpoint"
)

// kafkaState is what Open asks Kafka (sink.Writer).
type kafkaState interface {
	// LatestState returns the newest record under key in the state topic.
	LatestState(ctx context.Context, key string) (value []byte, offset int64, found bool, err error)
	// HoldsRecords reports whether the topic's last tail records per
	// partition include one of this app.
	HoldsRecords(ctx context.Context, tail int64) (bool, error)
}

// historyTail is how many records per partition Open looks at to tell a
// topic that this app key wrote to before (ErrUnknownHistory).
const historyTail = 1000

// Options configure Open.
type Options struct {
	Checkpoint checkpoint.Options
	Identity   checkpoint.Identity
	Kafka      kafkaState
	// NewTopics says the main and dead-letter topics were created by this
	// process a moment ago and no other instance can have written to them
	// since (no owner group): they hold no records of the app, and Open
	// does not ask Kafka (HoldsRecords costs round trips to a far cluster).
	NewTopics bool
	Logger    *slog.Logger
	Now       func() time.Time // nil = time.Now
}

// Opened is the checkpoint to run on and how Open got it.
type Opened struct {
	Store *checkpoint.Store
	// Lineage is the history the run continues: the file's, or a new one
	// after a restore or for a new checkpoint.
	Lineage string
	// Newest is the newest snapshot in Kafka, nil if none.
	Newest *Snapshot
	// Restored is set when the file was seeded from Newest.
	Restored bool
	// MovedAside is where a corrupt or superseded file went; "" if none.
	MovedAside string
}

// Open opens the checkpoint file, bound to the identity, and makes sure it
// is not behind the newest snapshot in the state topic:
//
//   - a file that continues the snapshot's lineage at the same or a later
//     commit is used as it is (a restart);
//   - a missing or empty file, a corrupt one (moved aside first) and one of
//     another lineage or an earlier commit (moved aside: a pod that owned
//     the app long ago) are replaced by a new file seeded from the snapshot:
//     its cursors, its floor as the marks a read-back starts from, its
//     pruning horizon and sequence, and a new lineage;
//   - without a snapshot, a file with commits is used (written by an older
//     version, or the state topic was lost: snapshots follow); a new file
//     starts over unless the topic holds records of the app key
//     (ErrUnknownHistory: Rebuild writes a snapshot to restore from).
//
// The caller closes Opened.Store.
func Open(ctx context.Context, o Options) (Opened, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	var out Opened
	raw, offset, found, err := o.Kafka.LatestState(ctx, o.Identity.AppKey)
	if err != nil {
		return out, fmt.Errorf("state: newest snapshot: %w", err)
	}
	if found {
		snap, err := Decode(raw)
		if err != nil {
			return out, fmt.Errorf("state: newest snapshot of app key %q (offset %d): %w", o.Identity.AppKey, offset, err)
		}
		if snap.Topic != o.Identity.Topic {
			return out, fmt.Errorf("state: %w: the state topic's snapshot of app key %q is of topic %q, this run writes %q (give each topic its own state topic)",
				ErrIdentity, o.Identity.AppKey, snap.Topic, o.Identity.Topic)
		}
		out.Newest = &snap
	}

	store, st, moved, err := openFile(o, out.Newest != nil, now())
	if err != nil {
		return out, err
	}
	out.MovedAside = moved
	fresh := st.Commits == 0 && len(st.Cursors) == 0
	snap := out.Newest
	switch {
	case snap != nil && !fresh && st.Lineage == snap.Lineage && st.Sequence >= snap.Sequence:
		out.Store, out.Lineage = store, st.Lineage
		o.Logger.Info("checkpoint continues the newest snapshot", "sequence", st.Sequence, "snapshot_sequence", snap.Sequence, "lineage", st.Lineage)
		return out, nil
	case snap != nil && !fresh:
		// Behind the snapshot, or of another history: another instance
		// owned the app since this file was written.
		_ = store.Close()
		o.Logger.Warn("checkpoint file is behind the newest snapshot in the state topic: moving it aside and restoring",
			"file_sequence", st.Sequence, "file_lineage", st.Lineage, "snapshot_sequence", snap.Sequence, "snapshot_lineage", snap.Lineage)
		if out.MovedAside, err = moveAside(o.Checkpoint.Path, "superseded", now()); err != nil {
			return out, err
		}
		o.Logger.Warn("moved the superseded checkpoint aside", "path", out.MovedAside)
		if store, err = openBound(o); err != nil {
			return out, err
		}
		fallthrough
	case snap != nil:
		lineage := newLineage(now())
		if err := seed(store, *snap, lineage, now()); err != nil {
			_ = store.Close()
			return out, err
		}
		out.Store, out.Lineage, out.Restored = store, lineage, true
		o.Logger.Info("restored the checkpoint from the state topic", "sequence", snap.Sequence, "snapshot_lineage", snap.Lineage,
			"snapshot_written", snap.Written, "cursors", snap.CursorTimes(), "pruned_before", snap.PrunedBefore, "floor", snap.Floor)
	case !fresh:
		out.Store, out.Lineage = store, st.Lineage
		o.Logger.Info("no snapshot in the state topic yet: running on the checkpoint file, snapshots follow from its next commit", "commits", st.Commits)
	default:
		held, err := false, error(nil)
		if !o.NewTopics {
			held, err = o.Kafka.HoldsRecords(ctx, historyTail)
		}
		if err != nil {
			_ = store.Close()
			return out, fmt.Errorf("state: look for records of this app: %w", err)
		}
		if held {
			_ = store.Close()
			return out, fmt.Errorf("state: %w: app key %q, topic %q, and the checkpoint is new or was lost. Starting over would publish them again. "+
				"Run `imreport checkpoint rebuild` with the same configuration to rebuild the state from the topic, then run again; "+
				"or put back the checkpoint file of the version that wrote them (it then writes snapshots), or publish into a new topic",
				ErrUnknownHistory, o.Identity.AppKey, o.Identity.Topic)
		}
		out.Store = store
	}
	if out.Lineage == "" {
		out.Lineage = newLineage(now())
	}
	return out, nil
}

// openFile opens and binds the file and loads it; a corrupt file is moved
// aside (named in the log) and a new one opened in its place when there is
// a snapshot to restore from (canRestore), and is an error otherwise.
func openFile(o Options, canRestore bool, now time.Time) (*checkpoint.Store, checkpoint.State, string, error) {
	store, err := openBound(o)
	var st checkpoint.State
	if err == nil {
		st, err = store.Load()
		if err != nil {
			_ = store.Close()
		}
	}
	if err == nil || !errors.Is(err, checkpoint.ErrCorrupt) {
		return store, st, "", err
	}
	if !canRestore {
		// Without a snapshot the file was the only record of what is in
		// Kafka: stop, as before the state topic.
		return nil, st, "", fmt.Errorf("%w (the state topic holds no snapshot to restore from: move the file away only to start over)", err)
	}
	moved, merr := moveAside(o.Checkpoint.Path, "corrupt", now)
	if merr != nil {
		return nil, st, "", errors.Join(err, merr)
	}
	o.Logger.Error("checkpoint corrupt: moved aside, restoring from the state topic", "error", err, "moved_to", moved)
	store, err = openBound(o)
	return store, checkpoint.State{}, moved, err
}

// openBound opens the file and binds it to the identity.
func openBound(o Options) (*checkpoint.Store, error) {
	store, err := checkpoint.Open(o.Checkpoint)
	if err != nil {
		return nil, err
	}
	if err := store.Bind(o.Identity); err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return store, nil
}

// seed writes the snapshot's state into a new file: a read-back from its
// floor at the start of the run then recovers the dedupe set.
func seed(store *checkpoint.Store, s Snapshot, lineage string, now time.Time) error {
	if len(s.Floor) == 0 {
		return fmt.Errorf("state: snapshot %d has no floor: cannot restore", s.Sequence)
	}
	c := checkpoint.Commit{Cursors: s.CursorTimes(), Marks: s.Floor, Floor: s.Floor, PruneBefore: s.PrunedBefore,
		Sequence: s.Sequence, Lineage: lineage, Force: true, Now: now}
	if err := store.Commit(c); err != nil {
		return fmt.Errorf("state: seed the checkpoint from snapshot %d: %w", s.Sequence, err)
	}
	return nil
}

// moveAside renames path to path.WHY-TIME and returns the new name; a
// missing file is not moved ("").
func moveAside(path, why string, now time.Time) (string, error) {
	to := fmt.Sprintf("%s.%s-%s", path, why, now.UTC().Format("20060102T150405.000Z"))
	if err := os.Rename(path, to); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("state: move the checkpoint aside: %w", err)
	}
	return to, nil
}

// newLineage returns a new lineage name: the time and 8 random bytes.
func newLineage(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
