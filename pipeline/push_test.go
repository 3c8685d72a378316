package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
	"github.com/imreport/imreport/source/callback"
)

// batchOf decodes msgs as a callback body would carry them.
func batchOf(t *testing.T, at time.Time, msgs ...fakeMsg) source.PushBatch {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `{"total":%d,"messages":[`, len(msgs))
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m.JSON)
	}
	b.WriteString("]}")
	batch, err := callback.DecodeBody([]byte(b.String()))
	if err != nil {
		t.Fatalf("DecodeBody: %v", err)
	}
	batch.Endpoint, batch.ReceivedAt = "/callback", at
	return batch
}

// newPushTail is the fakes of a tail run at t0 + 6h over msgs (pages of
// 20). Its run's first poll (the planner caught up at T0) calls
// atFirstPoll, then the clock runs poll by poll until the cursor reaches
// until, then the run is cancelled.
func newPushTail(t *testing.T, msgs []fakeMsg) *tailFakes {
	return newTailFakes(t0.Add(6*time.Hour), msgs, 20)
}

func (pt *tailFakes) run(t *testing.T, atFirstPoll func(ctx context.Context, p *Pipeline) error, until time.Time) (*Pipeline, error) {
	t.Helper()
	return pt.runWith(t, nil, atFirstPoll, until)
}

func (pt *tailFakes) runWith(t *testing.T, adjust func(*Config), atFirstPoll func(ctx context.Context, p *Pipeline) error, until time.Time) (*Pipeline, error) {
	t.Helper()
	const poll = 30 * time.Second
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := tailConfig(pt.T0.Add(-5*time.Minute), pt.clock, time.Minute, 2*time.Minute, poll)
	cfg.PublishRetry = retry.Policy{Sleep: func(context.Context, time.Duration) error { return nil }}
	if adjust != nil {
		adjust(&cfg)
	}
	var p *Pipeline
	cfg.Sleep = pollSleep(pt.clock, pt.cp, cfg.Streams[0].String(), func(sctx context.Context, polls int, now time.Time, _ time.Duration) error {
		if polls == 1 && atFirstPoll != nil {
			if err := atFirstPoll(sctx, p); err != nil {
				return err
			}
		}
		if !now.Before(until) {
			cancel()
			return context.Canceled
		}
		return nil
	})
	p = mustNew(t, cfg, pt.f, pt.pub, pt.cp)
	return p, run(t, ctx, p)
}

