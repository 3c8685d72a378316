package state

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeKafka is a state topic with at most one snapshot and a topic that
// holds records of the app or not.
type fakeKafka struct {
	snap  *Snapshot
	held  bool
	asked int // HoldsRecords calls
}

func (f *fakeKafka) LatestState(context.Context, string) ([]byte, int64, bool, error) {
	if f.snap == nil {
		return nil, 0, false, nil
	}
	b, err := f.snap.Encode()
	return b, 7, true, err
}

func (f *fakeKafka) HoldsRecords(context.Context, int64) (bool, error) {
	f.asked++
	return f.held, nil
}

var id = checkpoint.Identity{AppKey: "app", Topic: "t"}

func snapshot(seq uint64, lineage string) *Snapshot {
	return &Snapshot{Version: Version, AppKey: "app", Topic: "t", Streams: []string{"messages"},
		Cursors: map[string]int64{"messages": 1_700_000_000}, Floor: map[string]map[int]int64{"t": {0: 5, 1: 9}, "t.dlq": {0: 0}},
		PrunedBefore: 1_699_999_000, Sequence: seq, Lineage: lineage}
}

func open(t *testing.T, path string, k *fakeKafka) (Opened, error) {
	t.Helper()
	o, err := Open(t.Context(), Options{Checkpoint: checkpoint.Options{Path: path}, Identity: id, Kafka: k, Logger: discard})
	if err == nil {
		t.Cleanup(func() { o.Store.Close() })
	}
	return o, err
}

