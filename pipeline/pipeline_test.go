package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// firstServed returns, per window of size w from start, the msgids first
// served by it (inclusive bounds, as fakeFetcher serves), and how many
// messages each window serves in all.
func firstServed(msgs []fakeMsg, start time.Time, w time.Duration, n int) (first [][]int64, served []int) {
	first, served = make([][]int64, n), make([]int, n)
	seen := map[int64]bool{}
	for k := range n {
		from, to := start.Add(time.Duration(k)*w), start.Add(time.Duration(k+1)*w)
		for _, m := range msgs {
			if m.Time.Before(from) || m.Time.After(to) {
				continue
			}
			served[k]++
			if !seen[m.ID] {
				seen[m.ID] = true
				first[k] = append(first[k], m.ID)
			}
		}
	}
	return first, served
}

func TestBackfillPublishesEveryMessageOnce(t *testing.T) {
	const (
		window   = 15 * time.Minute
		nWindows = 12
		pageSize = 100
	)
	start, end := t0, t0.Add(nWindows*window)
	msgs := generate(t, 1, start, end.Sub(start), 3000, 2, 1200)
	f := &fakeFetcher{msgs: msgs, pageSize: pageSize}
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	// Each window starts once the one before is committed, so that no two
	// windows share a commit (group commit would take along a window that
	// ends while the commit before runs).
	f.before = func(ctx context.Context, _ source.Stream, w source.Window) error {
		return cp.waitFor(ctx, func(s checkpoint.State, _ map[int64]int64) bool {
			cur, ok := s.Cursors["messages"]
			return w.From.Equal(start) || ok && !cur.Before(w.From)
		})
	}
	cfg := boundedConfig(start, end, window)
	var progress []Progress
	cfg.OnCommit = func(p Progress) { progress = append(progress, p) }
	p := mustNew(t, cfg, f, pub, cp)

	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run: %v", err)
	}

	exactlyOnce(t, pub.Acked(), ids(msgs))
	// One stream, one fetcher: Kafka sees the messages in the API's order.
	if got := pub.Order(); !slices.Equal(got, ids(msgs)) {
		t.Error("messages were not published in the API's order")
	}

	st := cp.State()
	if got := st.Cursors["messages"]; !got.Equal(end) {
		t.Errorf("final cursor = %v, want End %v", got, end)
	}
	if got := p.Cursors()["messages"]; !got.Equal(end) {
		t.Errorf("Pipeline.Cursors = %v, want %v", got, end)
	}

	// The windows, in order, each fetched once.
	calls := f.Calls()
	if len(calls) != nWindows {
		t.Fatalf("%d fetches, want %d", len(calls), nWindows)
	}
	for k, c := range calls {
		want := win(start.Add(time.Duration(k)*window), start.Add(time.Duration(k+1)*window))
		if c.Window != want || c.Stream != source.Messages {
			t.Errorf("fetch %d = %v %v, want messages %v", k, c.Stream, c.Window, want)
		}
	}

	// One commit per window, never one per message; each moves the cursor
	// to the window's end and carries no msgid (a light commit: those a
	// query can still return wait for the next cursors, and a crash reads
	// them back). The last commit carries the msgids a query can still
	// return: without a lookback, those a second before the end at most
	// (the bounds' overlap), each with a second past its create_time as
	// horizon.
	first, served := firstServed(msgs, start, window, nWindows)
	created := map[int64]int64{}
	for _, m := range msgs {
		created[m.ID] = m.Time.Unix()
	}
	kept := func(k int) map[int64]int64 {
		to := start.Add(time.Duration(k+1) * window).Unix()
		out := map[int64]int64{}
		for _, id := range first[k] {
			if h := min(created[id]+1, to); h >= to-2 {
				out[id] = h
			}
		}
		return out
	}
	commits := cp.WindowCommits()
	if len(commits) != nWindows+1 {
		t.Fatalf("%d commits for %d windows and %d messages, want one per window and the last", len(commits), nWindows, len(msgs))
	}
	last := commits[nWindows]
	commits = commits[:nWindows]
	if len(last.Cursors) != 0 || !maps.Equal(last.Seen, kept(nWindows-1)) {
		t.Errorf("last commit moves %v and carries %v, want no cursor and %v", last.Cursors, last.Seen, kept(nWindows-1))
	}
	for k, c := range commits {
		to := start.Add(time.Duration(k+1) * window)
		if len(c.Cursors) != 1 || !c.Cursors["messages"].Equal(to) {
			t.Errorf("commit %d cursors = %v, want messages=%v", k, c.Cursors, to)
		}
		if len(c.Seen) != 0 {
			t.Errorf("commit %d carries %d msgids, want none", k, len(c.Seen))
		}
		if want := to.Add(-2 * time.Second).Unix(); c.PruneBefore != want {
			t.Errorf("commit %d PruneBefore = %d, want %d", k, c.PruneBefore, want)
		}
		if c.Now.IsZero() {
			t.Errorf("commit %d has no time", k)
		}
	}
	// Only the last window's last seconds survive pruning (no lookback).
	if want := kept(nWindows - 1); !maps.Equal(st.Seen, want) {
		t.Errorf("checkpoint holds %v, want the last seconds' %v", st.Seen, want)
	}

	// Stats agree with what happened.
	fetched, pages := 0, 0
	for _, n := range served {
		fetched += n
		pages += (n + pageSize - 1) / pageSize
	}
	s := p.Stats()
	want := Stats{
		Pages: int64(pages), Fetched: int64(fetched), Published: int64(len(msgs)),
		Duplicates: int64(fetched - len(msgs)), Windows: nWindows, Commits: 1 + nWindows + 1, // + the start-up reconciliation and the last
		Seen: int64(len(kept(nWindows - 1))),
	}
	if s != want {
		t.Errorf("Stats = %+v\nwant    %+v", s, want)
	}
	if s.Duplicates == 0 {
		t.Error("test setup: no message on a window boundary, the overlap is not exercised")
	}

	// OnCommit saw every commit, in order.
	if len(progress) != nWindows+1 {
		t.Fatalf("OnCommit called %d times, want %d", len(progress), nWindows+1)
	}
	for k, pr := range progress {
		if to := start.Add(time.Duration(min(k, nWindows-1)+1) * window); !pr.Cursors["messages"].Equal(to) || pr.Stats.Commits != int64(k+2) {
			t.Errorf("progress %d = %v commits %d, want %v and %d", k, pr.Cursors, pr.Stats.Commits, to, k+2)
		}
	}

	// The records are what the schema says.
	codec, err := schema.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]fakeMsg{}
	for _, m := range msgs {
		byID[m.ID] = m
	}
	for _, c := range pub.Calls() {
		if len(c.Recs) > pageSize {
			t.Errorf("a publish of %d records, more than a page", len(c.Recs))
		}
		for _, r := range c.Recs {
			native, err := codec.Decode(r.Value)
			if err != nil {
				t.Fatalf("msgid %d: value does not decode: %v", r.MsgID, err)
			}
			if native["msgid"] != r.MsgID {
				t.Fatalf("record msgid %d holds value msgid %v", r.MsgID, native["msgid"])
			}
			m, err := source.DecodeMessage(byID[r.MsgID].JSON)
			if err != nil {
				t.Fatal(err)
			}
			if r.Key != schema.ConversationID(m) || r.MsgType != m.MsgType {
				t.Fatalf("msgid %d: key %q type %q, want %q %q", r.MsgID, r.Key, r.MsgType, schema.ConversationID(m), m.MsgType)
			}
		}
	}
}