// TestPushThenPollPublishesEachMessageOnce: callbacks deliver some messages
// before the poller reaches them (some twice, some concurrently); the
// poller then publishes only the others. Every message is in Kafka once, the
// pushed ones with source.api_version "callback" and the callback path.
func TestPushThenPollPublishesEachMessageOnce(t *testing.T) {
	all := generate(t, 31, t0.Add(6*time.Hour).Add(time.Second), 50*time.Second, 200, 0, 0)
	var pushed, polled []fakeMsg
	for i, m := range all {
		if i%3 == 0 {
			polled = append(polled, m) // a lost callback
		} else {
			pushed = append(pushed, m)
		}
	}
	pt := newPushTail(t, all)
	var pushErrs []error
	p, err := pt.run(t, func(ctx context.Context, p *Pipeline) error {
		at := pt.clock.Now()
		// Ten one at a time, then all of them twice, concurrently in small
		// batches: duplicates of a callback publish nothing.
		for _, m := range pushed[:10] {
			if err := p.Push(ctx, batchOf(t, at, m)); err != nil {
				pushErrs = append(pushErrs, err)
			}
		}
		if n := len(pt.pub.Order()); n != 10 {
			pushErrs = append(pushErrs, fmt.Errorf("after 10 pushes %d records in Kafka, want 10", n))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < 2*len(pushed); i += 7 {
			wg.Add(1)
			go func(ms []fakeMsg) {
				defer wg.Done()
				if err := p.Push(ctx, batchOf(t, at, ms...)); err != nil {
					mu.Lock()
					pushErrs = append(pushErrs, err)
					mu.Unlock()
				}
			}(pushed[i%len(pushed) : min(i%len(pushed)+7, len(pushed))])
		}
		wg.Wait()
		return nil
	}, pt.T0.Add(2*time.Minute))
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	for _, err := range pushErrs {
		t.Error(err)
	}
	exactlyOnce(t, pt.pub.Acked(), ids(all))

	bySource := map[int64]string{}
	for _, c := range pt.pub.Calls() {
		for _, r := range c.Recs {
			rec, err := p.codec.Decode(r.Value)
			if err != nil {
				t.Fatalf("decode msgid %d: %v", r.MsgID, err)
			}
			src := rec["source"].(map[string]any)
			bySource[r.MsgID] = fmt.Sprint(src["api_version"], " ", src["endpoint"])
		}
	}
	for _, m := range pushed {
		if got := bySource[m.ID]; got != "callback /callback" {
			t.Errorf("pushed msgid %d: source %q, want \"callback /callback\"", m.ID, got)
		}
	}
	for _, m := range polled {
		if got := bySource[m.ID]; !strings.HasPrefix(got, "v1 ") {
			t.Errorf("polled msgid %d: source %q, want the API's", m.ID, got)
		}
	}
	s := p.Stats()
	if s.CallbackPublished != int64(len(pushed)) || s.Published != int64(len(all)) {
		t.Errorf("Stats: %d published by callback of %d, want %d of %d", s.CallbackPublished, s.Published, len(pushed), len(all))
	}
	if s.CallbackDuplicates < int64(len(pushed)) {
		t.Errorf("Stats.CallbackDuplicates = %d, want at least %d (every pushed message was pushed again)", s.CallbackDuplicates, len(pushed))
	}
	// Pushed msgids are committed with a second past their create_time,
	// which keeps them until the cursor passes them by the lookback.
	seen := pt.cp.EverSeen()
	for _, m := range pushed {
		if h := seen[m.ID]; h != m.Time.Unix()+1 {
			t.Errorf("pushed msgid %d committed with horizon %d, want %d", m.ID, h, m.Time.Unix()+1)
		}
	}
}

// TestPushAcknowledgedThenCrashCostsAReadBack: Push returned nil (the
// vendor got its 200), then the process died before the checkpoint commit
// (simulated by failing every commit after the start-up one). The next run
// finds the pushed records in Kafka by reading back from the marks, and the
// poller does not publish them again.
func TestPushAcknowledgedThenCrashCostsAReadBack(t *testing.T) {
	all := generate(t, 32, t0.Add(6*time.Hour).Add(time.Second), 50*time.Second, 120, 0, 0)
	pushed := all[:80]
	pt := newPushTail(t, all)
	var killed atomic.Bool
	pt.cp.failCommit = func(int) error {
		if killed.Load() {
			return errors.New("killed")
		}
		return nil
	}
	var pushErr error
	_, err := pt.run(t, func(ctx context.Context, p *Pipeline) error {
		killed.Store(true) // from now on nothing reaches the checkpoint
		pushErr = p.Push(ctx, batchOf(t, pt.clock.Now(), pushed...))
		<-ctx.Done() // the commit of the pushed msgids fails: the run stops
		return ctx.Err()
	}, pt.T0.Add(time.Hour))
	if pushErr != nil {
		t.Fatalf("Push = %v, want nil (acknowledged by Kafka before the commit)", pushErr)
	}
	var ce *commitError
	if !errors.As(err, &ce) {
		t.Fatalf("first run = %v, want the failed commit", err)
	}
	if n := len(pt.pub.Order()); n != len(pushed) {
		t.Fatalf("%d records in Kafka after the first run, want %d", n, len(pushed))
	}
	for _, id := range ids(pushed) {
		if _, ok := pt.cp.State().Seen[id]; ok {
			t.Fatalf("msgid %d reached the checkpoint: the test needs a crash before the commit", id)
		}
	}

	pt.cp.failCommit = nil
	p2, err := pt.run(t, nil, pt.T0.Add(2*time.Minute))
	if err != nil {
		t.Fatalf("second run = %v", err)
	}
	exactlyOnce(t, pt.pub.Acked(), ids(all))
	if s := p2.Stats(); s.Recovered != int64(len(pushed)) {
		t.Errorf("Stats.Recovered = %d, want %d (the pushed records, read back)", s.Recovered, len(pushed))
	}
}

// TestPushBehindTheDedupeHorizonIsSkipped: a callback so late that the
// poller's cursor passed its message by more than the lookback (polling
// published it; the dedupe set has dropped it) publishes nothing.
func TestPushBehindTheDedupeHorizonIsSkipped(t *testing.T) {
	pt := newPushTail(t, nil)
	old := textMsg(777, pt.T0.Add(-3*time.Minute)) // lookback 2m + 2s: behind the horizon
	recent := textMsg(778, pt.T0.Add(-time.Minute))
	var pushErr error
	p, err := pt.run(t, func(ctx context.Context, p *Pipeline) error {
		pushErr = p.Push(ctx, batchOf(t, pt.clock.Now(), old, recent))
		return nil
	}, pt.T0)
	if err != nil || pushErr != nil {
		t.Fatalf("Run = %v, Push = %v", err, pushErr)
	}
	if got := pt.pub.Acked(); got[777] != 0 || got[778] != 1 {
		t.Errorf("acknowledged %v, want only 778 (777 is behind the dedupe horizon)", got)
	}
	if s := p.Stats(); s.CallbackStale != 1 || s.CallbackPublished != 1 {
		t.Errorf("Stats = %+v, want 1 callback stale and 1 published", s)
	}
}

// TestPushedPoisonGoesToTheDeadLetterTopic: a pushed message with a
// readable msgid and a bad field is dead-lettered, and counted as handled.
func TestPushedPoisonGoesToTheDeadLetterTopic(t *testing.T) {
	pt := newPushTail(t, nil)
	bad := poisonMsg(t, 501, pt.T0.Add(5*time.Second))
	_, err := pt.run(t, func(ctx context.Context, p *Pipeline) error {
		return p.Push(ctx, batchOf(t, pt.clock.Now(), bad, textMsg(502, pt.T0.Add(5*time.Second))))
	}, pt.T0)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	var dl *sink.Record
	for _, c := range pt.pub.Calls() {
		for _, r := range c.Recs {
			if r.MsgID == 501 {
				dl = &r
			}
		}
	}
	if dl == nil || dl.DeadLetter == nil {
		t.Fatalf("msgid 501 not published as a dead letter: %+v", dl)
	}
	if d := dl.DeadLetter; d.Stage != "decode" || d.Stream != PathCallback || d.Endpoint != "/callback" || string(dl.Value) != string(bad.JSON) {
		t.Errorf("dead letter %+v value %q, want stage decode, stream callback, endpoint /callback and the raw JSON", d, dl.Value)
	}
	exactlyOnce(t, pt.pub.Acked(), []int64{501, 502})
}

// TestPushRetriesAFailedWriteWithoutDuplicates: the first Kafka write of a
// push fails although the broker stored half of it; Push still returns nil
// once the rest is written, and nothing is in Kafka twice.
func TestPushRetriesAFailedWriteWithoutDuplicates(t *testing.T) {
	pt := newPushTail(t, nil)
	var msgs []fakeMsg
	for i := range 20 {
		msgs = append(msgs, textMsg(int64(600+i), pt.T0.Add(time.Duration(i)*time.Second)))
	}
	first := -1
	pt.pub.hook = func(_ context.Context, n int, recs []sink.Record) error {
		if len(recs) == len(msgs) && first < 0 {
			first = n
			return temporaryErr{"broker went away"}
		}
		return nil
	}
	pt.pub.land = func(n, i int) bool { return n == first && i%2 == 0 }
	var pushErr error
	_, err := pt.run(t, func(ctx context.Context, p *Pipeline) error {
		pushErr = p.Push(ctx, batchOf(t, pt.clock.Now(), msgs...))
		return nil
	}, pt.T0)
	if err != nil || pushErr != nil {
		t.Fatalf("Run = %v, Push = %v", err, pushErr)
	}
	if first < 0 {
		t.Fatal("the push's write was never failed")
	}
	exactlyOnce(t, pt.pub.Acked(), ids(msgs))
}

// TestPushWhenStopped: once the publisher has returned, Push answers
// ErrNotRunning at once; a Push whose context ends while waiting says so.
func TestPushWhenStopped(t *testing.T) {
	start, end := t0, t0.Add(time.Minute)
	p := mustNew(t, boundedConfig(start, end, time.Minute), &fakeFetcher{pageSize: 10}, newFakePublisher(), newFakeCheckpoint())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	err := p.Push(ctx, batchOf(t, end, textMsg(1, start)))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Push before Run = %v, want a deadline error (it waits for the publisher)", err)
	}
	if err := run(t, t.Context(), p); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := p.Push(t.Context(), batchOf(t, end, textMsg(1, start))); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Push after Run = %v, want ErrNotRunning", err)
	}
}

