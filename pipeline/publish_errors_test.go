package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

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
			p := runOK(t, publishRetryConfig(start, end, window, &sleeps), f, pub, cp)
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
			// + the start-up reconciliation; windows released by one write
			// may share a commit.
			if s.Published != int64(len(msgs)) || s.Windows != 4 || s.Commits < 2 || s.Commits > 5 {
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
	cp := newFakeCheckpoint()
	// Window 2 is fetched once windows 0 and 1 are committed: its first
	// page is a write of its own, the rest come in later writes.
	f := &fakeFetcher{msgs: msgs, pageSize: pageSize, before: fetchAfterCommit(cp, "messages", start.Add(2*window))}
	pub := newFakePublisher()
	failedCall, pagesOf2 := -1, 0
	pub.hook = func(_ context.Context, n int, recs []sink.Record) error {
		if !slices.ContainsFunc(recs, func(r sink.Record) bool { return windowOf(timeOf[r.MsgID], start, window) == 2 }) {
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
