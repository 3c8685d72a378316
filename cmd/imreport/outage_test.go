package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/service/status"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/pipeline"
)

// outageLength is how long the broker stays down: the issue asks for at
// least 10 seconds.
const outageLength = 10 * time.Second

// outageRequestBound is how many Report API requests the pipeline may make
// once the broker is gone, with IMREPORT_FETCH_CONCURRENCY=1: the broker
// is stopped inside a commit hook, so the publisher is between pages; its
// next page is then stuck in the Kafka retry loop (1), the items channel
// holds 2*FetchConcurrency = 2 more, and the fetcher holds one more page,
// blocked on the full channel (1). Jobs travel on an unbuffered channel and
// every window holds messages, so each of those pages is one request and no
// request is made without a page.
const outageRequestBound = 1 + 2*1 + 1

// TestBrokerOutage stops the Kafka broker for 10 s in the middle of a
// bounded backfill and starts it again on the same port with its data.
// While it is down the pipeline stops polling the Report API (bounded
// memory), retries Kafka with backoff and commits no cursor past what Kafka
// acknowledged; when it is back the run finishes, and every message is in
// the topic exactly once.
func TestBrokerOutage(t *testing.T) {
	if os.Getenv("IMREPORT_CHAOS") != "1" {
		t.Skip("set IMREPORT_CHAOS=1: the broker stays down for 10 s of real time")
	}
	began := time.Now()
	port := harness.FreeLoopbackPort(t)
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.Ports(port),
		kfake.DataDir(t.TempDir()), kfake.SyncWrites()}
	broker := &restartableBroker{opts: opts}
	if err := broker.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.stop)
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", port)}

	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	h := harness.NewHistory(t, simulator.GenSpec{Seed: 17, Start: end.Add(-2 * time.Hour), End: end, Count: 40000})
	env := harness.BaseEnv(t, h, brokers)
	env["IMREPORT_PAGE_SIZE"] = "200"
	env["IMREPORT_RATE_LIMIT"] = "20"
	env["IMREPORT_FETCH_CONCURRENCY"] = "1"
	env["IMREPORT_WINDOW_MESSAGES"] = "2000" // 20 windows: the cursor moves often
	env["IMREPORT_LOG_LEVEL"] = "info"
	cfg := configAt(t, env, time.Now())
	logs := new(testkit.Buffer)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nlogs:\n%s", append(args, logs.String())...)
	}

	const stopAfter = 3 // cursor moves before the broker is stopped
	var (
		mu              sync.Mutex
		phase           = "before" // before, outage, after
		moves           int
		last            time.Time
		stoppedAt       time.Time
		cursorAtStop    time.Time
		requestsAtStop  int64
		publishedAtStop int64
		retriesAtStop   int64
		outageCommits   int
		outageMoves     []time.Time // cursors committed past cursorAtStop while down
		afterCommits    int
		pipe            *pipeline.Pipeline
	)
	stopped := make(chan struct{})
	hooks := runHooks{
		OnPipeline: func(p *pipeline.Pipeline) { pipe = p },
		OnCommit: func(c time.Time) {
			mu.Lock()
			defer mu.Unlock()
			moved := c.After(last)
			if moved {
				last = c
			}
			switch phase {
			case "before":
				if !moved {
					return
				}
				if moves++; moves < stopAfter {
					return
				}
				// Stop the broker now, in the publisher's goroutine right
				// after a commit: everything committed so far was
				// acknowledged, nothing after it can be.
				requestsAtStop = h.Srv.Requests()
				st := pipe.Stats()
				publishedAtStop, retriesAtStop = st.Published, st.Retries
				cursorAtStop = c
				broker.stop()
				stoppedAt = time.Now()
				phase = "outage"
				close(stopped)
			case "outage":
				outageCommits++
				if c.After(cursorAtStop) {
					outageMoves = append(outageMoves, c)
				}
			default:
				afterCommits++
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runPipeline(ctx, cfg, newLogger(logs, cfg.LogLevel), hooks)
	}()

	select {
	case <-stopped:
	case err := <-done:
		fail("the run ended (%v) before %d commits: no outage happened", err, stopAfter)
	case <-time.After(2 * time.Minute):
		cancel()
		<-done
		fail("no %d commits within 2 minutes", stopAfter)
	}
	mu.Lock()
	t.Logf("broker stopped after %d cursor moves: cursor %v, %d API requests, %d published",
		moves, cursorAtStop.Format(time.RFC3339), requestsAtStop, publishedAtStop)
	mu.Unlock()

	// Down for outageLength. Halfway through, the pipeline must already have
	// stopped polling: no request between the two samples.
	var midRequests int64
	select {
	case err := <-done:
		fail("the run ended during the outage: %v", err)
	case <-time.After(outageLength / 2):
		midRequests = h.Srv.Requests()
	}
	select {
	case err := <-done:
		fail("the run ended during the outage: %v", err)
	case <-time.After(time.Until(stoppedAt.Add(outageLength))):
	}
	endRequests := h.Srv.Requests()
	mu.Lock()
	duringOutage := endRequests - requestsAtStop
	commitsDown, movesDown := outageCommits, append([]time.Time(nil), outageMoves...)
	phase = "after"
	mu.Unlock()
	st := pipe.Stats()
	retriesDown := st.Retries - retriesAtStop
	publishedDown := st.Published - publishedAtStop

	if err := broker.start(); err != nil {
		fail("restarting the broker on port %d: %v", port, err)
	}
	outage := time.Since(stoppedAt)
	restartedAt := time.Now()
	t.Logf("broker restarted on port %d after %v; during the outage: %d API requests (%d in its second half), %d commits (none may move the cursor), %d Kafka retries, %d published",
		port, outage.Round(time.Millisecond), duringOutage, endRequests-midRequests, commitsDown, retriesDown, publishedDown)

	// The restarted broker has the data written before the stop.
	if n := len(harness.ReadTopic(t, brokers, "imreport.messages")); int64(n) < publishedAtStop {
		fail("after the restart the topic holds %d records, %d were acknowledged before the stop", n, publishedAtStop)
	} else {
		t.Logf("after the restart the topic holds %d records (%d acknowledged before the stop)", n, publishedAtStop)
	}
	if len(movesDown) > 0 {
		fail("the checkpoint advanced while the broker was down: cursor %v at the stop, then %v", cursorAtStop, movesDown)
	}
	if publishedDown != 0 {
		fail("%d messages counted as acknowledged while the broker was down", publishedDown)
	}
	if duringOutage > outageRequestBound {
		fail("the pipeline kept polling while Kafka was down: %d API requests during the outage, at most %d fit in the pipeline's channels", duringOutage, outageRequestBound)
	}
	if endRequests != midRequests {
		fail("API requests continued in the second half of the outage: %d then %d", midRequests, endRequests)
	}
	if retriesDown == 0 {
		fail("no Kafka retry was counted during a %v outage", outageLength)
	}

	select {
	case err := <-done:
		if err != nil {
			fail("the run failed after the broker came back: %v", err)
		}
	case <-time.After(5 * time.Minute):
		cancel()
		<-done
		fail("the run did not finish within 5 minutes of the broker's return")
	}
	resumed := time.Since(restartedAt)

	want := h.Srv.Visible(h.Start, h.End)
	harness.AssertExactlyOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), want, "/v2/messages")
	st = pipe.Stats()
	mu.Lock()
	after := afterCommits
	mu.Unlock()
	if after == 0 {
		t.Fatal("no commit after the broker came back")
	}
	t.Logf("finished %v after the restart (%d commits since); total %v; %d API requests; stats: published %d, retries %d, read-backs %d, recovered %d, commits %d; log: %d 'kafka publish failed' lines",
		resumed.Round(time.Millisecond), after, time.Since(began).Round(time.Millisecond), h.Srv.Requests(),
		st.Published, st.Retries, st.ReadBacks, st.Recovered, st.Commits, strings.Count(logs.String(), "kafka publish failed"))
	if testing.Verbose() {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "read back") {
				t.Log(line)
			}
		}
	}
}

