package pipeline

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
)

// floorInvariant checks a snapshot against everything Kafka holds: every
// record whose msgid the dedupe set can still hold (created at or after
// the pruning horizon: a horizon is at least the create_time) is at or
// above the floor. It returns how many records lie at or above the floor.
func floorInvariant(pub *fakePublisher, created map[int64]int64, s Snapshot) (int, error) {
	floor, ok := s.Floor[fakeTopic][0]
	if !ok {
		floor = 0 // missing: a read-back reads the partition from its start
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	for off := int64(0); off < floor && off < int64(len(pub.log)); off++ {
		id := pub.log[off].MsgID
		if created[id] >= s.PrunedBefore {
			return 0, fmt.Errorf("snapshot %d: floor %d passes offset %d, msgid %d created %d, at or after the pruning horizon %d",
				s.Sequence, floor, off, id, created[id], s.PrunedBefore)
		}
	}
	return len(pub.log) - int(min(floor, int64(len(pub.log)))), nil
}

// TestSnapshotFloorIsBelowEveryMsgidInTheDedupeSet: with windows fetched
// side by side and a lookback that keeps msgids across many commits, every
// snapshot's floor is below every record the dedupe set can hold, and it
// moves: a restore reads the lookback's records, not the history.
func TestSnapshotFloorIsBelowEveryMsgidInTheDedupeSet(t *testing.T) {
	const window = 10 * time.Minute
	start, end := t0, t0.Add(6*time.Hour)
	msgs := generate(t, 7, start, end.Sub(start), 6000, 0, 0)
	created := createdOf(msgs)
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, window)
	cfg.FetchConcurrency = 3
	cfg.Lookback = 30 * time.Minute
	var mu sync.Mutex
	var snaps []Snapshot
	var last int
	var problems []error
	cfg.OnSnapshot = func(s Snapshot) {
		n, err := floorInvariant(pub, created, s)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			problems = append(problems, err)
		}
		if len(snaps) > 0 && s.Sequence <= snaps[len(snaps)-1].Sequence {
			problems = append(problems, fmt.Errorf("snapshot sequence %d after %d", s.Sequence, snaps[len(snaps)-1].Sequence))
		}
		snaps, last = append(snaps, s), n
	}
	if err := run(t, t.Context(), mustNew(t, cfg, &fakeFetcher{msgs: msgs, pageSize: 50}, pub, cp)); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	if err := errors.Join(problems...); err != nil {
		t.Fatal(err)
	}
	if len(snaps) < 10 {
		t.Fatalf("%d snapshots, want one per commit", len(snaps))
	}
	// The floor moves: it never goes back, and the last one is above the
	// start of the history, so a restore at the end does not read it all.
	// (How far it lags the lookback depends on how many pages each commit
	// covers, which depends on how many were gathered into each write:
	// timing. Measured 30% to 78% of the history, under load; the e2e
	// TestLostVolume measures a restore against real Kafka.)
	for i := 1; i < len(snaps); i++ {
		if prev, cur := snaps[i-1].Floor[fakeTopic][0], snaps[i].Floor[fakeTopic][0]; cur < prev {
			t.Errorf("snapshot %d: floor %d below the previous %d", snaps[i].Sequence, cur, prev)
		}
	}
	if last >= len(msgs) {
		t.Errorf("a restore from the last snapshot reads all %d records: the floor never moved", len(msgs))
	}
	st := cp.State()
	if st.Sequence != snaps[len(snaps)-1].Sequence || st.Floor == nil {
		t.Errorf("checkpoint sequence %d floor %v, want the last snapshot's %d", st.Sequence, st.Floor, snaps[len(snaps)-1].Sequence)
	}
	t.Logf("%d snapshots; a restore from the last reads %d of %d records", len(snaps), last, len(msgs))
}

// TestRestoreFromASnapshotMidRun: the checkpoint is lost in the middle of a
// backfill (its commits fail from then on); a new one seeded from the last
// snapshot alone (cursors, floor as marks, pruning horizon) publishes the
// rest exactly once.
func TestRestoreFromASnapshotMidRun(t *testing.T) {
	const window = 10 * time.Minute
	start, end := t0, t0.Add(4*time.Hour)
	msgs := generate(t, 11, start, end.Sub(start), 4000, 0, 0)
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	half := start.Add(end.Sub(start) / 2)
	// Every commit that would move the cursor past half fails: how many
	// commits there are depends on how many pages each write gathered.
	cp.check = func(c checkpoint.Commit, before checkpoint.State) error {
		if cur, ok := c.Cursors["messages"]; ok && cur.After(half) {
			return errors.New("volume gone")
		}
		return nil
	}
	cfg := boundedConfig(start, end, window)
	cfg.FetchConcurrency = 2
	cfg.Lookback = 20 * time.Minute
	var snap Snapshot
	cfg.OnSnapshot = func(s Snapshot) { snap = s }
	if err := run(t, t.Context(), mustNew(t, cfg, &fakeFetcher{msgs: msgs, pageSize: 40}, pub, cp)); err == nil {
		t.Fatal("first run succeeded although its checkpoint failed")
	}
	before := len(pub.Acked())
	if snap.Sequence == 0 || before == 0 || before == len(msgs) {
		t.Fatalf("test setup: snapshot %d, %d of %d published before the loss", snap.Sequence, before, len(msgs))
	}

	fresh := newFakeCheckpoint()
	if err := fresh.Commit(checkpoint.Commit{Cursors: snap.Cursors, Marks: snap.Floor, Floor: snap.Floor,
		PruneBefore: snap.PrunedBefore, Sequence: snap.Sequence, Lineage: "restored"}); err != nil {
		t.Fatal(err)
	}
	cfg.OnSnapshot = nil
	p2 := mustNew(t, cfg, &fakeFetcher{msgs: msgs, pageSize: 40}, pub, fresh)
	if err := run(t, t.Context(), p2); err != nil {
		t.Fatalf("run after the restore: %v", err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	if got := fresh.State().Sequence; got <= snap.Sequence {
		t.Errorf("sequence %d after the restore, want it to continue past %d", got, snap.Sequence)
	}
	t.Logf("%d of %d published before the loss; the restore recovered %d msgids", before, len(msgs), p2.Stats().Recovered)
}
