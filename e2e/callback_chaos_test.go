package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/demo"
	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/pipeline"
)

// The callback chaos test's knobs.
const (
	cbHistory    = 5000             // messages in the five minutes before the run
	cbLive       = 9000             // live messages over cbLiveFor, pushed as they are sent
	cbLiveFor    = 60 * time.Second // live traffic
	cbCalm       = 20 * time.Second // the first life is not killed before this much live traffic
	cbMinKills   = 8
	cbLifeMin    = 1500 * time.Millisecond
	cbLifeMax    = 6 * time.Second
	cbSeedBudget = 4 * time.Minute
)

// TestCallbackChaos is the acceptance test of real-time message routing: the
// simulated vendor pushes a minute of live traffic (150 messages a second
// and a burst of 600 in one second) to the real binary's receiver as each
// message is sent, 10% of callbacks lost, 10% duplicated, 5% answered 503
// then retried (half before the receiver saw them, half after it published
// them), 10% reordered by up to 0.5 s, while the binary also polls the
// simulated Report API (with faults) as the reconciler, and is SIGKILLed at
// 8 or more random moments after the first 20 s of live traffic. Then: every
// message in Kafka exactly once, field by field, each by the path it came
// by, every lost callback filled by polling; and the freshness of
// callback-delivered messages (the vendor's 200 minus msg_ctime: an upper
// bound of Kafka's acknowledgement minus msg_ctime, including the vendor's
// own delays: retries, reordering) is printed for the undisturbed first 20 s
// and for the whole run, kills included, whose p99 must be under 1 s.
func TestCallbackChaos(t *testing.T) {
	bin := chaosBinary(t, "callback chaos test (about 90 s)")
	const seed = 7
	began := time.Now()
	now := began.UTC().Truncate(time.Second)
	liveFrom := now.Add(5 * time.Second) // time to start and backfill the history first
	calmUntil, liveEnd := liveFrom.Add(cbCalm), liveFrom.Add(cbLiveFor)
	history := simulator.Generate(simulator.GenSpec{Seed: seed, Start: now.Add(-5 * time.Minute), End: now, Count: cbHistory})
	live := simulator.Generate(simulator.GenSpec{Seed: seed + 1, Start: liveFrom, End: liveEnd, Count: cbLive, Bursts: 1, BurstSize: 600})
	all := append(append([]simulator.Message(nil), history...), live...)
	unique := map[int64]bool{}
	for _, m := range all {
		if unique[m.MsgID] {
			t.Fatalf("msgid %d generated twice: pick other seeds", m.MsgID)
		}
		unique[m.MsgID] = true
	}

	_, apiURL := testkit.Simulator(t, simulator.Config{AppKey: harness.AppKey, MasterSecret: harness.Secret,
		Faults: simulator.Faults{Seed: seed, ServerError: 0.01, RateLimited: 0.01, Drop: 0.01, Truncate: 0.01, CursorExpire: 0.01}}, all)
	brokers := persistentKafka(t)
	callbackAddr := "127.0.0.1:" + strconv.Itoa(harness.FreeLoopbackPort(t))
	dir := t.TempDir()
	logDir := chaosLogDir(t, dir)
	env := runEnv(apiURL, now.Add(-6*time.Minute), liveEnd, brokers, map[string]string{
		"IMREPORT_API_TIMEOUT":          "2s",
		"IMREPORT_WINDOW":               "1m",
		"IMREPORT_SETTLE":               "2s",
		"IMREPORT_LOOKBACK":             "5s",
		"IMREPORT_POLL_INTERVAL":        "500ms",
		"IMREPORT_RATE_LIMIT":           "100",
		"IMREPORT_CHECKPOINT_PATH":      filepath.Join(dir, "imreport.db"),
		"IMREPORT_HTTP_ADDR":            "127.0.0.1:0",
		"IMREPORT_CALLBACK_ADDR":        callbackAddr,
		"IMREPORT_CALLBACK_ACK_TIMEOUT": "5s",
	})

	pusher := simulator.NewPusher(simulator.PushConfig{URL: "http://" + callbackAddr + "/callback", AppKey: harness.AppKey, MasterSecret: harness.Secret,
		RetryMax: 500 * time.Millisecond, Timeout: 10 * time.Second, Faults: harness.CallbackFaults(seed)})
	pctx, stopPush := context.WithCancel(t.Context())
	pushed := make(chan error, 1)
	go func() { pushed <- pusher.Run(pctx, live) }()
	var pushDone sync.Once
	stopPusher := func() { pushDone.Do(func() { stopPush(); <-pushed }) }
	defer stopPusher()

	// Lives: the first runs through the calm part of the traffic, the next
	// are killed at random moments until the traffic ends, the last runs to
	// its end (IMREPORT_END + IMREPORT_LOOKBACK).
	rng := rand.New(rand.NewPCG(seed, 0x63616c6c))
	deadline := began.Add(cbSeedBudget)
	var logs []string
	kills := 0
	for lives := 1; ; lives++ {
		logPath := filepath.Join(logDir, fmt.Sprintf("life-%03d.log", lives))
		logs = append(logs, logPath)
		c := startChild(t, bin, env, logPath)
		var killAt <-chan time.Time
		if lives == 1 {
			killAt = time.After(time.Until(calmUntil.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))))
		} else if kills < cbMinKills || time.Now().Before(liveEnd.Add(-2*time.Second)) {
			killAt = time.After(cbLifeMin + time.Duration(rng.Int64N(int64(cbLifeMax-cbLifeMin))))
		}
		select {
		case <-killAt:
			c.kill()
			if c.exitCode() == -1 {
				kills++
				continue
			}
		case <-c.done:
		case <-time.After(time.Until(deadline)):
			c.kill()
			t.Fatalf("not done within %v (%d lives, %d kills); the last life's log:\n%s", cbSeedBudget, lives, kills, logTail(logPath, 60))
		}
		if code := c.exitCode(); code != 0 {
			t.Fatalf("life %d exited %d (%v); its log:\n%s", lives, code, c.err, logTail(logPath, 60))
		}
		if kills < cbMinKills {
			t.Fatalf("life %d exited 0 after only %d kills (want %d)", lives, kills, cbMinKills)
		}
		t.Logf("lives: %d, SIGKILLs: %d (the first after %v of calm live traffic); run time %v", lives, kills, cbCalm, time.Since(began).Round(time.Second))
		break
	}
	stopPusher()
	ps := pusher.Stats()
	t.Logf("vendor: %v", ps)

	recs, paths := harness.CheckBothPaths(t, harness.ReadTopic(t, brokers, chaosTopic), all, "/v2/messages")
	if n := len(harness.ScanTopic(t, brokers, chaosDLQTopic)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
	filled := 0
	for _, id := range pusher.Lost() {
		src := recs[id].Rec["source"].(map[string]any)
		if src["api_version"] == pipeline.APIVersionCallback {
			t.Errorf("msgid %d, whose callback was lost, came by callback", id)
		}
		filled++
	}
	t.Logf("callbacks lost and filled by polling: %d; records by path: %v", filled, paths)
	if paths["/callback"] < len(live)/2 {
		t.Errorf("only %d of %d live messages came by callback", paths["/callback"], len(live))
	}
	sums, err := logSums(logs, map[string][]string{"reconciled with kafka": {"unknown_to_checkpoint", "records_after_checkpoint"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovered by start-up read-backs (acknowledged before a kill, not yet committed): %d msgids in %d start-ups",
		sums["reconciled with kafka/unknown_to_checkpoint"], sums["reconciled with kafka"])

	// Freshness of what came by callback: the vendor's first 200 minus
	// msg_ctime (an upper bound of Kafka's acknowledgement minus msg_ctime).
	acked := pusher.Acked()
	var calm, overall []time.Duration
	var polled []time.Duration
	for id, r := range recs {
		ctime := time.UnixMilli(harness.Millis(r.Rec["msg_ctime"]))
		src := r.Rec["source"].(map[string]any)
		if src["api_version"] != pipeline.APIVersionCallback {
			if !ctime.Before(liveFrom) {
				fetched, _ := src["fetched_at"].(time.Time)
				polled = append(polled, fetched.Sub(ctime))
			}
			continue
		}
		at, ok := acked[id]
		if !ok {
			continue // published by a callback whose 200 never reached the vendor
		}
		overall = append(overall, at.Sub(ctime))
		if ctime.Before(calmUntil) {
			calm = append(calm, at.Sub(ctime))
		}
	}
	t.Logf("freshness by callback, first %v (no kills): %s", cbCalm, demo.Quantiles(calm))
	t.Logf("freshness by callback, whole run with %d kills: %s", kills, demo.Quantiles(overall))
	t.Logf("freshness by polling (fetched_at - msg_ctime, a lower bound; settle 2s, poll 500ms): %s", demo.Quantiles(polled))
	if p99 := demo.Percentile(overall, 0.99); len(overall) < len(live)/2 || p99 >= time.Second {
		t.Errorf("freshness p99 of callback-delivered messages: %v over %d messages, want under 1s over at least %d", p99, len(overall), len(live)/2)
	}
}
