package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/media"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/schema"
)

// TestMediaTwoConsumersExactlyOnce: a history with every media type, under
// the simulator's media faults, archived by two imreport media members of
// one group (one of them stopped and restarted half way): every reference
// has exactly one record, every archived object has the simulator's bytes,
// every gone one is missing_at_source.
func TestMediaTwoConsumersExactlyOnce(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	spec := simulator.GenSpec{Seed: 11, Start: end.Add(-2 * time.Hour), End: end, Count: 400, MediaMaxSize: 20000}
	h := harness.NewHistory(t, spec)
	ms := simulator.WithMedia(h.Srv, simulator.MediaConfig{Seed: 5, Gone: 0.1, ServerError: 0.04, RateLimited: 0.04,
		Expired: 0.04, Cut: 0.04, Corrupt: 0.04, Slow: 0.02, SlowDelay: 300 * time.Millisecond})
	im := httptest.NewServer(ms)
	t.Cleanup(im.Close)
	brokers := testkit.Brokers(t)
	env := harness.BaseEnv(t, h, brokers)
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	dir := t.TempDir()
	env["IMREPORT_IM_API_URL"] = im.URL
	env["IMREPORT_MEDIA_URL"] = "file://" + dir
	env["IMREPORT_MEDIA_RATE_LIMIT"] = "500"
	env["IMREPORT_MEDIA_SESSION_TIMEOUT"] = "6s"
	env["IMREPORT_MEDIA_MAX_ATTEMPTS"] = "6"
	env["IMREPORT_HTTP_ADDR"] = ""

	want := map[string]media.Ref{} // msgid/role
	for _, m := range h.Srv.Visible(h.Start, h.End) {
		for _, r := range media.Refs(string(m.Body)) {
			want[strconv.FormatInt(m.MsgID, 10)+"/"+r.Role] = r
		}
	}
	if len(want) < 50 {
		t.Fatalf("only %d media references", len(want))
	}
	start := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan string, 1)
		go func() { _, _, stderr := runMain(ctx, env, "media"); done <- stderr }()
		return func() { cancel(); <-done }
	}
	stopA := start()
	stopB := start()
	deadline := time.Now().Add(3 * time.Minute)
	restarted := false
	var recs []harness.Record
	for time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		recs = harness.ReadTopic(t, brokers, "imreport.messages.media")
		if !restarted && len(recs) > len(want)/3 {
			stopA()
			stopA = start()
			restarted = true
		}
		if len(recs) >= len(want) {
			break
		}
	}
	time.Sleep(3 * time.Second) // anything more would be a duplicate
	stopA()
	stopB()
	recs = harness.ReadTopic(t, brokers, "imreport.messages.media")
	got := harness.CheckMediaRecords(t, recs, want, ms, harness.ReadFileObject)
	seen, statuses := got.Seen, got.Statuses
	for k := range want {
		if seen[k] != 1 {
			t.Errorf("%s: %d records, want 1", k, seen[k])
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*", "sha256", "*", ".tmp-*"))
	if len(left) > 0 {
		t.Errorf("half-written files left: %v", left)
	}
	js, _ := json.Marshal(statuses)
	t.Logf("%d references, %d records: %s; faults served %d", len(want), len(recs), js, ms.Faults.Load())
	_ = schema.MediaFullName
}

// The media subject follows IMREPORT_SCHEMA_SUBJECT_STRATEGY like the
// messages subject.
func TestMediaSubjectStrategy(t *testing.T) {
	for strategy, want := range map[string]string{
		"":             "imreport.messages.media-value",
		"topic":        "imreport.messages.media-value",
		"record":       "io.imreport.MediaItem",
		"topic_record": "imreport.messages.media-io.imreport.MediaItem",
	} {
		env := map[string]string{"IMREPORT_APP_KEY": "k", "IMREPORT_MASTER_SECRET": "s", "IMREPORT_KAFKA_BROKERS": "127.0.0.1:9092",
			"IMREPORT_SCHEMA_SUBJECT_STRATEGY": strategy}
		cfg, err := loadConfig(context.Background(), envconfig.MapLookuper(env), time.Now(), true)
		if err != nil {
			t.Fatalf("%q: %v", strategy, err)
		}
		if cfg.Media.Subject != want {
			t.Errorf("strategy %q: media subject %q, want %q", strategy, cfg.Media.Subject, want)
		}
	}
}
