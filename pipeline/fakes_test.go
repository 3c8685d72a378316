package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// t0 is the start of every test dataset: 2025-03-01T00:00:00Z.
var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

var discard = slog.New(slog.DiscardHandler)

// fakeMsg is one message a fake fetcher can serve.
type fakeMsg struct {
	ID   int64
	Time time.Time // create_time
	JSON json.RawMessage
}

// generate returns simulator messages sent in [start, start+d), in the API's order.
func generate(t testing.TB, seed uint64, start time.Time, d time.Duration, count, bursts, burstSize int) []fakeMsg {
	t.Helper()
	ms := simulator.Generate(simulator.GenSpec{
		Seed: seed, Start: start, End: start.Add(d), Count: count,
		Bursts: bursts, BurstSize: burstSize, Users: 50,
	})
	out := make([]fakeMsg, len(ms))
	for i, m := range ms {
		out[i] = fakeMsg{ID: m.MsgID, Time: time.Unix(m.CreateTime, 0).UTC(), JSON: m.JSON}
	}
	if len(out) < count {
		t.Fatalf("generated %d messages, want at least %d", len(out), count)
	}
	return out
}

// textMsg hand-crafts a valid text message.
func textMsg(id int64, at time.Time) fakeMsg {
	m := simulator.Encode(simulator.Message{
		MsgID: id, MsgType: "text", Version: 1, TargetType: "single", TargetID: "user0001",
		FromType: "user", FromID: "user0002", FromPlatform: "a",
		CreateTime: at.Unix(), MsgCtime: at.Unix()*1000 + 5, Body: []byte(`{"text":"hi"}`),
	})
	return fakeMsg{ID: id, Time: at.UTC(), JSON: m.JSON}
}

func ids(ms []fakeMsg) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// fakeFetcher serves msgs whose send time t is in [From, To] (both bounds
// inclusive, the widest reading of the API's bounds, so neighbouring windows
// overlap by a second), in pages of at most pageSize.
type fakeFetcher struct {
	pageSize int
	now      func() time.Time // nil: every message is visible; else only t <= now
	// script, if set, replaces msgs: the pages to serve for a window.
	script func(s source.Stream, w source.Window) [][]json.RawMessage
	// before, if set, runs at the start of every Fetch (outside the lock).
	before func(ctx context.Context, s source.Stream, w source.Window) error

	mu     sync.Mutex
	msgs   []fakeMsg
	calls  []fetchCall
	served map[int64][]source.Window // msgid -> windows that returned it
	counts []fetchCall
}

type fetchCall struct {
	Stream source.Stream
	Window source.Window
}

