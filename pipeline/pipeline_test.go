package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
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
	p := runOK(t, cfg, f, pub, cp)

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
	created := createdOf(msgs)
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
		if len(c.Recs) > maxGather {
			t.Errorf("a publish of %d records, more than a write may carry (%d)", len(c.Recs), maxGather)
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
	p := runOK(t, cfg, f, pub, cp)
	publishedAllTo(t, pub, cp, msgs, end)
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
	p := runOK(t, cfg, f, pub, cp)
	exactlyOnce(t, pub.Acked(), []int64{101, 102, 103, 104, 105})
	// Writes gather the pages that wait for them: in order, each new
	// msgid once, no empty write.
	var got []int64
	for _, c := range pub.Calls() {
		if len(c.Recs) == 0 {
			t.Error("an empty write")
		}
		for _, r := range c.Recs {
			got = append(got, r.MsgID)
		}
	}
	if want := []int64{101, 102, 103, 104, 105}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records written = %v, want %v", got, want)
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
	p := runOK(t, cfg, f, pub, cp)
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
	runOK(t, cfg, f, pub, cp)
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
