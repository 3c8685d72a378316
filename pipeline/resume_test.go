package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

// TestTailFindsLateArrivalByRescan runs without End against a fake clock
// that the poll wait advances. After the second poll a message appears whose
// send time is behind the cursor but inside the lookback: a rescan must
// publish it, once, however often later rescans see it again.
func TestTailFindsLateArrivalByRescan(t *testing.T) {
	const (
		window   = 5 * time.Minute
		lookback = 5 * time.Minute
		poll     = 30 * time.Second
	)
	T0 := t0.Add(12 * time.Hour)
	base := generate(t, 9, T0.Add(-10*time.Minute), 15*time.Minute, 150, 0, 0)
	tf := newTailFakes(T0, base, 20)
	clock, f, pub, cp := tf.clock, tf.f, tf.pub, tf.cp
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var (
		polls     int
		late      fakeMsg
		addedAt   time.Time // the cursor when late was added
		sleepErrs []error
	)
	cfg := tailConfig(T0.Add(-10*time.Minute), clock, window, lookback, poll)
	// At each poll every window planned so far has been committed (one
	// fetcher, so every rescan planned before the last window was
	// processed too).
	cfg.Sleep = pollSleep(clock, cp, "messages", func(_ context.Context, n int, now time.Time, d time.Duration) error {
		polls = n
		if d != poll {
			sleepErrs = append(sleepErrs, fmt.Errorf("poll %d waits %v, want %v", polls, d, poll))
		}
		switch polls {
		case 2:
			addedAt = now
			late = textMsg(999_000_001, now.Add(-2*time.Minute))
			f.add(late)
		case 5:
			cancel()
			return context.Canceled
		}
		return nil
	})
	p := mustNew(t, cfg, f, pub, cp)
	if err := run(t, ctx, p); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	for _, err := range sleepErrs {
		t.Error(err)
	}
	if polls != 5 {
		t.Fatalf("%d polls, want 5", polls)
	}

	acked := pub.Acked()
	if acked[late.ID] != 1 {
		t.Fatalf("late message acknowledged %d times, want 1", acked[late.ID])
	}
	served := f.Served(late.ID)
	s := p.Stats()
	// Later polls look at its window again: either they fetch it (and skip
	// it as a duplicate), or its total matched what was served and the
	// fetch was skipped.
	if len(served) == 0 || (len(served) < 2 && s.RescanSkips == 0) {
		t.Errorf("late message served %d times and %d rescans skipped: want it looked at again by later rescans", len(served), s.RescanSkips)
	}
	for _, w := range served {
		if !w.From.Before(addedAt) || w.To.Sub(w.From) > window {
			t.Errorf("late message served by %v, not a rescan behind the cursor %v", w, addedAt)
		}
	}
	// It was first served by a rescan: the one planned just before the
	// poll that added it (if it was fetched after the add) or the one
	// after, [cursor-lookback, cursor) either way.
	wantHorizon := served[0].To
	if !wantHorizon.Equal(addedAt) && !wantHorizon.Equal(addedAt.Add(poll)) {
		t.Errorf("late message first served by %v, want the rescan ending at %v or %v", served[0], addedAt, addedAt.Add(poll))
	}
	// Its horizon is a second past its create_time (inside that rescan).
	if h, ok := cp.EverSeen()[late.ID]; !ok || h != min(late.Time.Unix()+1, wantHorizon.Unix()) {
		t.Errorf("late message committed with horizon %d (present %v), want %d", h, ok, min(late.Time.Unix()+1, wantHorizon.Unix()))
	}
	if s.Rescans == 0 || s.RescanChecks == 0 {
		t.Errorf("Stats = %+v: want rescans, each checked by its total first", s)
	}

	// Nothing twice, and everything sent before the cursor is in Kafka.
	cursor := cp.State().Cursors["messages"]
	if want := T0.Add(4 * poll); !cursor.Equal(want) {
		t.Errorf("cursor %v, want %v", cursor, want)
	}
	for id, n := range acked {
		if n != 1 {
			t.Errorf("msgid %d acknowledged %d times", id, n)
		}
	}
	for _, m := range base {
		if m.Time.Before(cursor) && acked[m.ID] != 1 {
			t.Errorf("msgid %d sent at %v before the cursor was not published", m.ID, m.Time)
		}
		if m.Time.After(clock.Now()) && acked[m.ID] != 0 {
			t.Errorf("msgid %d from the future (%v) was published", m.ID, m.Time)
		}
	}
}