// TestPushOutsideTheConfiguredStreamsIsSkipped: with only some users
// polled, a routed message no configured stream serves is not published
// (polling could not reconcile it); the user's own messages are.
func TestPushOutsideTheConfiguredStreamsIsSkipped(t *testing.T) {
	pt := newPushTail(t, nil)
	at := pt.T0.Add(5 * time.Second)
	mine := textMsg(901, at)  // user0002 -> user0001
	other := textMsg(902, at) // rewritten below: user0003 -> user0004
	other.JSON = withField(t, withField(t, other.JSON, "from_id", `"user0003"`), "target_id", `"user0004"`)
	var pushErr error
	var p *Pipeline
	_, err := pt.runWith(t, func(cfg *Config) { cfg.Streams = []source.Stream{source.User("user0001")} },
		func(ctx context.Context, pl *Pipeline) error {
			p = pl
			pushErr = pl.Push(ctx, batchOf(t, pt.clock.Now(), mine, other))
			return nil
		}, pt.T0)
	if err != nil || pushErr != nil {
		t.Fatalf("Run = %v, Push = %v", err, pushErr)
	}
	exactlyOnce(t, pt.pub.Acked(), []int64{901})
	if s := p.Stats(); s.CallbackOutside != 1 {
		t.Errorf("Stats.CallbackOutside = %d, want 1", s.CallbackOutside)
	}
}