// restartableBroker is a one-broker kfake cluster that can be stopped and
// started again with the same options (port and data directory).
type restartableBroker struct {
	opts []kfake.Opt
	mu   sync.Mutex
	c    *kfake.Cluster
}

func (b *restartableBroker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		return fmt.Errorf("broker already running")
	}
	c, err := kfake.NewCluster(b.opts...)
	if err != nil {
		return err
	}
	b.c = c
	return nil
}

func (b *restartableBroker) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}

// TestReadyDuringKafkaOutage: a tailing run is ready; with the broker
// stopped, the next Kafka probe makes /readyz 503 with the reason,
// /status says Kafka is failing since when, /healthz stays 200 (no
// restart) and imreport_ready is 0; the broker back, the next probe makes
// it ready again, and the run ends cleanly.
func TestReadyDuringKafkaOutage(t *testing.T) {
	port := harness.FreeLoopbackPort(t)
	broker := &restartableBroker{opts: []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.Ports(port),
		kfake.DataDir(t.TempDir()), kfake.SyncWrites()}}
	if err := broker.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.stop)
	now := time.Now().UTC()
	cfg := tailConfig(t, 41, []string{fmt.Sprintf("127.0.0.1:%d", port)}, now)
	probes := newStepper()
	logs := new(testkit.Buffer)
	addr, stop := tailCaughtUp(t, cfg, runHooks{ProbeSleep: probes.sleep}, now.Add(-time.Minute), logs)
	base := "http://" + addr
	<-probes.entered // the probe loop waits for its first round
	statusOf := func() status.Status {
		t.Helper()
		code, body := harness.Get(t, base+"/status")
		var st status.Status
		if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
			t.Fatalf("/status %d %v: %s", code, err, body)
		}
		return st
	}
	readyMetric := func() string {
		_, m := harness.Get(t, base+"/metrics")
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, "imreport_ready ") {
				return l
			}
		}
		return ""
	}

	if code, body := harness.Get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz before the outage: %d %s", code, body)
	}
	st := statusOf()
	if !st.Ready || st.Kafka.State != "ok" || len(st.Streams) != 1 || st.Streams[0].Stream != "messages" || st.Streams[0].Cursor.IsZero() {
		t.Fatalf("/status before the outage: %+v", st)
	}

	broker.stop()
	probes.step()
	code, body := harness.Get(t, base+"/readyz")
	if code != 503 || !strings.Contains(body, "kafka unreachable since") {
		t.Errorf("/readyz during the outage: %d %q", code, body)
	}
	st = statusOf()
	if st.Ready || st.Kafka.State != "failing" || st.Kafka.FailingSince.IsZero() || st.Kafka.LastError == "" {
		t.Errorf("/status during the outage: %+v", st.Kafka)
	}
	if code, _ := harness.Get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz during the outage: %d", code)
	}
	if m := readyMetric(); m != "imreport_ready 0" {
		t.Errorf("during the outage: %q", m)
	}

	if err := broker.start(); err != nil {
		t.Fatal(err)
	}
	probes.step()
	if code, body := harness.Get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz after the outage: %d %q", code, body)
	}
	if st := statusOf(); !st.Ready || st.Kafka.State != "ok" {
		t.Errorf("/status after the outage: %+v", st.Kafka)
	}
	if m := readyMetric(); m != "imreport_ready 1" {
		t.Errorf("after the outage: %q", m)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
}
