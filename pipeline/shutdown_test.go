package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/sink"
)

// TestCancelWhilePublishing cancels the run while Kafka holds a write of the
// first page of window 1: the write completes, its records are committed,
// nothing else is written, and a restart finishes the job exactly once.
func TestCancelWhilePublishing(t *testing.T) {
	const (
		window   = 15 * time.Minute
		pageSize = 15
	)
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 8, start, end.Sub(start), 300, 0, 0)
	timeOf := map[int64]time.Time{}
	for _, m := range msgs {
		timeOf[m.ID] = m.Time
	}
	cp := newFakeCheckpoint()
	// Window 1 is fetched once window 0 is committed: its first page is a
	// write of its own.
	f := &fakeFetcher{msgs: msgs, pageSize: pageSize, before: fetchAfterCommit(cp, "messages", start.Add(window))}
	pub := newFakePublisher()
	entered, release := make(chan struct{}), make(chan struct{})
	blockedCall := -1
	pub.hook = func(_ context.Context, n int, recs []sink.Record) error {
		if blockedCall < 0 && slices.ContainsFunc(recs, func(r sink.Record) bool { return windowOf(timeOf[r.MsgID], start, window) == 1 }) {
			blockedCall = n
			close(entered)
			<-release // Kafka acknowledges after the cancel
		}
		return nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := mustNew(t, boundedConfig(start, end, window), f, pub, cp)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-entered:
	case err := <-done:
		t.Fatalf("Run returned %v before publishing window 1", err)
	}
	// The fetcher has likely queued window 1's next pages meanwhile: after
	// the cancel the publisher must finish this write but start no other.
	cancel()
	close(release)
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("Run did not return after cancel")
	}
	if err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}

	calls := pub.Calls()
	if len(calls) != blockedCall+1 {
		t.Errorf("%d publish calls, want %d: a write started after the cancel", len(calls), blockedCall+1)
	}
	st := cp.State()
	if got := st.Cursors["messages"]; !got.Equal(start.Add(window)) {
		t.Errorf("cursor after cancel = %v, want %v (window 1 unfinished)", got, start.Add(window))
	}
	acked := pub.Acked()
	for _, id := range notCommitted(cp, acked, msgs) {
		t.Errorf("acknowledged msgid %d was not committed before Run returned", id)
	}
	for _, r := range calls[blockedCall].Recs {
		if _, ok := st.Seen[r.MsgID]; !ok {
			t.Errorf("msgid %d of the write in flight is not in the checkpoint", r.MsgID)
		}
	}

	// Restart on the same checkpoint and finish.
	f2 := &fakeFetcher{msgs: msgs, pageSize: pageSize}
	pub.hook = nil
	p2 := mustNew(t, boundedConfig(start, end, window), f2, pub, cp)
	if err := run(t, t.Context(), p2); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	if first := f2.Calls()[0].Window; !first.From.Equal(start.Add(window)) {
		t.Errorf("restart fetched %v first, want the unfinished window 1", first)
	}
	if got := cp.State().Cursors["messages"]; !got.Equal(end) {
		t.Errorf("final cursor %v, want %v", got, end)
	}
	if s := p2.Stats(); s.Duplicates < int64(len(calls[blockedCall].Recs)) {
		t.Errorf("restart skipped %d duplicates, want at least the %d committed before the cancel", s.Duplicates, len(calls[blockedCall].Recs))
	}
}

// A commit that fails during a shutdown is reported: the acknowledged
// records it was saving would otherwise be published again silently.
func TestFinalCommitFailureIsReportedOnShutdown(t *testing.T) {
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 12, start, end.Sub(start), 200, 0, 0)
	pub := newFakePublisher()
	entered, release := make(chan struct{}), make(chan struct{})
	var once bool
	pub.hook = func(_ context.Context, _ int, _ []sink.Record) error {
		if !once {
			once = true
			close(entered)
			<-release
		}
		return nil
	}
	cp := newFakeCheckpoint()
	cp.failCommit = func(n int) error {
		if n == 0 {
			return nil // the start-up reconciliation
		}
		return errors.New("volume gone")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p := mustNew(t, boundedConfig(start, end, 15*time.Minute), &fakeFetcher{msgs: msgs, pageSize: 10}, pub, cp)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-entered
	cancel()
	close(release)
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "commit checkpoint: volume gone") {
		t.Fatalf("Run = %v, want the failed commit reported", err)
	}
}

// TestShutdownTimeoutCutsAHungWrite: a write that Kafka never acknowledges
// is abandoned ShutdownTimeout after the cancel; nothing of it is committed.
func TestShutdownTimeoutCutsAHungWrite(t *testing.T) {
	const window = 15 * time.Minute
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 13, start, end.Sub(start), 200, 0, 0)
	timeOf := map[int64]time.Time{}
	for _, m := range msgs {
		timeOf[m.ID] = m.Time
	}
	f := &fakeFetcher{msgs: msgs, pageSize: 20}
	pub := newFakePublisher()
	entered := make(chan struct{})
	hung := -1
	pub.hook = func(ctx context.Context, n int, recs []sink.Record) error {
		// The first write with records of window 1 hangs (writes gather
		// pages: which call that is depends on timing).
		if hung >= 0 || !slices.ContainsFunc(recs, func(r sink.Record) bool { return windowOf(timeOf[r.MsgID], start, window) == 1 }) {
			return nil
		}
		hung = n
		close(entered)
		<-ctx.Done() // only the shutdown timeout ends this write
		all := make([]int, len(recs))
		for i := range all {
			all[i] = i
		}
		return &sink.WriteError{Failed: all, Errs: []error{ctx.Err()}}
	}
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, window)
	cfg.ShutdownTimeout = time.Millisecond
	p := mustNew(t, cfg, f, pub, cp)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-entered
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("a hung write kept Run from returning")
	}
	calls := pub.Calls()
	if len(calls) != hung+1 {
		t.Errorf("%d publish calls, want %d", len(calls), hung+1)
	}
	ever := cp.EverSeen()
	for _, r := range calls[hung].Recs {
		if _, ok := ever[r.MsgID]; ok {
			t.Errorf("msgid %d of the abandoned write was committed", r.MsgID)
		}
	}
	for _, id := range notCommitted(cp, pub.Acked(), msgs) {
		t.Errorf("acknowledged msgid %d was not committed", id)
	}
}