// TestBackfillConcurrent runs the same backfill with several fetchers.
func TestBackfillConcurrent(t *testing.T) {
	const window = 10 * time.Minute
	start, end := t0, t0.Add(2*time.Hour)
	msgs := generate(t, 2, start, end.Sub(start), 1500, 1, 1100)
	f := &fakeFetcher{msgs: msgs, pageSize: 70}
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, window)
	cfg.FetchConcurrency = 5
	cp.check = cursorOnlyForward()
	p := mustNew(t, cfg, f, pub, cp)
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run: %v", err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	if got := cp.State().Cursors["messages"]; !got.Equal(end) {
		t.Errorf("final cursor = %v, want %v", got, end)
	}
	if n := len(cp.WindowCommits()); n < 1 || n > 12 {
		t.Errorf("%d commits for 12 windows: want between 1 and 12", n)
	}
	if s := p.Stats(); s.Windows != 12 || s.Published != int64(len(msgs)) {
		t.Errorf("Stats = %+v", s)
	}
}

func TestDuplicatesArePublishedOnce(t *testing.T) {
	const window = time.Minute
	start, end := t0, t0.Add(2*window)
	m1, m2, m3 := textMsg(101, start.Add(10*time.Second)), textMsg(102, start.Add(20*time.Second)), textMsg(103, start.Add(30*time.Second))
	m4, m5 := textMsg(104, start.Add(70*time.Second)), textMsg(105, start.Add(80*time.Second))
	pages := map[time.Time][][]json.RawMessage{
		start:             {{m1.JSON, m2.JSON, m2.JSON}, {m3.JSON}},
		start.Add(window): {{m3.JSON, m4.JSON}, {m1.JSON, m5.JSON}},
	}
	f := &fakeFetcher{script: func(_ source.Stream, w source.Window) [][]json.RawMessage { return pages[w.From] }}
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, window)
	cfg.Lookback = time.Hour // keeps every msgid in the checkpoint
	p := mustNew(t, cfg, f, pub, cp)
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run: %v", err)
	}
	exactlyOnce(t, pub.Acked(), []int64{101, 102, 103, 104, 105})
	var got [][]int64
	for _, c := range pub.Calls() {
		var ids []int64
		for _, r := range c.Recs {
			ids = append(ids, r.MsgID)
		}
		got = append(got, ids)
	}
	if want := [][]int64{{101, 102}, {103}, {104}, {105}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("publish calls = %v, want %v", got, want)
	}
	s := p.Stats()
	// The final pass of a bounded run fetches the lookback again and finds
	// all 8 served messages published already.
	if s.Duplicates != 3+8 || s.Fetched != 16 || s.Published != 5 || s.Pages != 8 {
		t.Errorf("Stats = %+v, want 11 duplicates of 16 fetched, 5 published, 8 pages", s)
	}
	// Each kept a second past its create_time.
	want := map[int64]int64{}
	for _, m := range []fakeMsg{m1, m2, m3, m4, m5} {
		want[m.ID] = m.Time.Unix() + 1
	}
	if got := cp.State().Seen; !maps.Equal(got, want) {
		t.Errorf("checkpoint Seen = %v, want %v", got, want)
	}
}

