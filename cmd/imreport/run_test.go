package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// bigSpec is a day of history: 52,000 spread messages plus three bursts of
// 1,500 messages in one second.
func bigSpec() simulator.GenSpec {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	return simulator.GenSpec{Seed: 7, Start: end.Add(-24 * time.Hour), End: end, Count: 52000, Bursts: 3, BurstSize: 1500}
}

func TestRunBackfillExactlyOnce(t *testing.T) {
	h, brokers, env := harness.NewRun(t, bigSpec())

	code, _, stderr := runMain(context.Background(), env, "run")
	if code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	want := h.Srv.Visible(h.Start, h.End)
	if len(want) < 50000 {
		t.Fatalf("the dataset has %d messages, the test needs at least 50,000", len(want))
	}
	assertBurst(t, want)
	harness.AssertExactlyOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), want, "/v2/messages")

	// The checkpoint says everything before the end is published.
	code, out, stderr := runMain(context.Background(), env, "checkpoint", "show")
	if code != exitOK {
		t.Fatalf("checkpoint show exited %d: %s", code, stderr)
	}
	var shown struct {
		AppKey  string `json:"app_key"`
		Topic   string `json:"topic"`
		Streams []struct{ Stream, Cursor string }
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("checkpoint show printed %q: %v", out, err)
	}
	if shown.AppKey != harness.AppKey || shown.Topic != "imreport.messages" || len(shown.Streams) != 1 ||
		shown.Streams[0].Stream != "messages" || shown.Streams[0].Cursor != h.End.Format(time.RFC3339) {
		t.Fatalf("checkpoint show: %+v", shown)
	}

	// Running the finished job again publishes nothing more.
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("second run exited %d:\n%s", code, stderr)
	}
	harness.AssertExactlyOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), want, "/v2/messages")
}

// assertBurst checks the dataset holds a second with more than one page.
func assertBurst(t *testing.T, msgs []simulator.Message) {
	t.Helper()
	per := map[int64]int{}
	most := 0
	for _, m := range msgs {
		per[m.CreateTime]++
		most = max(most, per[m.CreateTime])
	}
	if most <= 1000 {
		t.Fatalf("no second holds more than 1,000 messages (most: %d)", most)
	}
}

func TestRunRestartAfterCancelExactlyOnce(t *testing.T) {
	spec := bigSpec()
	spec.Count = 20000
	h, brokers, env := harness.NewRun(t, spec)
	env["IMREPORT_WINDOW"] = "20m"

	// Two runs stopped at different moments, then one that finishes. Each
	// stops at request stopAt or the first after it at which the topic has
	// grown: how many requests come before the first write depends on the
	// window sizing and the machine's speed.
	last := int64(0)
	for i, stopAt := range []int64{9, 23} {
		ctx, cancel := context.WithCancel(context.Background())
		h.SetOnRequest(cancelWhenGrown(brokers, last, func(n int64) bool { return n >= stopAt }, cancel))
		code, _, stderr := runMain(ctx, env, "run")
		cancel()
		if code != exitOK {
			t.Fatalf("run %d exited %d after cancel:\n%s", i+1, code, stderr)
		}
		h.SetOnRequest(nil)
		got := harness.ReadTopic(t, brokers, "imreport.messages")
		if len(got) == 0 || len(got) >= len(h.Msgs) {
			t.Fatalf("run %d was meant to stop midway but published %d of %d", i+1, len(got), len(h.Msgs))
		}
		t.Logf("run %d stopped after %d records", i+1, len(got))
		last = int64(len(got))
	}
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("final run exited %d:\n%s", code, stderr)
	}
	harness.AssertExactlyOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), h.Srv.Visible(h.Start, h.End), "/v2/messages")
}

