package main

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/pipeline"
)

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