func TestTwoStreamsShareTheSeenSet(t *testing.T) {
	const window = 20 * time.Minute
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 3, start, end.Sub(start), 200, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 30} // both streams serve the same messages
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, window)
	cfg.Streams = []source.Stream{source.Messages, source.User("alice")}
	cfg.Lookback = 5 * time.Minute
	cp.check = func(c checkpoint.Commit, before checkpoint.State) error {
		if c.Cursors == nil && len(c.Seen) == 0 {
			return nil // the start-up reconciliation: marks only
		}
		// PruneBefore trails the slowest stream by the lookback and 2s.
		after := maps.Clone(before.Cursors)
		maps.Copy(after, c.Cursors)
		low := end
		for _, k := range []string{"messages", "users/alice"} {
			cur, ok := after[k]
			if !ok {
				cur = start // not committed yet: still at Start
			}
			if cur.Before(low) {
				low = cur
			}
		}
		if want := low.Add(-5*time.Minute - 2*time.Second).Unix(); c.PruneBefore != want {
			return fmt.Errorf("PruneBefore %d, want %d (cursors after: %v)", c.PruneBefore, want, after)
		}
		return nil
	}
	p := mustNew(t, cfg, f, pub, cp)
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run: %v", err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	st := cp.State()
	for _, k := range []string{"messages", "users/alice"} {
		if !st.Cursors[k].Equal(end) {
			t.Errorf("cursor %s = %v, want %v", k, st.Cursors[k], end)
		}
	}
	s := p.Stats()
	// One commit at start-up, then one per window or fewer (windows that
	// come due while a commit runs go in the next one together), then the
	// last, with the msgids a query can still return.
	if s.Windows != 6 || s.Commits < 1+1 || s.Commits > 1+6+1 || s.Duplicates != s.Fetched-int64(len(msgs)) || s.Duplicates < int64(len(msgs)) {
		t.Errorf("Stats = %+v: want 6 windows, 2 to 8 commits, every message a duplicate once", s)
	}
}

