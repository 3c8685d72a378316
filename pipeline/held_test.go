package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/source"
)

// pausingFetcher pages like its fakeFetcher but, in window pause, waits
// after the first page until resume reports true.
type pausingFetcher struct {
	*fakeFetcher
	pause  source.Window
	resume func(ctx context.Context) error
}

func (f *pausingFetcher) Fetch(ctx context.Context, s source.Stream, w source.Window, fn func(source.Page) error) error {
	pages := 0
	return f.fakeFetcher.Fetch(ctx, s, w, func(pg source.Page) error {
		if w == f.pause && pages == 1 {
			if err := f.resume(ctx); err != nil {
				return err
			}
		}
		pages++
		return fn(pg)
	})
}

// marksInvariant returns a fakeCheckpoint check that fails a commit whose
// marks would pass a record of the log the checkpoint does not account
// for: every record below the marks must be in the seen set (as it is after
// the commit) or behind its pruning horizon.
func marksInvariant(pub *fakePublisher, created map[int64]int64) func(checkpoint.Commit, checkpoint.State) error {
	return func(c checkpoint.Commit, before checkpoint.State) error {
		mark, ok := c.Marks[fakeTopic][0]
		if !ok {
			mark = before.Marks[fakeTopic][0]
		}
		prune := max(before.PrunedBefore, c.PruneBefore)
		pub.mu.Lock()
		defer pub.mu.Unlock()
		for off := int64(0); off < mark && off < int64(len(pub.log)); off++ {
			id := pub.log[off].MsgID
			_, inBefore := before.Seen[id]
			_, inCommit := c.Seen[id]
			// A horizon is a second past create_time at most, the end of
			// the window at least, which is not before create_time.
			if !inBefore && !inCommit && created[id] >= prune {
				return fmt.Errorf("marks %d pass offset %d, msgid %d (created %d), neither recorded nor behind the horizon %d",
					mark, off, id, created[id], prune)
			}
		}
		return nil
	}
}

// TestLightCommitHoldsMsgidsAndACrashReadsThemBack: a window's cursor is
// committed while the next window is half published. That commit writes
// none of the next window's msgids and keeps its marks below their
// records; after a crash (every later commit fails), the next run reads
// them back and publishes nothing twice.
func TestLightCommitHoldsMsgidsAndACrashReadsThemBack(t *testing.T) {
	const window = 10 * time.Minute
	start, end := t0, t0.Add(3*window)
	msgs := generate(t, 31, start, end.Sub(start), 600, 0, 0)
	created := createdOf(msgs)
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	cp.check = marksInvariant(pub, created)
	w0End := start.Add(window)
	var crashed atomic.Bool
	f := &pausingFetcher{fakeFetcher: &fakeFetcher{msgs: msgs, pageSize: 20}, pause: win(w0End, w0End.Add(window)),
		resume: func(ctx context.Context) error {
			// Window 1 goes on once window 0's cursor is durable.
			return cp.waitFor(ctx, func(s checkpoint.State, _ map[int64]int64) bool {
				return crashed.Load() || !s.Cursors["messages"].Before(w0End)
			})
		}}
	// Every commit after the first that moves a cursor fails (both hooks
	// run under the checkpoint's lock, failCommit first).
	var cursorDone bool
	cp.failCommit = func(int) error {
		if cursorDone {
			crashed.Store(true)
			return errors.New("disk gone")
		}
		return nil
	}
	invariant := cp.check
	cp.check = func(c checkpoint.Commit, before checkpoint.State) error {
		if err := invariant(c, before); err != nil {
			return err
		}
		cursorDone = cursorDone || len(c.Cursors) > 0
		return nil
	}
	cfg := boundedConfig(start, end, window)
	cfg.FetchConcurrency = 2
	if err := run(t, t.Context(), mustNew(t, cfg, f, pub, cp)); err == nil {
		t.Fatal("first run succeeded although its commits after the first cursor failed")
	}
	st := cp.State()
	if !st.Cursors["messages"].Equal(w0End) {
		t.Fatalf("durable cursor %v, want the end of window 0 %v", st.Cursors["messages"], w0End)
	}
	// What window 1 had published when window 0's cursor was committed is
	// not in the checkpoint, and the marks are below it.
	held := 0
	for off, r := range pub.log {
		if created[r.MsgID] < w0End.Unix() {
			continue
		}
		if _, ok := st.Seen[r.MsgID]; ok {
			t.Errorf("msgid %d of window 1 was written by a light commit", r.MsgID)
		}
		if mark := st.Marks[fakeTopic][0]; int64(off) < mark && held == 0 {
			t.Errorf("marks %d pass window 1's first record at offset %d", mark, off)
		}
		held++
	}
	if held == 0 {
		t.Fatal("test setup: window 1 published nothing before the crash")
	}

	// The next run reads window 1's records back and publishes each
	// message once.
	cp.failCommit = nil
	p2 := mustNew(t, cfg, &fakeFetcher{msgs: msgs, pageSize: 20}, pub, cp)
	if err := run(t, t.Context(), p2); err != nil {
		t.Fatalf("second run: %v", err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	if s := p2.Stats(); s.Recovered < int64(held) {
		t.Errorf("second run recovered %d msgids, want at least the %d window 1 had published", s.Recovered, held)
	}
	if got := cp.State().Cursors["messages"]; !got.Equal(end) {
		t.Errorf("final cursor %v, want %v", got, end)
	}
}

// TestSettle: a light commit drops the msgids behind the horizon and holds
// the others, with the marks from before them; a full one writes them all.
func TestSettle(t *testing.T) {
	w := &pageWriter{p: &Pipeline{pub: newFakePublisher()}, seen: newSeenSet(nil)}
	w.writeCtx = t.Context()
	for id := range int64(10) {
		w.seen.add(id, 100+id)
		w.pending = append(w.pending, id)
	}
	w.ends = marks{fakeTopic: {0: 3}}
	seen, m := w.settle(105, false)
	if seen != nil || m[fakeTopic][0] != 3 {
		t.Fatalf("light settle = %v, %v; want no msgids and the marks before them", seen, m)
	}
	if got := w.waiting(); got != 5 {
		t.Fatalf("%d wait after pruning below 105, want 5", got)
	}
	seen, _ = w.settle(0, true)
	want := map[int64]int64{5: 105, 6: 106, 7: 107, 8: 108, 9: 109}
	if !maps.Equal(seen, want) || w.waiting() != 0 {
		t.Errorf("full settle = %v (%d still waiting), want %v", seen, w.waiting(), want)
	}
}