// BenchmarkPushConcurrent: 64 callers push one message each, as the vendor
// does, against an idle tailing pipeline and a publisher that acknowledges at
// once: the rate Push sustains and how many messages each Kafka write
// carries (the coalescing).
func BenchmarkPushConcurrent(b *testing.B) {
	const callers = 64
	base := textMsg(1, t0.Add(6*time.Hour))
	m, err := source.DecodeMessage(base.JSON)
	if err != nil {
		b.Fatal(err)
	}
	clock := testkit.NewClock(t0.Add(6 * time.Hour))
	pub := newFakePublisher()
	cfg := tailConfig(t0.Add(6*time.Hour), clock, time.Minute, time.Minute, time.Second)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	cfg.Sleep = func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() }
	p, err := New(cfg, &fakeFetcher{pageSize: 10, now: clock.Now}, pub, newFakeCheckpoint())
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var next atomic.Int64
	b.ResetTimer()
	b.SetParallelism(callers / max(1, runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mm := m
			mm.MsgID = next.Add(1)
			if err := p.Push(ctx, source.PushBatch{Endpoint: "/callback", ReceivedAt: clock.Now(), Messages: []source.Message{mm}, Errs: []error{nil}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	writes := len(pub.Calls())
	b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(next.Load())/float64(max(1, writes)), "msgs/write")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// TestPushWhenRunFailsBeforePublishing: a Run that fails before its
// publisher starts (an unreadable checkpoint) makes a waiting Push return
// ErrNotRunning at once, not after its deadline.
func TestPushWhenRunFailsBeforePublishing(t *testing.T) {
	cp := newFakeCheckpoint()
	cp.loadErr = errors.New("disk gone")
	start, end := t0, t0.Add(time.Minute)
	p := mustNew(t, boundedConfig(start, end, time.Minute), &fakeFetcher{pageSize: 10}, newFakePublisher(), cp)
	pushed := make(chan error, 1)
	go func() { pushed <- p.Push(t.Context(), batchOf(t, end, textMsg(1, start))) }()
	if err := run(t, t.Context(), p); err == nil {
		t.Fatal("Run succeeded on an unreadable checkpoint")
	}
	if err := <-pushed; !errors.Is(err, ErrNotRunning) {
		t.Errorf("Push = %v, want ErrNotRunning", err)
	}
}