// TestOutOfOrderWindowsNeverMoveTheCursorEarly fetches four windows at once
// and finishes each pair of windows (k, k+1) in reverse order: window k waits
// until window k+1 is published; the next pair waits for the cursor. Window
// k+1 finishing first commits nothing (its msgids wait for the cursor); the
// cursor moves past both once window k is published.
func TestOutOfOrderWindowsNeverMoveTheCursorEarly(t *testing.T) {
	const (
		window   = 10 * time.Minute
		nWindows = 12
	)
	start, end := t0, t0.Add(nWindows*window)
	msgs := generate(t, 4, start, end.Sub(start), 2400, 0, 0)
	first, _ := firstServed(msgs, start, window, nWindows)
	for k, ids := range first {
		if len(ids) == 0 {
			t.Fatalf("test setup: window %d has no message", k)
		}
	}
	from := func(k int) time.Time { return start.Add(time.Duration(k) * window) }
	cp := newFakeCheckpoint()
	pub := newFakePublisher()
	// published[k] is closed once every msgid first served in window k
	// was published.
	published := make([]chan struct{}, nWindows)
	left := make([]map[int64]bool, nWindows)
	for k := range published {
		published[k], left[k] = make(chan struct{}), map[int64]bool{}
		for _, id := range first[k] {
			left[k][id] = true
		}
	}
	var mu sync.Mutex
	pub.hook = func(_ context.Context, _ int, recs []sink.Record) error {
		mu.Lock()
		defer mu.Unlock()
		for k := range left {
			for _, r := range recs {
				delete(left[k], r.MsgID)
			}
			if len(left[k]) == 0 && left[k] != nil {
				close(published[k])
				left[k] = nil
			}
		}
		return nil
	}
	f := &fakeFetcher{msgs: msgs, pageSize: 40}
	f.before = func(ctx context.Context, _ source.Stream, w source.Window) error {
		k := int(w.From.Sub(start) / window)
		if k%2 == 0 {
			// Wait until window k+1 is published.
			select {
			case <-published[k+1]:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// Window k+1 of a pair waits for the previous pair's cursor.
		return cp.waitFor(ctx, func(s checkpoint.State, _ map[int64]int64) bool {
			cur, ok := s.Cursors["messages"]
			return k == 1 || ok && !cur.Before(from(k-1))
		})
	}
	var last time.Time
	cp.check = func(c checkpoint.Commit, _ checkpoint.State) error {
		cur, ok := c.Cursors["messages"]
		if !ok {
			return nil
		}
		if !cur.After(last) {
			return fmt.Errorf("cursor moved from %v to %v: not forwards", last, cur)
		}
		last = cur
		// Every message sent before the cursor must be in Kafka already.
		acked := pub.Acked()
		for _, m := range msgs {
			if m.Time.Before(cur) && acked[m.ID] != 1 {
				return fmt.Errorf("cursor moves to %v but msgid %d sent at %v was acknowledged %d times",
					cur, m.ID, m.Time, acked[m.ID])
			}
		}
		return nil
	}
	cfg := boundedConfig(start, end, window)
	cfg.FetchConcurrency = 4
	p := mustNew(t, cfg, f, pub, cp)
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run: %v", err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	// Window 2i+1 ends before window 2i, which then releases both, in one
	// commit unless 2i's end reaches the publisher before 2i+1's (the end
	// of a window is a message of its own).
	commits := cp.CursorCommits()
	if len(commits) < nWindows/2 || len(commits) > nWindows {
		t.Fatalf("%d commits that move the cursor, want %d to %d", len(commits), nWindows/2, nWindows)
	}
	pairs, prev := 0, start
	for i, c := range commits {
		cur := c.Cursors["messages"]
		if k := cur.Sub(start) / window; cur.Sub(start)%window != 0 || !cur.After(prev) || k > nWindows {
			t.Errorf("commit %d cursor %v after %v: want a later window boundary", i, cur, prev)
		}
		if cur.Sub(prev) == 2*window {
			pairs++
		}
		prev = cur
	}
	if pairs == 0 {
		t.Error("no commit released two windows at once: the windows were not out of order")
	}
	if got := cp.State().Cursors["messages"]; !got.Equal(end) {
		t.Errorf("final cursor %v, want %v", got, end)
	}
}

// publishRetryConfig is boundedConfig with publish retries that do not wait.
func publishRetryConfig(start, end time.Time, window time.Duration, sleeps *atomic.Int64) Config {
	cfg := boundedConfig(start, end, window)
	cfg.PublishRetry = retry.Policy{
		Initial: time.Second, MaxAttempts: 4,
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps.Add(1)
			return ctx.Err()
		},
	}
	return cfg
}

func TestTemporaryPublishErrorRetriesOnlyFailedRecords(t *testing.T) {
	if !(&sink.WriteError{Errs: []error{kafka.LeaderNotAvailable}}).Temporary() {
		t.Fatal("test setup: LeaderNotAvailable is not temporary")
	}
	const window = 15 * time.Minute
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 5, start, end.Sub(start), 400, 0, 0)

	for _, mode := range []string{"ascending", "descending", "whole batch"} {
		t.Run(mode, func(t *testing.T) {
			f := &fakeFetcher{msgs: msgs, pageSize: 50}
			pub := newFakePublisher()
			failedOnce := map[int64]bool{} // only touched by the publisher goroutine
			pub.hook = func(_ context.Context, _ int, recs []sink.Record) error {
				if mode == "whole batch" {
					if failedOnce[recs[0].MsgID] {
						return nil
					}
					failedOnce[recs[0].MsgID] = true
					return fmt.Errorf("produce: %w", kafka.LeaderNotAvailable)
				}
				we := &sink.WriteError{}
				for i, r := range recs {
					if i%3 == 1 && !failedOnce[r.MsgID] {
						failedOnce[r.MsgID] = true
						we.Failed = append(we.Failed, i)
						we.Errs = append(we.Errs, kafka.LeaderNotAvailable)
					}
				}
				if len(we.Failed) == 0 {
					return nil
				}
				if mode == "descending" {
					slices.Reverse(we.Failed)
				}
				return we
			}
			cp := newFakeCheckpoint()
			var sleeps atomic.Int64
			p := mustNew(t, publishRetryConfig(start, end, window, &sleeps), f, pub, cp)
			if err := run(t, t.Context(), p); err != nil {
				t.Fatalf("Run: %v", err)
			}
			exactlyOnce(t, pub.Acked(), ids(msgs))

			calls := pub.Calls()
			failedCalls, sent := 0, 0
			for i, c := range calls {
				sent += len(c.Recs)
				if c.Err == nil {
					continue
				}
				failedCalls++
				var want []int64
				var we *sink.WriteError
				if errors.As(c.Err, &we) {
					idx := slices.Sorted(slices.Values(we.Failed))
					for _, j := range idx {
						want = append(want, c.Recs[j].MsgID)
					}
				} else {
					for _, r := range c.Recs {
						want = append(want, r.MsgID)
					}
				}
				if i+1 >= len(calls) {
					t.Fatalf("call %d failed and was never retried", i)
				}
				var got []int64
				for _, r := range calls[i+1].Recs {
					got = append(got, r.MsgID)
				}
				if !slices.Equal(got, want) {
					t.Errorf("retry of call %d sent %v, want only the failed %v", i, got, want)
				}
			}
			if failedCalls == 0 {
				t.Fatal("test setup: nothing failed")
			}
			if mode != "whole batch" && sent != len(msgs)+len(failedOnce) {
				t.Errorf("%d records sent, want %d messages + %d retried", sent, len(msgs), len(failedOnce))
			}
			s := p.Stats()
			if s.Retries != int64(failedCalls) || sleeps.Load() != int64(failedCalls) {
				t.Errorf("Retries = %d, retry sleeps = %d, want %d", s.Retries, sleeps.Load(), failedCalls)
			}
			// Every failed write was read back before its retry.
			if s.ReadBacks != int64(failedCalls) {
				t.Errorf("ReadBacks = %d, want one per failed write (%d)", s.ReadBacks, failedCalls)
			}
			if s.Published != int64(len(msgs)) || s.Windows != 4 || s.Commits != 5 { // + the start-up reconciliation
				t.Errorf("Stats = %+v", s)
			}
			if got := cp.State().Cursors["messages"]; !got.Equal(end) {
				t.Errorf("final cursor %v, want %v", got, end)
			}
		})
	}
}

