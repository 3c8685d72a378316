package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// temporaryErr is a Kafka failure that may succeed on retry.
type temporaryErr struct{ msg string }

func (e temporaryErr) Error() string   { return e.msg }
func (e temporaryErr) Temporary() bool { return true }

// TestReconcileFindsRecordsWrittenAfterTheLastCommit simulates a crash
// between Kafka's acknowledgement and the checkpoint commit: the topic holds
// records past the checkpoint's marks that the checkpoint does not know. Run
// must read them back before publishing and not publish them again.
func TestReconcileFindsRecordsWrittenAfterTheLastCommit(t *testing.T) {
	start, end := t0, t0.Add(30*time.Minute)
	msgs := generate(t, 21, start, end.Sub(start), 600, 0, 0)
	pub := newFakePublisher()
	cp := newFakeCheckpoint()

	// The first run publishes everything but "crashes" before any commit
	// other than the reconciliation's: its checkpoint commits fail.
	f := &fakeFetcher{msgs: msgs, pageSize: 50}
	cp.failCommit = func(n int) error {
		if n == 0 {
			return nil // the start-up reconciliation commit (marks of an empty topic)
		}
		return errors.New("disk gone")
	}
	p := mustNew(t, boundedConfig(start, end, 5*time.Minute), f, pub, cp)
	if err := run(t, t.Context(), p); err == nil {
		t.Fatal("first run succeeded although its commits failed")
	}
	landed := len(pub.Order())
	if landed == 0 {
		t.Fatal("first run published nothing; the test needs records after the marks")
	}
	if got := cp.State().Marks[fakeTopic][0]; got != 0 {
		t.Fatalf("marks after the first run = %d, want 0 (nothing committed after the start)", got)
	}

	// The second run must find those records in Kafka, not publish them
	// again, and finish the rest.
	cp.failCommit = nil
	p2 := mustNew(t, boundedConfig(start, end, 5*time.Minute), f, pub, cp)
	if err := run(t, t.Context(), p2); err != nil {
		t.Fatalf("second run: %v", err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	s := p2.Stats()
	if s.Recovered != int64(landed) || s.ReadBacks != 1 {
		t.Errorf("Stats = %+v, want Recovered %d (the first run's records) and one read-back", s, landed)
	}
	if got, want := cp.State().Marks[fakeTopic][0], int64(len(pub.Order())); got != want {
		t.Errorf("marks after the second run = %d, want the end of the log %d", got, want)
	}
	// The first commit of the second run holds the recovered msgids and the
	// marks at the end of what was read.
	commits := cp.Commits()
	var rec checkpoint.Commit
	for _, c := range commits {
		if len(c.Seen) == landed && c.Cursors == nil {
			rec = c
			break
		}
	}
	if rec.Marks[fakeTopic][0] != int64(landed) {
		t.Errorf("no reconciliation commit of %d msgids with marks %d; commits: %d", landed, landed, len(commits))
	}
}

// TestFailedWriteThatLandedIsNotWrittenAgain: a write fails with a
// temporary error although the broker stored part of it. Before retrying,
// the pipeline reads back and writes only what is really missing.
func TestFailedWriteThatLandedIsNotWrittenAgain(t *testing.T) {
	start, end := t0, t0.Add(10*time.Minute)
	msgs := generate(t, 22, start, end.Sub(start), 300, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 100}
	pub := newFakePublisher()
	pub.hook = func(_ context.Context, n int, recs []sink.Record) error {
		if n == 1 || n == 2 {
			return temporaryErr{"broker went away"}
		}
		return nil
	}
	pub.land = func(n, i int) bool { return n == 1 && i%2 == 0 } // call 1 stored half its records anyway
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, 5*time.Minute)
	var slept int
	cfg.PublishRetry = retry.Policy{Sleep: func(context.Context, time.Duration) error { slept++; return nil }}
	p := runOK(t, cfg, f, pub, cp)
	exactlyOnce(t, pub.Acked(), ids(msgs))
	s := p.Stats()
	calls := pub.Calls()
	if s.ReadBacks != 2 || s.Recovered != int64((len(calls[1].Recs)+1)/2) || slept != 2 {
		t.Errorf("Stats = %+v, %d retry waits; want 2 read-backs (one per failed write), %d recovered, 2 waits",
			s, slept, (len(calls[1].Recs)+1)/2)
	}
	// The retry after call 1 writes only the records that did not land.
	if len(calls[2].Recs) != len(calls[1].Recs)/2 {
		t.Errorf("retry wrote %d records, want the %d that did not land", len(calls[2].Recs), len(calls[1].Recs)/2)
	}
}

// TestAmbiguousWriteKeepsMarksOnShutdown: when the run stops right after a
// failed write, nothing tells whether its records landed; the final commit
// must then keep the stored marks so that the next start reads them back.
func TestAmbiguousWriteKeepsMarksOnShutdown(t *testing.T) {
	start, end := t0, t0.Add(10*time.Minute)
	msgs := generate(t, 23, start, end.Sub(start), 300, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 100}
	pub := newFakePublisher()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pub.hook = func(_ context.Context, n int, recs []sink.Record) error {
		if n == 1 {
			cancel()
			return temporaryErr{"broker went away"}
		}
		return nil
	}
	pub.land = func(n, i int) bool { return n == 1 } // it all landed, unknown to the pipeline
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, 5*time.Minute)
	cfg.PublishRetry = retry.Policy{}
	p := mustNew(t, cfg, f, pub, cp)
	if err := run(t, ctx, p); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	first := int64(len(pub.Calls()[0].Recs))
	if got := cp.State().Marks[fakeTopic][0]; got > first {
		t.Fatalf("marks moved to %d past the ambiguous write starting at %d", got, first)
	}
	// A restart reads the ambiguous records back and completes exactly once.
	pub.hook, pub.land = nil, nil
	p2 := mustNew(t, boundedConfig(start, end, 5*time.Minute), f, pub, cp)
	if err := run(t, t.Context(), p2); err != nil {
		t.Fatalf("second run: %v", err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	if s := p2.Stats(); s.Recovered == 0 {
		t.Errorf("Stats = %+v: the restart should have recovered the ambiguous write's records", s)
	}
}

// TestReadBackFailureIsRetried: the broker is down for the read-back too;
// the pipeline waits and tries again without publishing blindly.
func TestReadBackFailureIsRetried(t *testing.T) {
	start, end := t0, t0.Add(10*time.Minute)
	msgs := generate(t, 24, start, end.Sub(start), 200, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 100}
	pub := newFakePublisher()
	var early atomic.Int64 // writes made before the read-back succeeded
	pub.hook = func(_ context.Context, n int, recs []sink.Record) error {
		if n == 0 {
			return temporaryErr{"broker went away"}
		}
		if pub.ReadBacks() < 4 {
			early.Add(1)
		}
		return nil
	}
	pub.land = func(n, i int) bool { return n == 0 && i < 10 }
	pub.readBackErr = func(n int) error {
		if n < 3 {
			return temporaryErr{"still down"}
		}
		return nil
	}
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, 5*time.Minute)
	cfg.PublishRetry = retry.Policy{Sleep: func(context.Context, time.Duration) error { return nil }}
	runOK(t, cfg, f, pub, cp)
	exactlyOnce(t, pub.Acked(), ids(msgs))
	if pub.ReadBacks() != 4 {
		t.Errorf("%d read-backs, want 3 failed and 1 good", pub.ReadBacks())
	}
	// (How many calls the pages take depends on how many arrive while a
	// write is in flight: they are gathered.)
	if n := early.Load(); n != 0 || len(pub.Calls()) < 2 {
		t.Errorf("%d of %d publish calls made before the read-back succeeded, want none after the failed first", n, len(pub.Calls()))
	}
}

// poisonMsg returns a text message whose create_time cannot be read.
func poisonMsg(t *testing.T, id int64, at time.Time) fakeMsg {
	t.Helper()
	m := textMsg(id, at)
	m.JSON = withField(t, m.JSON, "create_time", `"not a time"`)
	return m
}

// withField returns the message object raw with field set to the bytes v,
// verbatim (even when they are not valid UTF-8).
func withField(t *testing.T, raw json.RawMessage, field, v string) json.RawMessage {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	delete(fields, field)
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return json.RawMessage(`{"` + field + `":` + v + "," + string(b[1:]))
}

// TestUntransformableMessageGoesToTheDeadLetterTopic: a message with a
// readable msgid but a bad field is published to the DLQ with its raw JSON
// and the reason, counts as handled, and the run goes on.
func TestUntransformableMessageGoesToTheDeadLetterTopic(t *testing.T) {
	start, end := t0, t0.Add(10*time.Minute)
	msgs := generate(t, 25, start, end.Sub(start), 100, 0, 0)
	bad := poisonMsg(t, 777_000_001, start.Add(3*time.Minute))
	badBody := textMsg(777_000_002, start.Add(4*time.Minute))
	badBody.JSON = withField(t, badBody.JSON, "msg_body", "{\"text\":\"\xff\xfe\"}") // not UTF-8: the transform refuses it
	all := append(append(msgs, bad), badBody)
	f := &fakeFetcher{msgs: all, pageSize: 40}
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	p := runOK(t, boundedConfig(start, end, 5*time.Minute), f, pub, cp)
	exactlyOnce(t, pub.Acked(), ids(all))
	dead := map[int64]sink.Record{}
	for _, c := range pub.Calls() {
		for _, r := range c.Recs {
			if r.DeadLetter != nil {
				dead[r.MsgID] = r
			}
		}
	}
	r, ok := dead[bad.ID]
	if !ok {
		t.Fatalf("message with a bad create_time was not dead-lettered; dead: %v", dead)
	}
	if string(r.Value) != string(bad.JSON) {
		t.Errorf("DLQ value %q, want the raw JSON %q", r.Value, bad.JSON)
	}
	if r.DeadLetter.Stage != "decode" || !strings.Contains(r.DeadLetter.Reason, "create_time") ||
		r.DeadLetter.Stream != "messages" || r.DeadLetter.Endpoint == "" {
		t.Errorf("DLQ metadata %+v: want stage decode, a reason naming create_time, the stream and the endpoint", r.DeadLetter)
	}
	if r, ok := dead[badBody.ID]; !ok || r.DeadLetter.Stage != "transform" {
		t.Errorf("message with bad extras: dead-lettered %v (%+v), want stage transform", ok, r.DeadLetter)
	}
	if len(dead) != 2 {
		t.Errorf("%d dead-lettered, want 2", len(dead))
	}
	if s := p.Stats(); s.DeadLettered != 2 || s.Published != int64(len(msgs)) {
		t.Errorf("Stats = %+v, want 2 dead-lettered and %d published", s, len(msgs))
	}
	// Handled: the cursor passed its window, and the checkpoint holds the
	// msgid until no query can return it (its horizon is the end of its
	// window: its create_time is unreadable).
	st := cp.State()
	if !st.Cursors["messages"].Equal(end) {
		t.Errorf("final cursor %v, want %v", st.Cursors["messages"], end)
	}
	if _, ok := cp.EverSeen()[bad.ID]; !ok && st.PrunedBefore <= start.Add(5*time.Minute).Unix() {
		t.Errorf("dead-lettered msgid neither committed nor behind the pruning horizon (%d)", st.PrunedBefore)
	}
}

// TestRescanSkippedWhenTotalUnchanged: once caught up, lookback rescans ask
// the API's total first (one small request) and fetch a window only when it
// differs from what the stream already served; a late arrival changes the
// total, is fetched and published once.
func TestRescanSkippedWhenTotalUnchanged(t *testing.T) {
	const (
		window   = 5 * time.Minute
		lookback = 10 * time.Minute
		poll     = 30 * time.Second
	)
	T0 := t0.Add(12 * time.Hour)
	base := generate(t, 26, T0.Add(-20*time.Minute), 20*time.Minute, 200, 0, 0)
	tf := newTailFakes(T0, base, 25)
	clock, f, pub, cp := tf.clock, tf.f, tf.pub, tf.cp
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		polls int
		late  fakeMsg
		stats []Stats
	)
	cfg := tailConfig(T0.Add(-20*time.Minute), clock, window, lookback, poll)
	var p *Pipeline
	cfg.Sleep = pollSleep(clock, cp, "messages", func(_ context.Context, n int, now time.Time, _ time.Duration) error {
		polls = n
		// Let the rescans planned before this wait finish: with one
		// fetcher they are done once the publisher committed after them,
		// which the next poll's waitFor proves; record stats per poll.
		stats = append(stats, p.Stats())
		switch polls {
		case 4:
			late = textMsg(888_000_001, now.Add(-3*time.Minute))
			f.add(late)
		case 8:
			cancel()
			return context.Canceled
		}
		return nil
	})
	p = mustNew(t, cfg, f, pub, cp)
	if err := run(t, ctx, p); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	acked := pub.Acked()
	if acked[late.ID] != 1 {
		t.Fatalf("late message published %d times, want 1", acked[late.ID])
	}
	for id, n := range acked {
		if n != 1 {
			t.Errorf("msgid %d published %d times", id, n)
		}
	}
	s := p.Stats()
	if s.RescanChecks == 0 || s.RescanSkips == 0 {
		t.Fatalf("Stats = %+v: want rescan checks, most of them skipped", s)
	}
	if s.RescanSkips >= s.RescanChecks {
		t.Errorf("Stats = %+v: the late arrival's window should have been fetched, not skipped", s)
	}
	// Fetches of rescan windows: only those whose total differed.
	var rescanFetches int
	for _, c := range f.Calls() {
		if c.Window.To.Sub(c.Window.From) <= window && !c.Window.To.After(clock.Now()) {
			rescanFetches++
		}
	}
	if int64(len(f.Counts())) != s.RescanChecks {
		t.Errorf("%d Count calls, Stats says %d", len(f.Counts()), s.RescanChecks)
	}
	t.Logf("%d polls: %d rescan checks, %d skipped; %d fetch calls in all", polls, s.RescanChecks, s.RescanSkips, rescanFetches)
}