func TestRunUserStreams(t *testing.T) {
	spec := bigSpec()
	spec.Count, spec.Bursts = 6000, 0
	spec.Start = spec.End.Add(-6 * time.Hour)
	h, brokers, env := harness.NewRun(t, spec)
	users := simulator.UserPool(200)[:3]
	env["IMREPORT_USERS"] = strings.Join(users, ",")
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	// Expected: the union of the users' messages, each once, even when one
	// message belongs to two of the users. Strict bounds: the simulator
	// answers (begin, end); the client asks so that [start, end) is covered.
	want := map[int64]simulator.Message{}
	for _, u := range users {
		ms, err := h.Srv.Matching(u, h.Start.Add(-time.Second), h.End)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			want[m.MsgID] = m
		}
	}
	var list []simulator.Message
	for _, m := range want {
		list = append(list, m)
	}
	recs := harness.ReadTopic(t, brokers, "imreport.messages")
	for i := range recs {
		// The endpoint differs per user; compare it separately.
		src, _ := recs[i].Rec["source"].(map[string]any)
		ep, _ := src["endpoint"].(string)
		if !strings.HasPrefix(ep, "/v2/users/") || !strings.HasSuffix(ep, "/messages") {
			t.Fatalf("record %d came from endpoint %q", i, ep)
		}
		src["endpoint"] = "/v2/users"
	}
	assertUserRecords(t, recs, list)
}

