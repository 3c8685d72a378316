package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/demo"
	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/sink"
)

// TestCallbackAndPollingExactlyOnce runs the pipeline with the receiver on
// while the simulated vendor pushes live traffic with every callback fault,
// as a bounded run to the end of the traffic: every message is in Kafka
// once, the pushed ones by the callback path, the lost ones by polling. It
// prints the freshness of each path (Kafka acknowledgement minus msg_ctime).
func TestCallbackAndPollingExactlyOnce(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	liveFrom, liveEnd := now.Add(time.Second), now.Add(8*time.Second)
	h, _, env := harness.NewRun(t, simulator.GenSpec{Seed: 61, Start: now.Add(-30 * time.Second), End: liveEnd, Count: 1500})
	env["IMREPORT_END"] = liveEnd.Format(time.RFC3339)
	env["IMREPORT_START"] = now.Add(-time.Minute).Format(time.RFC3339)
	env["IMREPORT_WINDOW"] = "10s"
	env["IMREPORT_SETTLE"] = "1s"
	env["IMREPORT_LOOKBACK"] = "3s"
	env["IMREPORT_POLL_INTERVAL"] = "200ms"
	env["IMREPORT_CALLBACK_ADDR"] = "127.0.0.1:0"
	env["IMREPORT_HTTP_ADDR"] = "127.0.0.1:0"
	cfg := configAt(t, env, now)
	var mu sync.Mutex
	ackedAt := map[int64]time.Time{}
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	logs := new(testkit.Buffer)
	var metricsURL, lastMetrics string // /metrics as of the last commit
	go func() {
		done <- runPipeline(t.Context(), cfg, newLogger(logs, cfg.LogLevel), runHooks{
			OnListen:   func(a string) { metricsURL = "http://" + a + "/metrics" },
			OnCallback: func(a string) { addrc <- a },
			OnCommit: func(time.Time) {
				// Not get: this is the publisher's goroutine, not the test's.
				resp, err := http.Get(metricsURL)
				if err != nil {
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body := string(b)
				mu.Lock()
				lastMetrics = body
				mu.Unlock()
			},
			OnPublished: func(_ string, r sink.Record, at time.Time) {
				mu.Lock()
				ackedAt[r.MsgID] = at
				mu.Unlock()
			},
		})
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("run ended before the receiver listened: %v\n%s", err, logs)
	}
	live := simulator.LiveOnly(h.Msgs, liveFrom)
	pusher := simulator.NewPusher(simulator.PushConfig{URL: "http://" + addr + "/callback", AppKey: harness.AppKey, MasterSecret: harness.Secret,
		RetryMax: 200 * time.Millisecond, Faults: harness.CallbackFaults(61)})
	pctx, stopPush := context.WithCancel(t.Context())
	pushed := make(chan error, 1)
	go func() { pushed <- pusher.Run(pctx, live) }()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	stopPush()
	<-pushed
	ps := pusher.Stats()
	t.Logf("vendor: %v", ps)

	recs, paths := harness.CheckBothPaths(t, harness.ReadTopic(t, cfg.KafkaBrokers, cfg.KafkaTopic), h.Msgs, "/v2/messages")
	if paths["/callback"] == 0 || ps.Lost == 0 || ps.Duplicates == 0 || ps.Rejected+ps.AckLost == 0 {
		t.Errorf("by path %v, vendor %v: the test needs callbacks of every kind", paths, ps)
	}
	for _, id := range pusher.Lost() {
		if src := recs[id].Rec["source"].(map[string]any); src["api_version"] != "v2" {
			t.Errorf("msgid %d, whose callback was lost, came by %v: want polling", id, src["api_version"])
		}
	}
	fresh := map[string][]time.Duration{}
	mu.Lock()
	for id, r := range recs {
		path := "poll"
		if r.Rec["source"].(map[string]any)["api_version"] == pipeline.APIVersionCallback {
			path = "callback"
		}
		if at, ok := ackedAt[id]; ok && harness.Millis(r.Rec["msg_ctime"]) >= liveFrom.UnixMilli() {
			fresh[path] = append(fresh[path], at.Sub(time.UnixMilli(harness.Millis(r.Rec["msg_ctime"]))))
		}
	}
	mu.Unlock()
	// The metrics as of the last commit (after the last publish) agree with
	// the topic.
	mu.Lock()
	body := lastMetrics
	mu.Unlock()
	for series, want := range map[string]float64{
		`imreport_messages_published_by_path_total{path="callback"}`: float64(paths["/callback"]),
		`imreport_messages_published_by_path_total{path="poll"}`:     float64(paths["/v2/messages"]),
		`imreport_freshness_seconds_count{path="callback"}`:          float64(paths["/callback"]),
		`imreport_freshness_seconds_count{path="poll"}`:              float64(paths["/v2/messages"]),
	} {
		if got, ok := seriesValue(body, series); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if got, _ := seriesValue(body, `imreport_callback_requests_total{outcome="accepted"}`); got < float64(ps.Acked) {
		t.Errorf("callback requests accepted = %v, want at least the %d the vendor saw answered 200", got, ps.Acked)
	}
	if got, _ := seriesValue(body, `imreport_callback_duplicates_total`); got == 0 {
		t.Error("imreport_callback_duplicates_total = 0, want the duplicated callbacks counted")
	}
	t.Logf("freshness of live messages (Kafka ack - msg_ctime), callback: %s", demo.Quantiles(fresh["callback"]))
	t.Logf("freshness of live messages (Kafka ack - msg_ctime), poll (settle 1s, poll 200ms): %s", demo.Quantiles(fresh["poll"]))
}

// seriesValue finds one series' value in a /metrics text.
func seriesValue(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestCallbackShutdown: callbacks answered 200 before and while a shutdown
// begins are in Kafka once; those refused while it drains (503, or the
// connection refused) are not published; once it is over, nothing listens.
func TestCallbackShutdown(t *testing.T) {
	now := time.Now().UTC()
	_, _, env := harness.NewRun(t, simulator.GenSpec{Seed: 62, Start: now.Add(-time.Minute), End: now, Count: 1})
	harness.TailEnv(env, "-1m")
	env["IMREPORT_CALLBACK_ADDR"] = "127.0.0.1:0"
	cfg := configAt(t, env, now)
	// Messages the API never serves: only callbacks can publish them.
	pushed := simulator.Generate(simulator.GenSpec{Seed: 63, Start: now.Add(-10 * time.Second), End: now, Count: 40})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runPipeline(ctx, cfg, newLogger(new(testkit.Buffer), cfg.LogLevel), runHooks{OnCallback: func(a string) { addrc <- a }})
	}()
	url := "http://" + <-addrc + "/callback"
	post := func(m simulator.Message) (int, error) {
		body := append(append([]byte(`{"total":1,"messages":[`), m.JSON...), "]}"...)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.SetBasicAuth(harness.AppKey, harness.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var accepted []simulator.Message
	for _, m := range pushed[:20] {
		if code, err := post(m); err != nil || code != http.StatusOK {
			t.Fatalf("callback before the shutdown: %d %v", code, err)
		}
		accepted = append(accepted, m)
	}
	cancel()
	for _, m := range pushed[20:39] {
		if code, err := post(m); err == nil && code == http.StatusOK {
			accepted = append(accepted, m) // before the cancellation reached the receiver
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if code, err := post(pushed[39]); err == nil {
		t.Errorf("a callback after the run returned: answered %d, want the connection refused", code)
	}
	recs := harness.ReadTopic(t, cfg.KafkaBrokers, cfg.KafkaTopic)
	got := map[int64]int{}
	for _, r := range recs {
		id, _ := r.Rec["msgid"].(int64)
		got[id]++
	}
	for _, m := range accepted {
		if got[m.MsgID] != 1 {
			t.Errorf("msgid %d answered 200: %d times in Kafka, want 1", m.MsgID, got[m.MsgID])
		}
	}
	for _, m := range pushed[20:] {
		if got[m.MsgID] != 0 && !slices.ContainsFunc(accepted, func(a simulator.Message) bool { return a.MsgID == m.MsgID }) {
			t.Errorf("msgid %d refused during the shutdown but published", m.MsgID)
		}
	}
}

// TestCallbackFlagsRejectBadValues: simulate and demo refuse a bad receiver
// URL or fault fraction with exit 2, before doing anything.
func TestCallbackFlagsRejectBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"simulate", "--callback", "ftp://127.0.0.1/callback"},
		{"simulate", "--callback", "http://"},
		{"simulate", "--callback", "http://127.0.0.1:1/callback", "--callback-lost", "1.5"},
		{"demo", "--callback", "--callback-duplicate", "-0.1"},
		{"demo", "--callback", "--callback-live", "0s"},
	} {
		if code, _, stderr := runMain(t.Context(), map[string]string{}, args...); code != exitUsage || !strings.Contains(stderr, "--callback") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the flag", args, code, stderr)
		}
	}
}

// BenchmarkCallbackThroughput: 64 vendor connections POST one message per
// callback, as the vendor documents, to the receiver of a tailing run
// publishing to kfake over loopback (acks=all). It reports callbacks per
// second answered 200.
//
//	go test -run '^$' -bench BenchmarkCallbackThroughput -benchtime 20000x ./cmd/imreport
func BenchmarkCallbackThroughput(b *testing.B) {
	const conns = 64
	now := time.Now().UTC()
	msgs := simulator.Generate(simulator.GenSpec{Seed: 81, Start: now.Add(-time.Minute), End: now, Count: b.N})
	api := httptest.NewServer(simulator.New(simulator.Config{AppKey: harness.AppKey, MasterSecret: harness.Secret}, nil)) // no history: only callbacks
	defer api.Close()
	env := map[string]string{
		"IMREPORT_APP_KEY": harness.AppKey, "IMREPORT_MASTER_SECRET": harness.Secret, "IMREPORT_API_URL": api.URL,
		"IMREPORT_START": "-1m", "IMREPORT_KAFKA_BROKERS": strings.Join(testkit.Brokers(b), ","), "IMREPORT_KAFKA_PARTITIONS": "3",
		"IMREPORT_KAFKA_REPLICATION_FACTOR": "1", "IMREPORT_CHECKPOINT_PATH": b.TempDir() + "/imreport.db",
		"IMREPORT_HTTP_ADDR": "", "IMREPORT_LOG_LEVEL": "error", "IMREPORT_CALLBACK_ADDR": "127.0.0.1:0",
		"IMREPORT_SETTLE": "1s", "IMREPORT_POLL_INTERVAL": "1s",
	}
	cfg := configAt(b, env, now)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	var pipe *pipeline.Pipeline
	done := make(chan error, 1)
	go func() {
		done <- runPipeline(ctx, cfg, newLogger(new(testkit.Buffer), cfg.LogLevel), runHooks{
			OnCallback: func(a string) { addrc <- a },
			OnPipeline: func(x *pipeline.Pipeline) { pipe = x },
		})
	}()
	url := "http://" + <-addrc + "/callback"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = append(append([]byte(`{"total":1,"messages":[`), m.JSON...), "]}"...)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				req.SetBasicAuth(harness.AppKey, harness.Secret)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(len(bodies))/b.Elapsed().Seconds(), "callbacks/s")
	s := pipe.Stats()
	b.ReportMetric(float64(s.CallbackRequests)/float64(max(1, s.CallbackWrites)), "callbacks/write")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
