package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/pipeline"
)

// progressLines returns the "progress" lines of a JSON log.
func progressLines(t *testing.T, logs string, msg string) []map[string]any {
	t.Helper()
	return testkit.JSONLines(t, logs, func(l string) bool { return strings.Contains(l, `"msg":"`+msg+`"`) })
}

// A bounded backfill reports progress when its reporter wakes (a fake
// sleep the test releases), here at the first two commits that moved the
// cursor while the pipeline is held in its commit hook: the lines carry the
// committed cursor, the share done, what was published so far, rates and an
// ETA. The API holds its 20th and 40th answers until the first and second
// report are taken, so both come before the end however fast the machine
// (commits of windows that come due together are grouped).
func TestRunLogsProgress(t *testing.T) {
	start := time.Now().UTC().Add(-30 * time.Hour).Truncate(time.Hour)
	end := start.Add(6 * time.Hour)
	h, _, env := harness.NewRun(t, simulator.GenSpec{Seed: 31, Start: start, End: end, Count: 6000})
	env["IMREPORT_LOG_LEVEL"] = "info"
	env["IMREPORT_WINDOW_MESSAGES"] = "100" // windows of about 100 messages: some 60 windows, 70 requests
	cfg := configAt(t, env, time.Now())
	reports := newStepper()
	var intervals []time.Duration
	progressSleep := func(ctx context.Context, d time.Duration) error {
		intervals = append(intervals, d) // the reporter's goroutine only
		return reports.sleep(ctx, d)
	}
	var (
		mu   sync.Mutex
		pipe *pipeline.Pipeline
		want []pipeline.StreamProgress
	)
	reported := []chan struct{}{make(chan struct{}), make(chan struct{})}
	h.SetOnRequest(func(n int64) {
		for i, at := range []int64{20, 40} {
			if n == at {
				select {
				case <-reported[i]:
				case <-time.After(2 * time.Minute):
					t.Errorf("report %d not taken within 2m of the API's answer %d", i+1, at)
				}
			}
		}
	})
	logs := new(testkit.Buffer)
	primed := false
	report := func() {
		if !primed {
			<-reports.entered // the reporter is in its first sleep
			primed = true
		}
		reports.step()
	}
	err := runPipeline(context.Background(), cfg, newLogger(logs, cfg.LogLevel), runHooks{
		ProgressSleep: progressSleep,
		OnPipeline:    func(p *pipeline.Pipeline) { pipe = p },
		OnCommit: func(time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if len(want) == len(reported) {
				return
			}
			sp := pipe.StreamProgress()[0]
			if sp.Published == 0 || !sp.Cursor.Before(end) || len(want) > 0 && !sp.Cursor.After(want[len(want)-1].Cursor) {
				return
			}
			// The publisher waits here: the cursor and counts hold still.
			report()
			want = append(want, pipe.StreamProgress()[0])
			close(reported[len(want)-1])
		},
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	for _, d := range intervals {
		if d != 15*time.Second {
			t.Errorf("progress interval %v, want the default 15s", d)
		}
	}
	lines := progressLines(t, logs.String(), "progress")
	if len(lines) != 2 || len(want) != 2 {
		t.Fatalf("%d progress lines, %d reports, want 2:\n%s", len(lines), len(want), logs.String())
	}
	for i, l := range lines {
		w := want[i]
		done := 100 * w.Cursor.Sub(start).Seconds() / end.Sub(start).Seconds()
		if l["stream"] != "messages" || l["cursor"] != w.Cursor.Format(time.RFC3339) ||
			l["published"] != float64(w.Published) || l["done_pct"] != float64(int(done*10+0.5))/10 ||
			l["remaining"] != end.Sub(w.Cursor).String() {
			t.Errorf("line %d %v, want cursor %v, published %d, %.1f%% done", i, l, w.Cursor, w.Published, done)
		}
		if w.Published == 0 || w.Cursor.Equal(end) {
			t.Errorf("report %d at a useless moment: %+v", i, w)
		}
		for _, k := range []string{"msg_per_s", "requests_per_s", "eta"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d lacks %s: %v", i, k, l)
			}
		}
	}
	// The second line has a pace (the first one's counts to compare with).
	if r, _ := lines[1]["requests_per_s"].(float64); r <= 0 || lines[1]["eta"] == "unknown" {
		t.Errorf("second line without a pace: %v", lines[1])
	}
}

// A bounded run whose END + LOOKBACK is still ahead says so, once, when
// every stream reached the end, and until when (fake clock: no waiting).
func TestRunAnnouncesTheWaitForLateArrivals(t *testing.T) {
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	start := end.Add(-30 * time.Minute)
	_, _, env := harness.NewRun(t, simulator.GenSpec{Seed: 32, Start: start, End: end, Count: 500})
	env["IMREPORT_LOG_LEVEL"] = "info"
	env["IMREPORT_LOOKBACK"] = "2m"
	clock := testkit.NewClock(end.Add(30 * time.Second))
	cfg := configAt(t, env, clock.Now())
	logs := new(testkit.Buffer)
	// The planner starts polling as soon as it has planned the last window;
	// the fake clock moves on only once that window is committed (in real
	// time the wait begins then, and so does the announcement).
	reached := make(chan struct{})
	var once sync.Once
	sleep := func(ctx context.Context, d time.Duration) error {
		select {
		case <-reached:
		case <-ctx.Done():
			return ctx.Err()
		}
		clock.Step(d)
		return ctx.Err()
	}
	onCommit := func(oldest time.Time) {
		if !oldest.Before(end) {
			once.Do(func() { close(reached) })
		}
	}
	if err := runPipeline(context.Background(), cfg, newLogger(logs, cfg.LogLevel), runHooks{Now: clock.Now, Sleep: sleep, OnCommit: onCommit}); err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	text := logs.String()
	waits := progressLines(t, text, "every stream reached the end: waiting for late arrivals until end + lookback, then fetching the lookback once more")
	if len(waits) != 1 {
		t.Fatalf("%d wait announcements, want 1:\n%s", len(waits), text)
	}
	if w := waits[0]; w["until"] != end.Add(2*time.Minute).Format(time.RFC3339) || w["end"] != end.Format(time.RFC3339) || w["lookback"] != "2m0s" {
		t.Errorf("announcement %v", w)
	}
	if i, j := strings.Index(text, "waiting for late arrivals"), strings.Index(text, "pipeline finished"); i < 0 || j < i {
		t.Errorf("the wait is not announced before the run finishes:\n%s", text)
	}
}
