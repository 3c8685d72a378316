package progress

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/testkit"
)

// readable renders durations as the imreport logger does.
func readable(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

func jsonLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{ReplaceAttr: readable}))
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	return testkit.JSONLines(t, strings.TrimSpace(buf.String()), nil)
}

// One line per stream behind its target, with every field; a caught-up
// stream logs nothing.
func TestLog(t *testing.T) {
	var buf bytes.Buffer
	Log(jsonLogger(&buf), []Status{
		{Stream: stream("messages", t0, t0.Add(2*time.Hour), t0.Add(10*time.Hour), 4600, 46),
			Done: 0.2, Remaining: 8 * time.Hour, MsgRate: 10.04, ReqRate: 0.1, ETA: 48*time.Minute + 400*time.Millisecond},
		{Stream: stream("users/alice", t0, t0.Add(10*time.Hour), t0.Add(10*time.Hour+20*time.Second), 10, 1),
			Done: 1, Remaining: 20 * time.Second, ETA: Unknown},
		{Stream: stream("users/bob", t0, t0, t0.Add(10*time.Hour), 0, 0), Remaining: 10 * time.Hour, ETA: Unknown},
	}, time.Minute)
	got := lines(t, &buf)
	if len(got) != 2 {
		t.Fatalf("%d lines, want 2 (alice is caught up):\n%s", len(got), buf.String())
	}
	want := map[string]any{
		"msg": "progress", "stream": "messages", "cursor": "2026-11-01T02:00:00Z", "done_pct": 20.0,
		"remaining": "8h0m0s", "published": 4600.0, "msg_per_s": 10.0, "requests_per_s": 0.1, "eta": "48m0s",
	}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s = %v, want %v", k, got[0][k], v)
		}
	}
	if got[1]["stream"] != "users/bob" || got[1]["eta"] != "unknown" || got[1]["done_pct"] != 0.0 {
		t.Errorf("second line %v", got[1])
	}
}

// fakeSleep lets a test run the Reporter's loop one report at a time.
type fakeSleep struct {
	wake  chan struct{}
	slept chan time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.slept <- d
	select {
	case <-f.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The loop reports once per interval (driven by a fake sleep and samples
// on a fake clock), logs the lines, feeds Observe, and announces the wait
// for late arrivals once.
func TestReporterLoop(t *testing.T) {
	var buf bytes.Buffer
	at := t0
	end := t0.Add(time.Hour)
	cursor := t0
	var observed [][]Status
	fs := &fakeSleep{wake: make(chan struct{}), slept: make(chan time.Duration)}
	r := &Reporter{
		Interval: 15 * time.Second,
		Sample: func() Sample {
			return Sample{At: at, Streams: []Stream{stream("messages", t0, cursor, end, 0, 0)}}
		},
		Logger:  jsonLogger(&buf),
		Bounded: true,
		Quiet:   time.Minute,
		Observe: func(st []Status) { observed = append(observed, st) },
		Sleep:   fs.sleep,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	for i := range 3 {
		if d := <-fs.slept; d != 15*time.Second {
			t.Fatalf("slept %v", d)
		}
		at = at.Add(15 * time.Second)
		cursor = cursor.Add(time.Duration(i+1) * 10 * time.Minute)
		fs.wake <- struct{}{}
	}
	<-fs.slept // the fourth wait: three reports are done
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(observed) != 3 {
		t.Fatalf("%d reports, want 3", len(observed))
	}
	got := lines(t, &buf)
	// Cursor at 10, 30, 60 minutes: the third is at the end (caught up).
	// Run sampled at once (cursor 0): 10 minutes of range in 15 s leave 50
	// minutes for 75 s; then 30 minutes in 30 s leave 30 for 30 s.
	if len(got) != 2 || got[0]["done_pct"] != 16.7 || got[0]["eta"] != "1m15s" || got[1]["done_pct"] != 50.0 || got[1]["eta"] != "30s" {
		t.Fatalf("lines:\n%s", buf.String())
	}
	buf.Reset()
	r.Waiting(end, end.Add(10*time.Minute), 10*time.Minute)
	r.Waiting(end, end.Add(10*time.Minute), 10*time.Minute)
	got = lines(t, &buf)
	if len(got) != 1 || got[0]["until"] != "2026-11-01T01:10:00Z" || got[0]["lookback"] != "10m0s" {
		t.Errorf("wait announced as:\n%s", buf.String())
	}
}