func TestResumeFromCheckpoint(t *testing.T) {
	const window = 15 * time.Minute
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 10, start, end.Sub(start), 300, 0, 0)
	cursor := start.Add(30 * time.Minute)
	cp := newFakeCheckpoint()
	cp.state.Cursors["messages"] = cursor
	cp.state.Cursors["users/bob"] = start // not configured: left alone
	var after []fakeMsg
	for _, m := range msgs {
		if !m.Time.Before(cursor) {
			after = append(after, m)
		}
	}
	seeded := map[int64]int64{}
	for _, m := range after[:10] {
		seeded[m.ID] = cursor.Add(window).Unix()
	}
	cp.state.Seen = maps.Clone(seeded)

	f := &fakeFetcher{msgs: msgs, pageSize: 50}
	pub := newFakePublisher()
	p := runOK(t, boundedConfig(start, end, window), f, pub, cp)
	calls := f.Calls()
	if len(calls) != 2 || calls[0].Window != win(cursor, cursor.Add(window)) {
		t.Fatalf("fetches = %v, want two windows from the checkpoint's cursor %v", calls, cursor)
	}
	var want []int64
	for _, m := range after[10:] {
		want = append(want, m.ID)
	}
	exactlyOnce(t, pub.Acked(), want)
	s := p.Stats()
	if s.Duplicates != s.Fetched-s.Published || s.Duplicates < 10 {
		t.Errorf("Stats = %+v: the 10 checkpointed msgids must count as duplicates", s)
	}
	st := cp.State()
	if !st.Cursors["messages"].Equal(end) || !st.Cursors["users/bob"].Equal(start) {
		t.Errorf("cursors = %v", st.Cursors)
	}
}

func TestStartClampedToRetention(t *testing.T) {
	now := t0.Add(90 * 24 * time.Hour)
	oldest, clamped := StartCursor(t0, now, Retention)
	if !clamped {
		t.Fatal("test setup: start not clamped")
	}
	f := &fakeFetcher{msgs: nil, pageSize: 10}
	cfg := boundedConfig(t0, oldest.Add(10*time.Minute), 5*time.Minute)
	cfg.Now = func() time.Time { return now }
	cp := newFakeCheckpoint()
	runOK(t, cfg, f, newFakePublisher(), cp)
	if calls := f.Calls(); len(calls) != 2 || !calls[0].Window.From.Equal(oldest) {
		t.Errorf("fetches = %v, want two from the retention horizon %v", calls, oldest)
	}
	// Empty windows still move the cursor: one commit each, after the
	// start-up reconciliation's.
	if n := len(cp.Commits()); n != 3 {
		t.Errorf("%d commits for two empty windows, want 1+2", n)
	}
}

func TestCheckpointErrorsStopRun(t *testing.T) {
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 11, start, end.Sub(start), 100, 0, 0)
	t.Run("load", func(t *testing.T) {
		cp := newFakeCheckpoint()
		cp.loadErr = errors.New("disk on fire")
		p := mustNew(t, boundedConfig(start, end, 15*time.Minute), &fakeFetcher{msgs: msgs, pageSize: 10}, newFakePublisher(), cp)
		if err := run(t, t.Context(), p); err == nil || !strings.Contains(err.Error(), "load checkpoint: disk on fire") {
			t.Errorf("Run = %v", err)
		}
	})
	t.Run("commit", func(t *testing.T) {
		cp := newFakeCheckpoint()
		cp.failCommit = func(n int) error {
			if n >= 2 { // 0 is the start-up reconciliation, 1 the first window
				return errors.New("disk full")
			}
			return nil
		}
		pub := newFakePublisher()
		p := mustNew(t, boundedConfig(start, end, 15*time.Minute), &fakeFetcher{msgs: msgs, pageSize: 10}, pub, cp)
		err := run(t, t.Context(), p)
		if err == nil || !strings.Contains(err.Error(), "commit checkpoint: disk full") {
			t.Fatalf("Run = %v", err)
		}
		if got := cp.State().Cursors["messages"]; !got.Equal(start.Add(15 * time.Minute)) {
			t.Errorf("cursor = %v, want the first window's end", got)
		}
	})
}

func TestCheckpointAlreadyAtEnd(t *testing.T) {
	start, end := t0, t0.Add(time.Hour)
	cp := newFakeCheckpoint()
	cp.state.Cursors["messages"] = end
	f := &fakeFetcher{msgs: generate(t, 15, start, time.Hour, 50, 0, 0), pageSize: 10}
	runOK(t, boundedConfig(start, end, 15*time.Minute), f, newFakePublisher(), cp)
	if len(f.Calls()) != 0 || len(cp.WindowCommits()) != 0 {
		t.Errorf("%d fetches, %d commits for a finished stream, want none", len(f.Calls()), len(cp.WindowCommits()))
	}
}