func TestTemporaryPublishErrorGivesUpAfterMaxAttempts(t *testing.T) {
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 6, start, end.Sub(start), 100, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 50}
	pub := newFakePublisher()
	pub.hook = func(context.Context, int, []sink.Record) error {
		return &sink.WriteError{Failed: []int{0}, Errs: []error{kafka.LeaderNotAvailable}}
	}
	cp := newFakeCheckpoint()
	var sleeps atomic.Int64
	p := mustNew(t, publishRetryConfig(start, end, 15*time.Minute, &sleeps), f, pub, cp)
	err := run(t, t.Context(), p)
	var ex *retry.ExhaustedError
	if !errors.As(err, &ex) || ex.Attempts != 4 || !errors.Is(err, kafka.LeaderNotAvailable) {
		t.Fatalf("Run = %v, want retries exhausted after 4 attempts", err)
	}
	// The first attempt acknowledged all but the first record, which every
	// retry then sent alone.
	acked, calls := pub.Acked(), pub.Calls()
	if len(calls) != 4 || len(acked) != len(calls[0].Recs)-1 {
		t.Fatalf("acked %d records in %d calls, want %d in 4", len(acked), len(calls), len(calls[0].Recs)-1)
	}
	for _, c := range calls[1:] {
		if len(c.Recs) != 1 || c.Recs[0].MsgID != calls[0].Recs[0].MsgID {
			t.Errorf("a retry sent %d records, want only the failed one", len(c.Recs))
		}
	}
	for _, id := range notCommitted(cp, acked, msgs) {
		t.Errorf("acknowledged msgid %d was not committed", id)
	}
	if _, moved := cp.State().Cursors["messages"]; moved {
		t.Error("the cursor moved although the first window failed")
	}
}

