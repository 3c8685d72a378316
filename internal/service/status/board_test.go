package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/service/progress"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/source"
)

var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

func newBoard(c *testkit.Clock) *Board {
	return New(Config{
		Version:   "v-test",
		Kafka:     Kafka{Brokers: []string{"k:9092"}, Topic: "t", DLQTopic: "t.dlq"},
		Endpoints: map[string]string{"/v2/messages": "messages", "/v2/users/alice/messages": "users/alice"},
		Now:       c.Now,
	})
}

func get(t *testing.T, h http.HandlerFunc) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Code, rec.Body.String()
}

// Readiness: not ready while starting; ready once running; not ready from
// the first failed Kafka request until the next success; not ready for
// good once stopping. A Report API error changes nothing.
func TestReadiness(t *testing.T) {
	c := testkit.NewClock(t0)
	b := newBoard(c)
	steps := []struct {
		do     func()
		ready  bool
		reason string
	}{
		{func() {}, false, "starting"},
		{func() { b.Running(func() []pipeline.StreamProgress { return nil }) }, true, ""},
		{func() { b.KafkaResult(nil) }, true, ""},
		{func() { b.APIError(&source.APIError{Endpoint: "/v2/messages", Status: 503}) }, true, ""},
		{func() { c.Advance(time.Minute); b.KafkaResult(errors.New("dial tcp k:9092: connection refused")) }, false,
			"kafka unreachable since 2026-11-20T08:01:00Z: dial tcp k:9092: connection refused"},
		{func() { c.Advance(time.Minute); b.KafkaResult(errors.New("i/o timeout")) }, false, "kafka unreachable since 2026-11-20T08:01:00Z: i/o timeout"},
		{func() { b.KafkaResult(context.Canceled) }, false, "since 2026-11-20T08:01:00Z"},
		{func() { b.KafkaResult(nil) }, true, ""},
		{func() { b.Stopping() }, false, "shutting down"},
		{func() { b.KafkaResult(nil) }, false, "shutting down"},
	}
	for i, s := range steps {
		s.do()
		ok, why := b.Ready()
		code, body := get(t, b.ServeReady)
		if ok != s.ready || !strings.Contains(why, s.reason) || (code == 200) != s.ready || !strings.Contains(body, s.reason) {
			t.Errorf("step %d: ready %v %q, /readyz %d %q; want %v %q", i, ok, why, code, body, s.ready, s.reason)
		}
	}
}

// /status: every stream with its cursor, lag, progress and last error (an
// API error is filed under the stream whose endpoint it names), Kafka's
// state, the registry; no credentials in it.
func TestStatusJSON(t *testing.T) {
	c := testkit.NewClock(t0)
	b := newBoard(c)
	b.SetRegistry(Registry{State: "registered", URLs: []string{"http://sr:8081"}, Subject: "t-value", SchemaID: 7, ValueFormat: "confluent"})
	b.Running(func() []pipeline.StreamProgress {
		return []pipeline.StreamProgress{
			{Stream: "messages", Began: t0.Add(-24 * time.Hour), Cursor: t0.Add(-time.Hour), Published: 1200},
			{Stream: "users/alice", Began: t0.Add(-24 * time.Hour), Cursor: t0.Add(-2 * time.Hour), Published: 30},
		}
	})
	b.Progress([]progress.Status{{Stream: progress.Stream{Name: "messages"}, Done: 0.5, Remaining: 30 * time.Minute, ETA: 90 * time.Second},
		{Stream: progress.Stream{Name: "users/alice"}, Done: 0.25, Remaining: time.Hour, ETA: progress.Unknown}})
	b.APIError(fmt.Errorf("fetch users/alice: %w", &source.TransportError{Endpoint: "/v2/users/alice/messages", Err: errors.New("read body: unexpected EOF")}))
	b.APIError(errors.New("rate limiter: context deadline exceeded"))
	b.KafkaResult(nil)
	c.Advance(10 * time.Second)
	b.KafkaResult(errors.New("kafka metadata: connection refused"))

	code, body := get(t, b.ServeStatus)
	if code != 200 {
		t.Fatalf("/status %d", code)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("%v:\n%s", err, body)
	}
	if st.Ready || !strings.Contains(st.NotReadyReason, "kafka unreachable") || st.Version != "v-test" {
		t.Errorf("ready %v %q version %q", st.Ready, st.NotReadyReason, st.Version)
	}
	if len(st.Streams) != 2 {
		t.Fatalf("streams %+v", st.Streams)
	}
	m, a := st.Streams[0], st.Streams[1]
	if m.Stream != "messages" || !m.Cursor.Equal(t0.Add(-time.Hour)) || m.LagSeconds != 3610 || m.Published != 1200 ||
		*m.DonePct != 50 || *m.RemainingSeconds != 1800 || *m.ETASeconds != 90 || m.LastError != "" {
		t.Errorf("messages: %s", body)
	}
	if a.ETASeconds != nil || !strings.Contains(a.LastError, "read body: unexpected EOF") || !a.LastErrorAt.Equal(t0) {
		t.Errorf("users/alice: %s", body)
	}
	if st.LastAPIError != "rate limiter: context deadline exceeded" {
		t.Errorf("last api error %q", st.LastAPIError)
	}
	k := st.Kafka
	if k.State != "failing" || !k.LastOK.Equal(t0) || !k.FailingSince.Equal(t0.Add(10*time.Second)) || k.Topic != "t" || k.DLQTopic != "t.dlq" || len(k.Brokers) != 1 {
		t.Errorf("kafka %+v", k)
	}
	if r := st.Registry; r.State != "registered" || r.SchemaID != 7 || r.Subject != "t-value" {
		t.Errorf("registry %+v", r)
	}
}

// Before the pipeline runs, /status has no streams, an unknown Kafka and
// no registry.
func TestStatusStarting(t *testing.T) {
	b := newBoard(testkit.NewClock(t0))
	var st Status
	_, body := get(t, b.ServeStatus)
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Ready || st.Streams == nil || len(st.Streams) != 0 || st.Kafka.State != "unknown" || st.Registry.State != "not configured" {
		t.Errorf("%s", body)
	}
}

// Probe records each probe's outcome, once per wake of its sleep, and
// returns when the context ends.
func TestProbe(t *testing.T) {
	b := newBoard(testkit.NewClock(t0))
	b.Running(nil)
	results := []error{nil, errors.New("connection refused"), nil}
	// The loop is sleep, probe, record, sleep: once it enters its sleep
	// again, the outcome is recorded.
	wake, entered := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		i := 0
		b.Probe(ctx, 15*time.Second, time.Second, func(context.Context) error {
			err := results[i]
			i++
			return err
		}, func(ctx context.Context, d time.Duration) error {
			if d != 15*time.Second {
				t.Errorf("probe interval %v", d)
			}
			select {
			case entered <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-wake:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	<-entered
	for i, want := range []bool{true, false, true} {
		wake <- struct{}{}
		<-entered
		if ok, why := b.Ready(); ok != want {
			t.Errorf("after probe %d: ready %v %q, want %v", i, ok, why, want)
		}
	}
	cancel()
	<-done
}
