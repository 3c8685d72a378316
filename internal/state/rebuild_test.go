package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/sink"
)

// rebuildTimeout bounds the broker interactions of a test; it only guards
// against hangs.
const rebuildTimeout = time.Minute

// TestRebuildFromTopic: against a broker holding records stamped before,
// within and after the floor's slack, out of order and in both topics,
// Rebuild writes a snapshot whose cursors are a new run's and whose floor
// lies below every record stamped since the horizon's slack, and above the
// records published before it; Open then restores from it; a second
// Rebuild refuses.
func TestRebuildFromTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), rebuildTimeout)
	defer cancel()
	c := testkit.Kafka(t, kfake.NumBrokers(1))
	w := rebuildWriter(t, ctx, c)

	now := time.Now().UTC().Truncate(time.Second)
	start := now.Add(-10 * 24 * time.Hour)
	lookback := 10 * time.Minute
	horizon := start.Add(-lookback - 2*time.Second)
	// Published in this order: older than the slack, then in it, then
	// after the start with an old one among them, then dead letters
	// stamped when published.
	var recs []sink.Record
	for i, at := range []time.Time{horizon.Add(-3 * time.Hour), horizon.Add(-2 * time.Hour), horizon.Add(-90 * time.Minute)} {
		recs = append(recs, record(int64(100+i), at))
	}
	recs = append(recs, record(200, horizon.Add(-30*time.Minute)), record(201, horizon.Add(-time.Second)))
	for i := range 30 {
		recs = append(recs, record(int64(300+i), start.Add(time.Duration(i)*time.Minute)))
	}
	recs = append(recs, record(400, horizon.Add(-5*time.Hour)))
	for i := range 3 {
		dl := record(int64(500+i), time.Time{})
		dl.DeadLetter = &sink.DeadLetter{Stage: "decode", Reason: "test", Stream: "messages"}
		recs = append(recs, dl)
	}
	for _, r := range recs { // one at a time: the offsets follow this order
		if err := w.Publish(ctx, []sink.Record{r}); err != nil {
			t.Fatal(err)
		}
	}

	streams := []string{"users/b", "messages"}
	opts := RebuildOptions{Checkpoint: checkpoint.Options{Path: filepath.Join(t.TempDir(), "cp.db")}, Identity: checkpoint.Identity{AppKey: "app", Topic: "rb"},
		Streams: streams, Start: start, Lookback: lookback, Kafka: w, Now: func() time.Time { return now }}
	got, err := Rebuild(ctx, opts)
	if err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	snap := got.Snapshot
	if !slices.Equal(snap.Streams, []string{"messages", "users/b"}) || snap.Cursors["messages"] != start.Unix() || snap.Cursors["users/b"] != start.Unix() ||
		snap.PrunedBefore != horizon.Unix() || snap.Sequence != 1 || snap.Lineage == "" || got.CorruptFile {
		t.Fatalf("rebuilt %+v; want every stream at %s, pruned before %s", got, start, horizon)
	}
	if want := pipeline.StampedSince(horizon); !got.Since.Equal(want) {
		t.Errorf("floor taken at %s, want %s", got.Since, want)
	}
	raw, _, found, err := w.LatestState(ctx, "app")
	if err != nil || !found {
		t.Fatalf("LatestState = found %v, %v", found, err)
	}
	if stored, err := Decode(raw); err != nil || !reflect.DeepEqual(stored, snap) {
		t.Fatalf("stored snapshot %+v (%v), want %+v", stored, err, snap)
	}

	// The read-back from the floor: every record stamped since the slack
	// (and the dead letters), and of the older ones only the one published
	// after them.
	var ids []int64
	if _, err := w.ReadBack(ctx, snap.Floor, func(f sink.Found) error {
		ids = append(ids, f.MsgID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	want := []int64{200, 201}
	for i := range 30 {
		want = append(want, int64(300+i))
	}
	want = append(want, 400, 500, 501, 502)
	if !slices.Equal(ids, want) {
		t.Errorf("read back from the floor %v:\n got %v\nwant %v", snap.Floor, ids, want)
	}
	if got.ReadBack != int64(len(want)) {
		t.Errorf("ReadBack = %d, want %d", got.ReadBack, len(want))
	}

	opened, err := Open(ctx, Options{Checkpoint: opts.Checkpoint, Identity: opts.Identity, Kafka: w, Logger: discard})
	if err != nil || !opened.Restored {
		t.Fatalf("Open after Rebuild = %+v, %v; want restored", opened, err)
	}
	st, err := opened.Store.Load()
	opened.Store.Close()
	if err != nil || !reflect.DeepEqual(st.Marks, snap.Floor) || !st.Cursors["users/b"].Equal(start) || st.PrunedBefore != horizon.Unix() {
		t.Fatalf("restored %+v, %v; want the rebuilt snapshot's", st, err)
	}
	if err := os.Remove(opts.Checkpoint.Path); err != nil {
		t.Fatal(err)
	}
	if _, err := Rebuild(ctx, opts); !errors.Is(err, ErrSnapshotExists) {
		t.Fatalf("second Rebuild = %v, want ErrSnapshotExists", err)
	}
}

// TestRebuildClampsToRetention: a start older than the API keeps gives the
// cursor a run without a checkpoint starts from.
func TestRebuildClampsToRetention(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	k := &fakeRebuild{}
	got, err := Rebuild(t.Context(), RebuildOptions{Checkpoint: checkpoint.Options{Path: filepath.Join(t.TempDir(), "cp.db")},
		Identity: id, Streams: []string{"messages"}, Start: now.Add(-200 * 24 * time.Hour), Kafka: k, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := pipeline.StartCursor(now.Add(-200*24*time.Hour), now, pipeline.Retention)
	if got.Snapshot.Cursors["messages"] != want.Unix() || !k.at.Equal(pipeline.StampedSince(want.Add(-2*time.Second))) || k.put == nil {
		t.Fatalf("rebuilt %+v, floor at %s; want the cursor %s", got, k.at, want)
	}
	if got.ReadBack != 7 {
		t.Errorf("ReadBack = %d, want 7 (ends 10+0, floor 3+0)", got.ReadBack)
	}
}

// TestRebuildChecksTheFile: a file with commits and a locked file are
// refused before Kafka is asked; a new file bound by a refused run is
// accepted, a corrupt one too (the run moves it aside).
func TestRebuildChecksTheFile(t *testing.T) {
	rebuild := func(t *testing.T, path string) (Rebuilt, *fakeRebuild, error) {
		k := &fakeRebuild{}
		got, err := Rebuild(t.Context(), RebuildOptions{Checkpoint: checkpoint.Options{Path: path, LockTimeout: 50 * time.Millisecond},
			Identity: id, Streams: []string{"messages"}, Start: time.Now().Add(-time.Hour), Kafka: k})
		return got, k, err
	}
	t.Run("with commits", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cp.db")
		writeFile(t, path, "L1", 3)
		_, k, err := rebuild(t, path)
		if !errors.Is(err, ErrFileHasCommits) || !strings.Contains(err.Error(), "imreport run") || k.asked {
			t.Fatalf("Rebuild = %v (Kafka asked: %v); want ErrFileHasCommits naming imreport run, before Kafka", err, k.asked)
		}
	})
	t.Run("locked", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cp.db")
		s, err := checkpoint.Open(checkpoint.Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, k, err := rebuild(t, path); !errors.Is(err, checkpoint.ErrLocked) || k.asked {
			t.Fatalf("Rebuild = %v (Kafka asked: %v); want ErrLocked", err, k.asked)
		}
	})
	t.Run("bound by a refused run", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cp.db")
		if _, err := Open(t.Context(), Options{Checkpoint: checkpoint.Options{Path: path}, Identity: id, Kafka: &fakeKafka{held: true}, Logger: discard}); !errors.Is(err, ErrUnknownHistory) {
			t.Fatalf("Open = %v, want ErrUnknownHistory", err)
		}
		if got, k, err := rebuild(t, path); err != nil || got.CorruptFile || k.put == nil {
			t.Fatalf("Rebuild = %+v, %v; want a snapshot written", got, err)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cp.db")
		if err := os.WriteFile(path, []byte(strings.Repeat("garbage ", 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, k, err := rebuild(t, path); err != nil || !got.CorruptFile || k.put == nil {
			t.Fatalf("Rebuild = %+v, %v; want a snapshot written and the file reported corrupt", got, err)
		}
	})
}

// fakeRebuild is a state topic without snapshots over topics whose end
// offsets are 10 and 0 and whose floor is 3 and 0.
type fakeRebuild struct {
	asked bool
	at    time.Time
	put   *Snapshot
}

func (f *fakeRebuild) LatestState(context.Context, string) ([]byte, int64, bool, error) {
	f.asked = true
	return nil, 0, false, nil
}

func (f *fakeRebuild) Marks(_ context.Context, at time.Time) (map[string]map[int]int64, error) {
	f.asked = true
	if at.IsZero() {
		return map[string]map[int]int64{"t": {0: 10}, "t.dlq": {0: 0}}, nil
	}
	f.at = at
	return map[string]map[int]int64{"t": {0: 3}, "t.dlq": {0: 0}}, nil
}

func (f *fakeRebuild) PutState(_ context.Context, _ string, v []byte) error {
	s, err := Decode(v)
	f.put = &s
	return err
}

// rebuildWriter returns a writer of topic "rb" (3 partitions) for app key
// "app", its topics created.
func rebuildWriter(t *testing.T, ctx context.Context, c *kfake.Cluster) *sink.Writer {
	t.Helper()
	w, err := sink.New(sink.Config{Brokers: c.ListenAddrs(), Topic: "rb", AppKey: "app", CreateTopic: true, Partitions: 3, ReplicationFactor: 1, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	if _, err := w.EnsureTopic(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// record is a main-topic record of msgid stamped at (zero: when published).
func record(msgid int64, at time.Time) sink.Record {
	return sink.Record{Key: "conv", Value: []byte("v"), MsgID: msgid, MsgType: "text", Time: at}
}