// TestBoundedRunWaitsForLateArrivalsBeforeEnd: with End and a lookback, the
// run ends only once End+Lookback has passed, after a full last fetch of the
// lookback; a message sent before End that becomes visible after the cursor
// reached End is published.
func TestBoundedRunWaitsForLateArrivalsBeforeEnd(t *testing.T) {
	const (
		lookback = 2 * time.Minute
		poll     = 20 * time.Second
	)
	start := t0
	end := t0.Add(10 * time.Minute)
	clock := testkit.NewClock(end.Add(5 * time.Second))
	msgs := generate(t, 27, start, end.Sub(start), 200, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 50, now: clock.Now}
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	late := textMsg(999_111_001, end.Add(-30*time.Second))
	var polls int
	cfg := tailConfig(start, clock, 5*time.Minute, lookback, poll)
	cfg.End = end
	cfg.Sleep = func(sctx context.Context, d time.Duration) error {
		polls++
		if polls == 3 {
			f.add(late) // visible only now, long after the cursor reached End
		}
		clock.Advance(d)
		return nil
	}
	runOK(t, cfg, f, pub, cp)
	if clock.Now().Before(end.Add(lookback)) {
		t.Errorf("run ended at %v, before End+Lookback %v", clock.Now(), end.Add(lookback))
	}
	exactlyOnce(t, pub.Acked(), append(ids(msgs), late.ID))
	// The last pass fetched the whole lookback without asking for totals.
	calls := f.Calls()
	last := calls[len(calls)-1]
	if !last.Window.To.Equal(end) {
		t.Errorf("last fetch %v, want the final rescan ending at End", last.Window)
	}
	if polls < int(lookback/poll) {
		t.Errorf("%d polls, want the run to wait about %v", polls, lookback)
	}
}