// fetchAfterCommit returns a fakeFetcher.before that holds the fetch of
// every window from at on until cp's cursor of stream has reached at: the
// windows before are published and committed, so no Kafka write carries
// their records with the held windows' (a write gathers whatever pages
// wait for it).
func fetchAfterCommit(cp *fakeCheckpoint, stream string, at time.Time) func(context.Context, source.Stream, source.Window) error {
	return func(ctx context.Context, _ source.Stream, w source.Window) error {
		if w.From.Before(at) {
			return nil
		}
		for {
			if c, ok := cp.State().Cursors[stream]; ok && !c.Before(at) {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
}

func (f *fakeFetcher) add(ms ...fakeMsg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, ms...)
}

func (f *fakeFetcher) Calls() []fetchCall {
	return withLock(&f.mu, func() []fetchCall { return slices.Clone(f.calls) })
}

func (f *fakeFetcher) Served(id int64) []source.Window {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.served[id])
}

func (f *fakeFetcher) Fetch(ctx context.Context, s source.Stream, w source.Window, fn func(source.Page) error) error {
	if err := w.Valid(); err != nil { // as the real client does
		return fmt.Errorf("fake fetch %s: %w", s, err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, fetchCall{s, w})
	f.mu.Unlock()
	if f.before != nil {
		if err := f.before(ctx, s, w); err != nil {
			return err
		}
	}
	var pages [][]json.RawMessage
	var fetchedAt time.Time
	f.mu.Lock()
	if f.now != nil {
		fetchedAt = f.now()
	}
	if f.script != nil {
		pages = f.script(s, w)
	} else {
		if f.served == nil {
			f.served = map[int64][]source.Window{}
		}
		var sel []json.RawMessage
		for _, m := range f.msgs {
			if m.Time.Before(w.From) || m.Time.After(w.To) || (f.now != nil && m.Time.After(fetchedAt)) {
				continue
			}
			sel = append(sel, m.JSON)
			f.served[m.ID] = append(f.served[m.ID], w)
		}
		for len(sel) > 0 {
			n := min(f.pageSize, len(sel))
			pages = append(pages, sel[:n:n])
			sel = sel[n:]
		}
	}
	f.mu.Unlock()
	total := 0
	for _, p := range pages {
		total += len(p)
	}
	start := 0
	for _, msgs := range pages {
		if err := ctx.Err(); err != nil {
			return err
		}
		pg := source.Page{Stream: s, Window: w, Endpoint: "/v1/messages", Start: start, Total: total, Messages: msgs, FetchedAt: fetchedAt}
		if err := fn(pg); err != nil {
			return err
		}
		start += len(msgs)
	}
	return nil
}

// Count returns the number of messages Fetch would serve for w.
func (f *fakeFetcher) Count(ctx context.Context, s source.Stream, w source.Window) (int, error) {
	f.mu.Lock()
	f.counts = append(f.counts, fetchCall{s, w})
	script, now, msgs := f.script, f.now, f.msgs
	f.mu.Unlock()
	if script != nil {
		n := 0
		for _, p := range script(s, w) {
			n += len(p)
		}
		return n, nil
	}
	var at time.Time
	if now != nil {
		at = now()
	}
	n := 0
	for _, m := range msgs {
		if m.Time.Before(w.From) || m.Time.After(w.To) || (now != nil && m.Time.After(at)) {
			continue
		}
		n++
	}
	return n, nil
}

func (f *fakeFetcher) Counts() []fetchCall {
	return withLock(&f.mu, func() []fetchCall { return slices.Clone(f.counts) })
}

// fakeTopic is the one topic-partition of fakePublisher's log.
const fakeTopic = "fake"

// fakePublisher acknowledges every record except those its hook fails, and
// keeps a log of what "landed" for Marks and ReadBack.
type fakePublisher struct {
	// hook, if set, decides the result of call n (0-based); a *sink.WriteError
	// fails only the records it names, any other error fails them all.
	hook func(ctx context.Context, n int, recs []sink.Record) error
	// land, if set, says whether failed record i of call n landed in the
	// log anyway (a write that failed after the broker stored it).
	land func(n, i int) bool
	// readBackErr, if set, is consulted before every ReadBack.
	readBackErr func(n int) error
	// now, if set, timestamps the log for Marks with a time; without it
	// Marks(at) returns the start of the log.
	now func() time.Time

	mu    sync.Mutex
	calls []pubCall
	acked map[int64]int // msgid -> times landed in the log
	order []int64       // msgids in the order they landed
	log   []sink.Record // what landed, offset = index
	times []time.Time   // when each record landed
	reads int           // ReadBack calls
}

type pubCall struct {
	Recs []sink.Record
	Err  error
}

func newFakePublisher() *fakePublisher { return &fakePublisher{acked: map[int64]int{}} }

func (f *fakePublisher) Publish(ctx context.Context, recs []sink.Record) error {
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, pubCall{Recs: slices.Clone(recs)})
	f.mu.Unlock()
	var err error
	if f.hook != nil {
		err = f.hook(ctx, n, recs)
	}
	failed := make([]bool, len(recs))
	var we *sink.WriteError
	switch {
	case err == nil:
	case errors.As(err, &we):
		for _, i := range we.Failed {
			failed[i] = true
		}
	default:
		for i := range failed {
			failed[i] = true
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[n].Err = err
	for i, r := range recs {
		if !failed[i] || (f.land != nil && f.land(n, i)) {
			f.acked[r.MsgID]++
			f.order = append(f.order, r.MsgID)
			f.log = append(f.log, r)
			var at time.Time
			if f.now != nil {
				at = f.now()
			}
			f.times = append(f.times, at)
		}
	}
	return err
}

func (f *fakePublisher) Marks(ctx context.Context, at time.Time) (map[string]map[int]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	off := int64(len(f.log))
	if !at.IsZero() {
		off = 0
		if f.now != nil {
			for off < int64(len(f.times)) && f.times[off].Before(at) {
				off++
			}
		}
	}
	return map[string]map[int]int64{fakeTopic: {0: off}}, nil
}

func (f *fakePublisher) ReadBack(ctx context.Context, from map[string]map[int]int64, fn func(sink.Found) error) (map[string]map[int]int64, error) {
	f.mu.Lock()
	n := f.reads
	f.reads++
	f.mu.Unlock()
	if f.readBackErr != nil {
		if err := f.readBackErr(n); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	log := slices.Clone(f.log)
	f.mu.Unlock()
	for off := from[fakeTopic][0]; off < int64(len(log)); off++ {
		r := log[off]
		if err := fn(sink.Found{Topic: fakeTopic, Offset: off, MsgID: r.MsgID, DeadLetter: r.DeadLetter != nil, Value: r.Value}); err != nil {
			return nil, err
		}
	}
	return map[string]map[int]int64{fakeTopic: {0: int64(len(log))}}, nil
}

func (f *fakePublisher) ReadBacks() int {
	return withLock(&f.mu, func() int { return f.reads })
}

func (f *fakePublisher) Calls() []pubCall {
	return withLock(&f.mu, func() []pubCall { return slices.Clone(f.calls) })
}

func (f *fakePublisher) Acked() map[int64]int {
	return withLock(&f.mu, func() map[int64]int { return maps.Clone(f.acked) })
}

func (f *fakePublisher) Order() []int64 {
	return withLock(&f.mu, func() []int64 { return slices.Clone(f.order) })
}

// fakeCheckpoint keeps a checkpoint.State in memory with checkpoint.Store's
// Commit semantics: cursors move (whole seconds, never backwards without
// Force), Seen merges keeping the larger horizon, PruneBefore applies last.
// Every Commit is recorded.
type fakeCheckpoint struct {
	// check, if set, runs at the start of every Commit, under the lock; a
	// non-nil result fails the Commit.
	check func(c checkpoint.Commit, before checkpoint.State) error
	// failCommit, if set, is consulted for commit n (0-based).
	failCommit func(n int) error
	loadErr    error

	mu       sync.Mutex
	state    checkpoint.State
	commits  []checkpoint.Commit
	everSeen map[int64]int64 // every msgid ever committed, pruned or not
	changed  chan struct{}   // closed and replaced on every commit
}

func newFakeCheckpoint() *fakeCheckpoint {
	return &fakeCheckpoint{
		state:    checkpoint.State{Cursors: map[string]time.Time{}, Seen: map[int64]int64{}, Marks: map[string]map[int]int64{}},
		everSeen: map[int64]int64{},
		changed:  make(chan struct{}),
	}
}

func copyState(s checkpoint.State) checkpoint.State {
	s.Cursors = maps.Clone(s.Cursors)
	s.Seen = maps.Clone(s.Seen)
	marks := map[string]map[int]int64{}
	for t, ps := range s.Marks {
		marks[t] = maps.Clone(ps)
	}
	s.Marks = marks
	return s
}

func (f *fakeCheckpoint) Load() (checkpoint.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loadErr != nil {
		return checkpoint.State{}, f.loadErr
	}
	return copyState(f.state), nil
}

func (f *fakeCheckpoint) Commit(c checkpoint.Commit) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failCommit != nil {
		if err := f.failCommit(len(f.commits)); err != nil {
			return err
		}
	}
	if f.check != nil {
		if err := f.check(c, f.state); err != nil {
			return err
		}
	}
	cursors := map[string]time.Time{}
	for k, v := range c.Cursors {
		if k == "" || v.IsZero() {
			return fmt.Errorf("fake checkpoint commit: empty stream or zero cursor (%q, %v)", k, v)
		}
		v = v.UTC().Truncate(time.Second)
		if old, ok := f.state.Cursors[k]; ok && v.Before(old) && !c.Force {
			return fmt.Errorf("fake checkpoint commit: %s from %v to %v: %w", k, old, v, checkpoint.ErrCursorBackwards)
		}
		cursors[k] = v
	}
	for id, h := range c.Seen {
		if h < 0 {
			return fmt.Errorf("fake checkpoint commit: msgid %d: negative horizon %d", id, h)
		}
	}
	maps.Copy(f.state.Cursors, cursors)
	for t, ps := range c.Marks {
		if f.state.Marks[t] == nil {
			f.state.Marks[t] = map[int]int64{}
		}
		maps.Copy(f.state.Marks[t], ps)
	}
	for id, h := range c.Seen {
		if old, ok := f.state.Seen[id]; !ok || h > old {
			f.state.Seen[id] = h
		}
		if old, ok := f.everSeen[id]; !ok || h > old {
			f.everSeen[id] = h
		}
	}
	if c.PruneBefore > 0 {
		f.state.PrunedBefore = max(f.state.PrunedBefore, c.PruneBefore)
		for id, h := range f.state.Seen {
			if h < c.PruneBefore {
				delete(f.state.Seen, id)
			}
		}
	}
	if c.Floor != nil {
		f.state.Floor = map[string]map[int]int64{}
		for t, ps := range c.Floor {
			f.state.Floor[t] = maps.Clone(ps)
		}
	}
	if c.Sequence > 0 {
		f.state.Sequence = c.Sequence
	}
	if c.Lineage != "" {
		f.state.Lineage = c.Lineage
	}
	f.state.Commits++
	f.state.Updated = c.Now.UTC()
	rec := c
	rec.Cursors = maps.Clone(c.Cursors)
	rec.Seen = maps.Clone(c.Seen)
	f.commits = append(f.commits, rec)
	close(f.changed)
	f.changed = make(chan struct{})
	return nil
}

func (f *fakeCheckpoint) State() checkpoint.State {
	return withLock(&f.mu, func() checkpoint.State { return copyState(f.state) })
}

func (f *fakeCheckpoint) Commits() []checkpoint.Commit {
	return withLock(&f.mu, func() []checkpoint.Commit { return slices.Clone(f.commits) })
}

func (f *fakeCheckpoint) EverSeen() map[int64]int64 {
	return withLock(&f.mu, func() map[int64]int64 { return maps.Clone(f.everSeen) })
}

// waitFor blocks until cond holds for the state (checked after every commit)
// or ctx ends.
func (f *fakeCheckpoint) waitFor(ctx context.Context, cond func(checkpoint.State, map[int64]int64) bool) error {
	for {
		f.mu.Lock()
		ok := cond(f.state, f.everSeen)
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// noSleep fails a run that waits where it should not.
func noSleep(what string) func(context.Context, time.Duration) error {
	return func(context.Context, time.Duration) error { return fmt.Errorf("unexpected %s wait", what) }
}

// boundedConfig is a one-stream backfill of [start, end) with a clock far
// past end, so the planner never waits.
func boundedConfig(start, end time.Time, window time.Duration) Config {
	return Config{
		Streams:      []source.Stream{source.Messages},
		AppKey:       simulator.DefaultAppKey,
		Start:        start,
		End:          end,
		Window:       window,
		Now:          func() time.Time { return end.Add(time.Hour) },
		Sleep:        noSleep("poll"),
		PublishRetry: retry.Policy{Sleep: noSleep("publish retry")},
		Logger:       discard,
	}
}

// tailConfig is a one-stream run from start without End, on clock; the
// caller sets Sleep, which alone advances the clock.
func tailConfig(start time.Time, clock *testkit.Clock, window, lookback, poll time.Duration) Config {
	return Config{
		Streams: []source.Stream{source.Messages}, AppKey: simulator.DefaultAppKey,
		Start: start, Window: window, Lookback: lookback, PollInterval: poll,
		Now: clock.Now, Logger: discard, PublishRetry: retry.Policy{Sleep: noSleep("publish retry")},
	}
}

// tailFakes are the fakes of a tailing run on a fake clock at T0: a fetcher
// serving msgs in pages of pageSize (those sent after the clock invisible
// until it passes them), a publisher and a checkpoint.
type tailFakes struct {
	T0    time.Time
	clock *testkit.Clock
	f     *fakeFetcher
	pub   *fakePublisher
	cp    *fakeCheckpoint
}

func newTailFakes(T0 time.Time, msgs []fakeMsg, pageSize int) *tailFakes {
	clock := testkit.NewClock(T0)
	return &tailFakes{T0: T0, clock: clock, f: &fakeFetcher{msgs: msgs, pageSize: pageSize, now: clock.Now},
		pub: newFakePublisher(), cp: newFakeCheckpoint()}
}

// pollSleep is the Sleep of a tailing run on clock: each poll first waits
// until every window planned so far is committed (the stream's cursor in cp
// is at the poll's time), then calls at with the poll's number (from 1),
// that time and the wait; an error from at ends the wait with it, nil lets
// the clock advance by the wait.
func pollSleep(clock *testkit.Clock, cp *fakeCheckpoint, stream string, at func(ctx context.Context, n int, now time.Time, d time.Duration) error) func(context.Context, time.Duration) error {
	polls := 0
	return func(ctx context.Context, d time.Duration) error {
		polls++
		now := clock.Now().Truncate(time.Second)
		if err := cp.waitFor(ctx, func(s checkpoint.State, _ map[int64]int64) bool {
			return s.Cursors[stream].Equal(now)
		}); err != nil {
			return err
		}
		if err := at(ctx, polls, now, d); err != nil {
			return err
		}
		clock.Advance(d)
		return nil
	}
}

// windowOf returns the index of the window (of size w from start) that first
// serves a message sent at t under inclusive bounds: window k serves
// [From_k, To_k], and a message at To_k is first served by k.
func windowOf(t, start time.Time, w time.Duration) int {
	if !t.After(start) {
		return 0
	}
	return int((t.Sub(start) - time.Second) / w)
}

// mustNew calls New and fails the test on error.
func mustNew(t testing.TB, cfg Config, f Fetcher, p Publisher, c Checkpointer) *Pipeline {
	t.Helper()
	pl, err := New(cfg, f, p, c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return pl
}

// run runs p and fails the test if Run does not return: a deadlock guard
// only, never part of what a test checks.
func run(t *testing.T, ctx context.Context, p *Pipeline) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("Run did not return: deadlock?\n%s", buf[:n])
		return nil
	}
}

// runOK builds a pipeline of cfg over the fakes, runs it to its end and
// fails the test unless Run returns nil.
func runOK(t *testing.T, cfg Config, f Fetcher, pub Publisher, cp Checkpointer) *Pipeline {
	t.Helper()
	p := mustNew(t, cfg, f, pub, cp)
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return p
}

// withLock returns get's result, called with mu held: the fakes' getters.
func withLock[T any](mu *sync.Mutex, get func() T) T {
	mu.Lock()
	defer mu.Unlock()
	return get()
}

// publishedAllTo checks that msgs were each published once and the
// messages stream's cursor ended at end.
func publishedAllTo(t *testing.T, pub *fakePublisher, cp *fakeCheckpoint, msgs []fakeMsg, end time.Time) {
	t.Helper()
	exactlyOnce(t, pub.Acked(), ids(msgs))
	if got := cp.State().Cursors["messages"]; !got.Equal(end) {
		t.Errorf("final cursor = %v, want %v", got, end)
	}
}

// createdOf maps each message's msgid to its create time (Unix seconds).
func createdOf(msgs []fakeMsg) map[int64]int64 {
	created := make(map[int64]int64, len(msgs))
	for _, m := range msgs {
		created[m.ID] = m.Time.Unix()
	}
	return created
}

// exactlyOnce checks that every want msgid was acknowledged exactly once and
// nothing else was.
func exactlyOnce(t *testing.T, acked map[int64]int, want []int64) {
	t.Helper()
	wantSet := make(map[int64]bool, len(want))
	bad := 0
	for _, id := range want {
		wantSet[id] = true
		if n := acked[id]; n != 1 {
			if bad++; bad <= 10 {
				t.Errorf("msgid %d acknowledged %d times, want 1", id, n)
			}
		}
	}
	for id, n := range acked {
		if !wantSet[id] {
			if bad++; bad <= 10 {
				t.Errorf("msgid %d acknowledged %d times, want 0", id, n)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d problems in all", bad)
	}
}

// WindowCommits returns the commits after the start-up reconciliation's
// (the first commit of a run on a fresh checkpoint: marks only).
func (f *fakeCheckpoint) WindowCommits() []checkpoint.Commit {
	cs := f.Commits()
	if len(cs) > 0 && cs[0].Cursors == nil && len(cs[0].Seen) == 0 && cs[0].Marks != nil {
		return cs[1:]
	}
	return cs
}

// CursorCommits returns the commits that move a cursor.
func (f *fakeCheckpoint) CursorCommits() []checkpoint.Commit {
	var out []checkpoint.Commit
	for _, c := range f.Commits() {
		if len(c.Cursors) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// notCommitted returns the acknowledged msgids that no commit recorded
// although a query could still return them: those whose dedupe horizon (a
// second past create_time) is not below the last commit's PruneBefore. (A
// msgid a commit would prune at once is not written.)
func notCommitted(cp *fakeCheckpoint, acked map[int64]int, msgs []fakeMsg) []int64 {
	var prune int64
	for _, c := range cp.Commits() {
		prune = max(prune, c.PruneBefore)
	}
	created := createdOf(msgs)
	ever := cp.EverSeen()
	var out []int64
	for id := range acked {
		if _, ok := ever[id]; ok {
			continue
		}
		if ct, ok := created[id]; ok && ct+1 < prune {
			continue
		}
		out = append(out, id)
	}
	return out
}
