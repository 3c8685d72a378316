package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/service/status"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

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