// writeFile makes a checkpoint at path with one commit of lineage at seq.
func writeFile(t *testing.T, path, lineage string, seq uint64) {
	t.Helper()
	s, err := checkpoint.Open(checkpoint.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Bind(id); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(checkpoint.Commit{Cursors: map[string]time.Time{"messages": time.Unix(1_600_000_000, 0)}, Sequence: seq, Lineage: lineage,
		Marks: map[string]map[int]int64{"t": {0: 1}}}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRules(t *testing.T) {
	t.Run("new file, no snapshot, empty topic: starts", func(t *testing.T) {
		o, err := open(t, filepath.Join(t.TempDir(), "cp.db"), &fakeKafka{})
		if err != nil || o.Restored || o.Lineage == "" {
			t.Fatalf("Open = %+v, %v; want a new lineage, not restored", o, err)
		}
	})
	t.Run("new file, no snapshot, records of the app: refuses", func(t *testing.T) {
		_, err := open(t, filepath.Join(t.TempDir(), "cp.db"), &fakeKafka{held: true})
		if !errors.Is(err, ErrUnknownHistory) {
			t.Fatalf("Open = %v, want ErrUnknownHistory", err)
		}
	})
	t.Run("new file, no snapshot, topics this process created: starts without asking for records", func(t *testing.T) {
		k := &fakeKafka{held: true} // would refuse if asked
		o, err := Open(t.Context(), Options{Checkpoint: checkpoint.Options{Path: filepath.Join(t.TempDir(), "cp.db")}, Identity: id,
			Kafka: k, NewTopics: true, Logger: discard})
		if err != nil || o.Restored || k.asked != 0 {
			t.Fatalf("Open = %+v, %v after %d HoldsRecords calls; want a start without any", o, err, k.asked)
		}
		o.Store.Close()
	})
	t.Run("missing file: restored from the snapshot", func(t *testing.T) {
		snap := snapshot(40, "L1")
		o, err := open(t, filepath.Join(t.TempDir(), "cp.db"), &fakeKafka{snap: snap})
		if err != nil || !o.Restored || o.Lineage == "L1" {
			t.Fatalf("Open = %+v, %v; want restored with a new lineage", o, err)
		}
		st, err := o.Store.Load()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(st.Marks, snap.Floor) || !reflect.DeepEqual(st.Floor, snap.Floor) || st.Sequence != 40 ||
			st.PrunedBefore != snap.PrunedBefore || st.Lineage != o.Lineage || !st.Cursors["messages"].Equal(time.Unix(1_700_000_000, 0)) {
			t.Fatalf("seeded state %+v, want the snapshot's", st)
		}
	})
	t.Run("file continuing the snapshot: used as it is", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cp.db")
		writeFile(t, path, "L1", 41)
		o, err := open(t, path, &fakeKafka{snap: snapshot(40, "L1")})
		if err != nil || o.Restored || o.Lineage != "L1" || o.MovedAside != "" {
			t.Fatalf("Open = %+v, %v; want the file", o, err)
		}
	})
	for _, c := range []struct {
		name    string
		lineage string
		seq     uint64
	}{{"file behind the snapshot", "L1", 39}, {"file of another lineage", "L0", 99}} {
		t.Run(c.name+": moved aside, restored", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cp.db")
			writeFile(t, path, c.lineage, c.seq)
			o, err := open(t, path, &fakeKafka{snap: snapshot(40, "L1")})
			if err != nil || !o.Restored || !strings.Contains(o.MovedAside, ".superseded-") {
				t.Fatalf("Open = %+v, %v; want restored, the file moved aside", o, err)
			}
			if _, err := os.Stat(o.MovedAside); err != nil {
				t.Fatalf("moved-aside file: %v", err)
			}
		})
	}
	t.Run("corrupt file with a snapshot: moved aside, restored", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cp.db")
		if err := os.WriteFile(path, []byte(strings.Repeat("garbage ", 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := open(t, path, &fakeKafka{snap: snapshot(40, "L1")})
		if err != nil || !o.Restored || !strings.Contains(o.MovedAside, ".corrupt-") {
			t.Fatalf("Open = %+v, %v; want restored, the file moved aside", o, err)
		}
	})
	t.Run("corrupt file without a snapshot: stops", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cp.db")
		if err := os.WriteFile(path, []byte(strings.Repeat("garbage ", 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := open(t, path, &fakeKafka{})
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the corrupt file was moved: %v", err)
		}
	})
	t.Run("snapshot of another topic: refused", func(t *testing.T) {
		snap := snapshot(40, "L1")
		snap.Topic = "other"
		_, err := open(t, filepath.Join(t.TempDir(), "cp.db"), &fakeKafka{snap: snap})
		if !errors.Is(err, ErrIdentity) {
			t.Fatalf("Open = %v, want ErrIdentity", err)
		}
	})
}

// flakyPut fails its first fails calls, then records what it is given.
type flakyPut struct {
	mu    sync.Mutex
	fails int
	got   []uint64
}

func (f *flakyPut) PutState(_ context.Context, _ string, v []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errors.New("broker away")
	}
	s, err := Decode(v)
	if err != nil {
		return err
	}
	f.got = append(f.got, s.Sequence)
	return nil
}

// TestWriterKeepsTheNewestAndRetries: snapshots offered while a write fails
// are replaced by newer ones; the newest is written once the broker is
// back, and the last one is flushed when the run ends.
func TestWriterKeepsTheNewestAndRetries(t *testing.T) {
	put := &flakyPut{fails: 2}
	w := NewWriter(put, "app", discard, nil)
	w.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	for seq := uint64(1); seq <= 5; seq++ {
		w.Offer(*snapshot(seq, "L"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, time.Second)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for w.Written() != 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	w.Offer(*snapshot(6, "L"))
	cancel()
	<-done
	put.mu.Lock()
	defer put.mu.Unlock()
	if w.Written() != 6 || put.got[len(put.got)-1] != 6 {
		t.Fatalf("written %d, put %v; want 6 last", w.Written(), put.got)
	}
	for i := 1; i < len(put.got); i++ {
		if put.got[i] <= put.got[i-1] {
			t.Fatalf("snapshots written out of order: %v", put.got)
		}
	}
}