// TestCommitsCarryMarks: every commit after a successful write stores the
// publisher's end offsets, so a restart reads back nothing.
func TestCommitsCarryMarks(t *testing.T) {
	start, end := t0, t0.Add(20*time.Minute)
	msgs := generate(t, 28, start, end.Sub(start), 400, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 100}
	pub := newFakePublisher()
	cp := newFakeCheckpoint()
	runOK(t, boundedConfig(start, end, 5*time.Minute), f, pub, cp)
	for i, c := range cp.Commits() {
		if c.Marks == nil {
			t.Errorf("commit %d has no marks", i)
		}
	}
	p2 := mustNew(t, boundedConfig(start, end, 5*time.Minute), f, pub, cp)
	if err := run(t, t.Context(), p2); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if s := p2.Stats(); s.Recovered != 0 || s.ReadBacks != 1 {
		t.Errorf("second run Stats = %+v, want one read-back that finds nothing", s)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	_ = fmt.Sprint()
}

// TestStreamAddedLaterIsDeduplicatedAgainstKafka: a stream added to a
// checkpoint whose dedupe set was already pruned backfills from Start over
// messages another stream published; the pipeline reads what was published
// since Start back from Kafka first, so none is published twice.
func TestStreamAddedLaterIsDeduplicatedAgainstKafka(t *testing.T) {
	start, end := t0, t0.Add(2*time.Hour)
	msgs := generate(t, 29, start, end.Sub(start), 500, 0, 0)
	f := &fakeFetcher{msgs: msgs, pageSize: 50} // every stream serves every message
	clock := testkit.NewClock(end.Add(time.Hour))
	pub := newFakePublisher()
	pub.now = clock.Now
	cp := newFakeCheckpoint()
	cfg := boundedConfig(start, end, 10*time.Minute)
	cfg.Streams = []source.Stream{source.User("a")}
	cfg.Lookback = 10 * time.Minute
	cfg.Now = clock.Now
	if err := run(t, t.Context(), mustNew(t, cfg, f, pub, cp)); err != nil {
		t.Fatalf("first run: %v", err)
	}
	if n := len(cp.State().Seen); n >= len(msgs) {
		t.Fatalf("test setup: the dedupe set holds %d of %d msgids, nothing was pruned", n, len(msgs))
	}
	aCursor := cp.State().Cursors["users/a"]

	cfg.Streams = []source.Stream{source.User("a"), source.User("b")}
	p := mustNew(t, cfg, f, pub, cp)
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("second run: %v", err)
	}
	exactlyOnce(t, pub.Acked(), ids(msgs))
	st := cp.State()
	if !st.Cursors["users/b"].Equal(end) || !st.Cursors["users/a"].Equal(aCursor) {
		t.Errorf("cursors %v: want b backfilled to %v and a left at %v", st.Cursors, end, aCursor)
	}
	if s := p.Stats(); s.Duplicates < int64(len(msgs)) || s.Published != 0 {
		t.Errorf("Stats = %+v: want b's whole backfill skipped as duplicates", s)
	}
}