func TestFatalPublishErrorStopsRun(t *testing.T) {
	const window = 15 * time.Minute
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 7, start, end.Sub(start), 300, 0, 0)
	timeOf := map[int64]time.Time{}
	inWindow2 := 0
	for _, m := range msgs {
		timeOf[m.ID] = m.Time
		if windowOf(m.Time, start, window) == 2 {
			inWindow2++
		}
	}
	const pageSize = 50
	if inWindow2 <= pageSize {
		t.Fatalf("test setup: window 2 has %d messages, need more than a page", inWindow2)
	}
	f := &fakeFetcher{msgs: msgs, pageSize: pageSize}
	pub := newFakePublisher()
	failedCall, pagesOf2 := -1, 0
	pub.hook = func(_ context.Context, n int, recs []sink.Record) error {
		if windowOf(timeOf[recs[0].MsgID], start, window) != 2 {
			return nil
		}
		if pagesOf2++; pagesOf2 != 2 {
			return nil
		}
		failedCall = n
		we := &sink.WriteError{}
		for i := 1; i < len(recs); i += 2 {
			we.Failed = append(we.Failed, i)
			we.Errs = append(we.Errs, kafka.TopicAuthorizationFailed)
		}
		return we
	}
	cp := newFakeCheckpoint()
	var sleeps atomic.Int64
	p := mustNew(t, publishRetryConfig(start, end, window, &sleeps), f, pub, cp)
	err := run(t, t.Context(), p)
	if err == nil {
		t.Fatal("Run succeeded despite a fatal publish error")
	}
	if !errors.Is(err, kafka.TopicAuthorizationFailed) || !strings.Contains(err.Error(), "Topic Authorization Failed") {
		t.Errorf("Run error %q does not name the Kafka error", err)
	}
	calls := pub.Calls()
	if failedCall < 0 || len(calls) != failedCall+1 {
		t.Fatalf("failed call %d, %d calls: want no publish after the fatal error", failedCall, len(calls))
	}
	if sleeps.Load() != 0 || p.Stats().Retries != 0 {
		t.Error("a fatal error was retried")
	}

	// What Kafka acknowledged is committed, the failed records are not.
	acked := pub.Acked()
	ever, st := cp.EverSeen(), cp.State()
	for _, id := range notCommitted(cp, acked, msgs) {
		t.Errorf("acknowledged msgid %d was never committed", id)
	}
	for id := range acked {
		if windowOf(timeOf[id], start, window) == 2 {
			if want := timeOf[id].Unix() + 1; st.Seen[id] != want {
				t.Errorf("msgid %d of the failed window: checkpoint horizon %d, want %d", id, st.Seen[id], want)
			}
		}
	}
	for i, r := range calls[failedCall].Recs {
		_, committed := ever[r.MsgID]
		if wantAcked := i%2 == 0; committed != wantAcked || (acked[r.MsgID] == 1) != wantAcked {
			t.Errorf("record %d of the failed call: committed %v acked %d, want %v", i, committed, acked[r.MsgID], wantAcked)
		}
	}
	// The cursor stops at the start of the failed window.
	if got := st.Cursors["messages"]; !got.Equal(start.Add(2 * window)) {
		t.Errorf("cursor = %v, want %v (the failed window's start)", got, start.Add(2*window))
	}
	commits := cp.Commits()
	if last := commits[len(commits)-1]; len(last.Cursors) != 0 || len(last.Seen) == 0 {
		t.Errorf("the final commit = %d cursors, %d msgids: want only the acknowledged msgids", len(last.Cursors), len(last.Seen))
	}
}

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
	f := &fakeFetcher{msgs: msgs, pageSize: pageSize}
	pub := newFakePublisher()
	entered, release := make(chan struct{}), make(chan struct{})
	blockedCall := -1
	pub.hook = func(_ context.Context, n int, recs []sink.Record) error {
		if blockedCall < 0 && windowOf(timeOf[recs[0].MsgID], start, window) == 1 {
			blockedCall = n
			close(entered)
			<-release // Kafka acknowledges after the cancel
		}
		return nil
	}
	cp := newFakeCheckpoint()
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