// assertUserRecords is assertExactlyOnce for user streams, whose served JSON
// carries the app keys the vendor adds on /users responses.
func assertUserRecords(t *testing.T, recs []harness.Record, want []simulator.Message) {
	t.Helper()
	for i := range want {
		m := want[i]
		if m.FromAppKey == "" {
			want[i].FromAppKey = harness.AppKey
		}
		if m.TargetAppKey == "" {
			want[i].TargetAppKey = harness.AppKey
			if m.TargetAppKeyEmpty {
				want[i].TargetAppKey = ""
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("the users have no messages")
	}
	harness.AssertExactlyOnce(t, recs, want, "/v2/users")
}

func TestRunFailsFastOnLockedCheckpoint(t *testing.T) {
	_, _, env := harness.NewRun(t, simulator.GenSpec{Seed: 1, Start: time.Now().Add(-3 * time.Hour), End: time.Now().Add(-2 * time.Hour), Count: 10})
	env["IMREPORT_CHECKPOINT_LOCK_TIMEOUT"] = "100ms"
	holder, err := checkpoint.Open(checkpoint.Options{Path: env["IMREPORT_CHECKPOINT_PATH"]})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	code, _, stderr := runMain(context.Background(), env, "run")
	if code != exitFailed || !strings.Contains(stderr, "checkpoint locked") {
		t.Fatalf("want exit 1 with 'checkpoint locked', got %d:\n%s", code, stderr)
	}
}

func TestRunAuthFailureIsFatalAndSecretNeverLogged(t *testing.T) {
	h, _, env := harness.NewRun(t, simulator.GenSpec{Seed: 1, Start: time.Now().Add(-3 * time.Hour), End: time.Now().Add(-2 * time.Hour), Count: 10})
	env["IMREPORT_MASTER_SECRET"] = "wrong-Secret-9f8e7d"
	env["IMREPORT_LOG_LEVEL"] = "debug"
	code, stdout, stderr := runMain(context.Background(), env, "run")
	if code != exitFailed {
		t.Fatalf("want exit 1, got %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "credentials") || !strings.Contains(stderr, "899008") {
		t.Fatalf("the error should say the credentials were rejected:\n%s", stderr)
	}
	assertNoSecret(t, stdout+stderr, env["IMREPORT_APP_KEY"], "wrong-Secret-9f8e7d")
	if n := h.Srv.Requests(); n != 1 {
		t.Fatalf("an auth failure must not be retried: %d requests", n)
	}
}

func TestRunSecretsNeverLogged(t *testing.T) {
	_, _, env := harness.NewRun(t, simulator.GenSpec{Seed: 3, Start: time.Now().Add(-3 * time.Hour), End: time.Now().Add(-2 * time.Hour), Count: 500})
	env["IMREPORT_LOG_LEVEL"] = "debug"
	code, stdout, stderr := runMain(context.Background(), env, "run")
	if code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, `"master_secret":"(set)"`) {
		t.Fatalf("the configuration should be logged with the secret redacted:\n%s", stderr)
	}
	assertNoSecret(t, stdout+stderr, harness.AppKey, harness.Secret)

	// Configuration errors do not quote secrets either.
	env["IMREPORT_KAFKA_SASL_MECHANISM"] = "BOGUS"
	env["IMREPORT_KAFKA_SASL_PASSWORD"] = "hunter2-Kafka-pass"
	env["IMREPORT_WINDOW"] = "soon"
	code, stdout, stderr = runMain(context.Background(), env, "run")
	if code != exitUsage {
		t.Fatalf("want exit 2 for bad configuration, got %d", code)
	}
	assertNoSecret(t, stdout+stderr, harness.AppKey, harness.Secret)
	if strings.Contains(stdout+stderr, "hunter2-Kafka-pass") {
		t.Fatalf("the SASL password leaked:\n%s", stderr)
	}
}

// assertNoSecret fails if out holds the secret or the Authorization value.
func assertNoSecret(t *testing.T, out, appKey, secret string) {
	t.Helper()
	if out == "" {
		t.Fatal("no output to check")
	}
	for _, leak := range basicForms(appKey, secret) {
		if strings.Contains(out, leak) {
			t.Fatalf("output contains a secret form %q:\n%s", leak, out)
		}
	}
}

func basicForms(appKey, secret string) []string {
	return []string{secret, basic(appKey, secret), "Basic " + basic(appKey, secret)}
}

func TestRunTailServesHealthAndMetricsThenStops(t *testing.T) {
	now := time.Now().UTC()
	_, _, env := harness.NewRun(t, simulator.GenSpec{Seed: 5, Start: now.Add(-2 * time.Hour), End: now.Add(time.Hour), Count: 3000})
	harness.TailEnv(env, "-1h")
	cfg := configAt(t, env, now)
	cfg.HTTPAddr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	caught := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- runPipeline(ctx, cfg, newLogger(new(testkit.Buffer), cfg.LogLevel), runHooks{
			OnListen: func(a string) { addrc <- a },
			OnCommit: func(c time.Time) {
				if !c.Before(now.Add(-5 * time.Second)) {
					select {
					case <-caught:
					default:
						close(caught)
					}
				}
			},
		})
	}()
	addr := <-addrc
	select {
	case <-caught:
	case err := <-done:
		t.Fatalf("run ended before catching up: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the pipeline did not catch up within a minute")
	}
	if code, body := harness.Get(t, "http://"+addr+"/readyz"); code != 200 {
		t.Fatalf("/readyz while running: %d %s", code, body)
	}
	if code, _ := harness.Get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	_, metrics := harness.Get(t, "http://"+addr+"/metrics")
	for _, name := range []string{"imreport_messages_published_total", "imreport_api_requests_total", "imreport_cursor_timestamp_seconds", "imreport_lag_seconds", "imreport_ready 1"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("a cancelled tail run should end cleanly, got %v", err)
	}
	if errors.Is(ctx.Err(), context.Canceled) == false {
		t.Fatal("context not cancelled")
	}
}

func TestRunRefusesCorruptOrForeignCheckpoint(t *testing.T) {
	h := harness.NewHistory(t, simulator.GenSpec{Seed: 1, Start: time.Now().Add(-3 * time.Hour), End: time.Now().Add(-2 * time.Hour), Count: 10})
	brokers := testkit.Brokers(t)

	env := harness.BaseEnv(t, h, brokers)
	if err := os.WriteFile(env["IMREPORT_CHECKPOINT_PATH"], []byte("this is not a bbolt file, it is garbage................................"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMain(context.Background(), env, "run")
	if code != exitFailed || !strings.Contains(stderr, "corrupt") {
		t.Fatalf("a garbage checkpoint: want exit 1 naming corruption, got %d:\n%s", code, stderr)
	}
	if n := h.Srv.Requests(); n != 0 {
		t.Fatalf("nothing may be fetched with a corrupt checkpoint: %d requests", n)
	}

	// A checkpoint written for another topic is refused, not reused.
	env = harness.BaseEnv(t, h, brokers)
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("first run: %d\n%s", code, stderr)
	}
	env["IMREPORT_KAFKA_TOPIC"] = "other.topic"
	code, _, stderr = runMain(context.Background(), env, "run")
	if code != exitFailed || !strings.Contains(stderr, "other.topic") || !strings.Contains(stderr, "imreport.messages") {
		t.Fatalf("a checkpoint of another topic: want exit 1 naming both topics, got %d:\n%s", code, stderr)
	}
}
