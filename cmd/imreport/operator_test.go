package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/pipeline"
)

// Tailing runs and what a run shows its operator: live traffic with late
// arrivals, progress lines, the announced wait for late arrivals, the
// metrics the alerts and the dashboard name; and the helpers of tailing
// runs these and the outage tests share.

// stepper runs a loop's sleeps one at a time: the loop says when it enters
// a sleep, and leaves it when told.
type stepper struct{ entered, wake chan struct{} }

func newStepper() *stepper { return &stepper{entered: make(chan struct{}), wake: make(chan struct{})} }

func (s *stepper) sleep(ctx context.Context, _ time.Duration) error {
	select {
	case s.entered <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// step lets the loop run once and waits until it sleeps again.
func (s *stepper) step() {
	s.wake <- struct{}{}
	<-s.entered
}

// tailConfig is a tailing run from an hour ago over two hours of history
// ending a minute ago, serving HTTP on a free port.
func tailConfig(t *testing.T, seed uint64, brokers []string, now time.Time) Config {
	t.Helper()
	h := harness.NewHistory(t, simulator.GenSpec{Seed: seed, Start: now.Add(-2 * time.Hour), End: now.Add(-time.Minute), Count: 500})
	env := harness.BaseEnv(t, h, brokers)
	delete(env, "IMREPORT_END")
	env["IMREPORT_START"] = "-1h"
	env["IMREPORT_HTTP_ADDR"] = "127.0.0.1:0"
	cfg := configAt(t, env, now)
	return cfg
}

// tailCaughtUp runs cfg (a tailing run with an HTTP address) until its
// oldest cursor reaches caught, and returns the HTTP address and a stop
// that cancels the run and returns its error.
func tailCaughtUp(t *testing.T, cfg Config, hooks runHooks, caughtAt time.Time, logs *testkit.Buffer) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addrc := make(chan string, 1)
	caught := make(chan struct{})
	done := make(chan error, 1)
	hooks.OnListen = func(a string) { addrc <- a }
	hooks.OnCommit = func(c time.Time) {
		if !c.Before(caughtAt) {
			select {
			case <-caught:
			default:
				close(caught)
			}
		}
	}
	go func() { done <- runPipeline(ctx, cfg, newLogger(logs, cfg.LogLevel), hooks) }()
	addr = <-addrc
	select {
	case <-caught:
	case err := <-done:
		t.Fatalf("run ended: %v\n%s", err, logs.String())
	case <-time.After(time.Minute):
		t.Fatalf("not caught up within a minute\n%s", logs.String())
	}
	return addr, func() error {
		cancel()
		return <-done
	}
}

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

// TestMonitoringNamesServedMetrics: every imreport_* metric the alert
// rules (the chart's and the kustomize component's) and the Grafana
// dashboard name is served by /metrics of a running imreport (tailing,
// caught up, one progress report done).
func TestMonitoringNamesServedMetrics(t *testing.T) {
	refs := map[string][]string{} // metric -> files naming it
	name := regexp.MustCompile(`imreport_[a-z0-9_]*[a-z0-9]`)
	for _, f := range []string{
		"../../deploy/helm/imreport/files/rules.yaml",
		"../../deploy/components/monitoring/prometheusrule.yaml",
		"../../deploy/monitoring/dashboard.json",
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllString(string(b), -1) {
			refs[m] = append(refs[m], filepath.Base(f))
		}
	}
	if len(refs) < 10 {
		t.Fatalf("only %d metric names found in the rules and the dashboard", len(refs))
	}

	now := time.Now().UTC()
	cfg := tailConfig(t, 61, testkit.Brokers(t), now)
	reports := newStepper()
	addr, stop := tailCaughtUp(t, cfg, runHooks{ProgressSleep: reports.sleep}, now.Add(-time.Minute), new(testkit.Buffer))
	<-reports.entered
	reports.step() // one progress report: the remaining and ETA gauges
	_, body := harness.Get(t, "http://"+addr+"/metrics")
	served := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		served[strings.FieldsFunc(l, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	var missing []string
	for m, files := range refs {
		if !served[m] {
			missing = append(missing, m+" (named in "+strings.Join(files, ", ")+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("not served by /metrics: %s", m)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// commitAt is one checkpoint commit: the fake time it happened and the
// stream's cursor after it.
type commitAt struct {
	at, cursor time.Time
}

// TestTailLiveTrafficWithLateArrivals tails a live Report API on a fake
// clock: ten minutes of traffic arrive while the pipeline polls, a fifth of
// them late by up to half the lookback. Once the traffic stops and the run
// has caught up (a bounded run with IMREPORT_END at the end of the traffic:
// it waits until End+Lookback, then fetches the lookback in full and
// returns), every message is in Kafka exactly once, and many of the late
// ones became visible only after the cursor had passed them.
func TestTailLiveTrafficWithLateArrivals(t *testing.T) {
	const (
		lookback = 60 * time.Second
		poll     = 10 * time.Second
		settle   = 2 * time.Second
	)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // the fake clock at the start of the run
	tStop := t0.Add(10 * time.Minute)                 // the traffic stops: IMREPORT_END
	start := t0.Add(-30 * time.Minute)                // IMREPORT_START

	// History before the start (a few late ones among them, some of which
	// turn up only after the run started), then live traffic: about three
	// messages a second plus one second holding more than a page, a fifth of
	// them late by 1 to 30 s (Lookback/2).
	past := simulator.Generate(simulator.GenSpec{Seed: 41, Start: start, End: t0, Count: 2000,
		Late: 0.05, LateMin: time.Second, LateMax: lookback / 2})
	traffic := simulator.Generate(simulator.GenSpec{Seed: 42, Start: t0.Add(time.Second), End: tStop, Count: 1800,
		Bursts: 1, BurstSize: 1200, Late: 0.2, LateMin: time.Second, LateMax: lookback / 2})
	all := append(append([]simulator.Message(nil), past...), traffic...)
	ids := make(map[int64]bool, len(all))
	late := 0
	for _, m := range all {
		if ids[m.MsgID] {
			t.Fatalf("msgid %d generated twice: pick other seeds", m.MsgID)
		}
		ids[m.MsgID] = true
		if m.VisibleAt > m.CreateTime {
			late++
		}
		if m.CreateTime >= tStop.Unix() || m.VisibleAt >= tStop.Add(lookback).Unix() {
			t.Fatalf("msgid %d (create_time %d, visible_at %d) is outside what a run ending at %v must publish", m.MsgID, m.CreateTime, m.VisibleAt, tStop)
		}
	}
	lateTraffic := 0
	for _, m := range traffic {
		if m.VisibleAt > m.CreateTime {
			lateTraffic++
		}
	}

	clock := testkit.NewClock(t0)
	srv, apiURL := testkit.Simulator(t, simulator.Config{AppKey: harness.AppKey, MasterSecret: harness.Secret, Now: clock.Now}, past)
	brokers := testkit.Brokers(t)

	// The poll wait: the traffic created in (prev, now] is added while it is
	// still in the future of the clock, then the clock moves on.
	var (
		feedMu sync.Mutex
		next   int // traffic[next:] is not added yet
		sleeps int
	)
	sleep := func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		feedMu.Lock()
		defer feedMu.Unlock()
		sleeps++
		to := clock.Now().Add(d).Unix()
		first := next
		for next < len(traffic) && traffic[next].CreateTime <= to {
			next++
		}
		if next > first {
			srv.Add(traffic[first:next]...)
		}
		clock.Step(d)
		return nil
	}

	var (
		commitMu sync.Mutex
		commits  []commitAt
		pipe     *pipeline.Pipeline
	)
	env := harness.BaseEnv(t, &harness.History{URL: apiURL, Start: start, End: tStop}, brokers)
	env["IMREPORT_WINDOW"] = "5m"
	env["IMREPORT_SETTLE"] = settle.String()
	env["IMREPORT_LOOKBACK"] = lookback.String()
	env["IMREPORT_POLL_INTERVAL"] = poll.String()
	env["IMREPORT_RATE_LIMIT"] = "5000"
	cfg := configAt(t, env, t0)
	if cfg.APIVersion != "v2" {
		t.Fatalf("the default API version is %q, the test wants v2", cfg.APIVersion)
	}
	logs := new(testkit.Buffer)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- runPipeline(ctx, cfg, newLogger(logs, cfg.LogLevel), runHooks{
			Now:        clock.Now,
			Sleep:      sleep,
			OnPipeline: func(p *pipeline.Pipeline) { pipe = p },
			OnCommit: func(oldest time.Time) {
				commitMu.Lock()
				commits = append(commits, commitAt{at: clock.Now(), cursor: oldest})
				commitMu.Unlock()
			},
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run failed: %v\n%s", err, logs.String())
		}
	case <-time.After(3 * time.Minute):
		cancel()
		<-done
		t.Fatalf("the run did not finish within 3 minutes (fake clock at %v, %d polls)\n%s", clock.Now(), sleeps, logs.String())
	}
	elapsed := time.Since(began)

	if next != len(traffic) {
		t.Fatalf("the run returned with %d of %d traffic messages not yet sent (fake clock %v)", len(traffic)-next, len(traffic), clock.Now())
	}
	if final := tStop.Add(lookback); clock.Now().Before(final) {
		t.Fatalf("the run returned at %v, before End+Lookback %v", clock.Now(), final)
	}
	if n := len(srv.Visible(start, tStop)); n != len(all) {
		t.Fatalf("the simulator serves %d messages in [start, end), the test generated %d", n, len(all))
	}
	harness.AssertExactlyOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), all, "/v2/messages")

	// The late arrivals were really late: the cursor moved past their
	// create_time in a commit made (on the fake clock, so after the fetch)
	// before they became visible; only a lookback rescan can have found them.
	sort.Slice(commits, func(i, j int) bool { return commits[i].at.Before(commits[j].at) })
	passedHidden := 0
	for _, m := range all {
		if m.VisibleAt <= m.CreateTime {
			continue
		}
		for _, c := range commits {
			if c.cursor.Unix() > m.CreateTime {
				if c.at.Unix() < m.VisibleAt {
					passedHidden++
				}
				break
			}
		}
	}
	st := pipe.Stats()
	t.Logf("history %d, traffic %d (late %d), late in all %d, passed by the cursor while hidden %d; polls %d, commits %d, fake time %v, real time %v",
		len(past), len(traffic), lateTraffic, late, passedHidden, sleeps, len(commits), clock.Now().Sub(t0), elapsed.Round(time.Millisecond))
	t.Logf("stats: published %d, fetched %d, duplicates %d, windows %d, rescans %d, rescan checks %d, rescan skips %d; API requests %d",
		st.Published, st.Fetched, st.Duplicates, st.Windows, st.Rescans, st.RescanChecks, st.RescanSkips, srv.Requests())
	if min := 20; passedHidden < min {
		t.Fatalf("only %d late messages were passed by the cursor before they became visible; the test wants at least %d", passedHidden, min)
	}
	if st.RescanChecks == 0 || st.RescanSkips == 0 || st.RescanChecks == st.RescanSkips {
		t.Fatalf("want rescan checks, some skipped as unchanged and some fetched: checks %d, skips %d", st.RescanChecks, st.RescanSkips)
	}
	if st.Published != int64(len(all)) {
		t.Fatalf("the pipeline counts %d published, want %d", st.Published, len(all))
	}
}