func TestUnidentifiableMessageStopsRun(t *testing.T) {
	good := textMsg(501, t0.Add(5*time.Second))
	// (A message whose msgid is readable but another field is not goes to
	// the dead-letter topic: TestUntransformableMessageGoesToTheDeadLetterTopic.)

	tests := []struct {
		name  string
		page  []json.RawMessage
		check func(t *testing.T, err error)
	}{
		{"no msgid", []json.RawMessage{good.JSON, json.RawMessage(`{"msg_type":"text"}`)}, func(t *testing.T, err error) {
			if !errors.Is(err, source.ErrNoMsgID) || !strings.Contains(err.Error(), "cannot be identified") {
				t.Errorf("error %q does not say the message cannot be identified", err)
			}
			if !strings.Contains(err.Error(), "message 1 of the page") {
				t.Errorf("error %q does not locate the message", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFetcher{script: func(source.Stream, source.Window) [][]json.RawMessage {
				return [][]json.RawMessage{tt.page}
			}}
			pub := newFakePublisher()
			cp := newFakeCheckpoint()
			p := mustNew(t, boundedConfig(t0, t0.Add(time.Minute), time.Minute), f, pub, cp)
			err := run(t, t.Context(), p)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			tt.check(t, err)
			if len(pub.Calls()) != 0 || len(cp.WindowCommits()) != 0 {
				t.Errorf("%d publishes, %d commits: a page with a bad message must not be published in part", len(pub.Calls()), len(cp.WindowCommits()))
			}
		})
	}
}

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
	clock := testkit.NewClock(T0)
	base := generate(t, 9, T0.Add(-10*time.Minute), 15*time.Minute, 150, 0, 0)
	f := &fakeFetcher{msgs: base, pageSize: 20, now: clock.Now}
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var (
		polls     int
		late      fakeMsg
		addedAt   time.Time // the cursor when late was added
		sleepErrs []error
	)
	cfg := tailConfig(T0.Add(-10*time.Minute), clock, window, lookback, poll)
	cfg.Sleep = func(sctx context.Context, d time.Duration) error {
		polls++
		if d != poll {
			sleepErrs = append(sleepErrs, fmt.Errorf("poll %d waits %v, want %v", polls, d, poll))
		}
		// Every window planned so far has been committed (one fetcher, so
		// every rescan planned before the last window was processed too).
		now := clock.Now().Truncate(time.Second)
		if err := cp.waitFor(sctx, func(s checkpoint.State, _ map[int64]int64) bool {
			return s.Cursors["messages"].Equal(now)
		}); err != nil {
			return err
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
		clock.Advance(d)
		return nil
	}
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
	p := mustNew(t, boundedConfig(start, end, window), f, pub, cp)
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run: %v", err)
	}
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
	p := mustNew(t, cfg, f, newFakePublisher(), cp)
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run: %v", err)
	}
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

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"everything wrong at once", Config{
			Start: t0, End: t0.Add(-time.Hour), Window: 500 * time.Millisecond,
		}, []string{"no streams", "app key is empty", "is not after start", "window must be at least 1s"}},
		{"duplicate streams", Config{
			Streams: []source.Stream{source.Messages, source.User("alice"), source.User("bob"), source.User("alice")},
			Start:   t0, End: t0,
		}, []string{"stream users/alice listed twice", "app key is empty", "is not after start"}},
		{"negative durations", Config{
			Streams: []source.Stream{source.Messages}, AppKey: "k", Lookback: -time.Second,
		}, []string{"durations must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg, nil, nil, nil)
			if err == nil || p != nil {
				t.Fatalf("New = %v, %v; want an error", p, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tt.want) {
				t.Errorf("error lists %d problems, want %d: %q", got, len(tt.want), err)
			}
		})
	}

	p, err := New(Config{Streams: []source.Stream{source.Messages}, AppKey: "k"}, nil, nil, nil)
	if err != nil {
		t.Fatalf("New with a minimal config: %v", err)
	}
	c := p.cfg
	if c.APIVersion != "v1" || c.Window != 5*time.Minute || c.PollInterval != 10*time.Second ||
		c.Retention != Retention || c.FetchConcurrency != 1 || c.ShutdownTimeout != 15*time.Second ||
		c.Now == nil || c.Sleep == nil || c.Logger == nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	if p.plan != (Plan{Window: 5 * time.Minute}) {
		t.Errorf("plan = %+v", p.plan)
	}
}

// TestShutdownTimeoutCutsAHungWrite: a write that Kafka never acknowledges
// is abandoned ShutdownTimeout after the cancel; nothing of it is committed.
func TestShutdownTimeoutCutsAHungWrite(t *testing.T) {
	const window = 15 * time.Minute
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 13, start, end.Sub(start), 200, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 20}
	pub := newFakePublisher()
	entered := make(chan struct{})
	hung := -1
	pub.hook = func(ctx context.Context, n int, recs []sink.Record) error {
		if n != 3 {
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

func TestFetchErrorStopsRun(t *testing.T) {
	const window = 15 * time.Minute
	start, end := t0, t0.Add(time.Hour)
	msgs := generate(t, 14, start, end.Sub(start), 200, 0, 0)
	boom := errors.New("api says no")
	f := &fakeFetcher{msgs: msgs, pageSize: 20}
	f.before = func(_ context.Context, _ source.Stream, w source.Window) error {
		if w.From.Equal(start.Add(2 * window)) {
			return boom
		}
		return nil
	}
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	p := mustNew(t, boundedConfig(start, end, window), f, pub, cp)
	if err := run(t, t.Context(), p); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the fetch error", err)
	}
	if cur := cp.State().Cursors["messages"]; cur.After(start.Add(2 * window)) {
		t.Errorf("cursor %v passed the window that failed", cur)
	}
	for _, id := range notCommitted(cp, pub.Acked(), msgs) {
		t.Errorf("acknowledged msgid %d was not committed", id)
	}
}

func TestCheckpointAlreadyAtEnd(t *testing.T) {
	start, end := t0, t0.Add(time.Hour)
	cp := newFakeCheckpoint()
	cp.state.Cursors["messages"] = end
	f := &fakeFetcher{msgs: generate(t, 15, start, time.Hour, 50, 0, 0), pageSize: 10}
	p := mustNew(t, boundedConfig(start, end, 15*time.Minute), f, newFakePublisher(), cp)
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(f.Calls()) != 0 || len(cp.WindowCommits()) != 0 {
		t.Errorf("%d fetches, %d commits for a finished stream, want none", len(f.Calls()), len(cp.WindowCommits()))
	}
}
