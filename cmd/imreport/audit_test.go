package main

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
)

// auditReport is the JSON of `imreport audit --json`.
type auditReport struct {
	Streams []struct {
		Stream  string `json:"stream"`
		Queried string `json:"queried_bounds"`
		Read    string `json:"read_bounds"`
		Buckets []struct {
			From       time.Time `json:"from"`
			To         time.Time `json:"to"`
			API        int64     `json:"api_total"`
			Asked      []int64   `json:"api_totals_asked"`
			InTopic    int64     `json:"in_topic"`
			Dead       int64     `json:"dead_lettered"`
			Duplicates int64     `json:"duplicates"`
			Difference int64     `json:"difference"`
			Status     string    `json:"status"`
		} `json:"buckets"`
	} `json:"streams"`
	Statistics *struct {
		Unavailable string   `json:"unavailable"`
		Notes       []string `json:"notes"`
		Buckets     []struct {
			Unit        string `json:"unit"`
			Time        string `json:"time"`
			StatSingle  int64  `json:"stat_single"`
			TopicSingle int64  `json:"topic_single"`
			StatGroup   int64  `json:"stat_group"`
			TopicGroup  int64  `json:"topic_group"`
			Status      string `json:"status"`
		} `json:"buckets"`
	} `json:"statistics"`
	Summary struct {
		Clean      bool  `json:"clean"`
		Buckets    int   `json:"buckets"`
		Mismatched int   `json:"mismatched"`
		Missing    int64 `json:"missing"`
		Duplicates int64 `json:"duplicates"`
		Records    int64 `json:"records_read"`
		Requests   int64 `json:"api_requests"`
	} `json:"summary"`
}

// auditJSON runs `imreport audit --json` over the history and decodes it.
func auditJSON(t *testing.T, env map[string]string, h *harness.History, want int, extra ...string) auditReport {
	t.Helper()
	args := append([]string{"audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--json"}, extra...)
	code, out, stderr := runMain(context.Background(), env, args...)
	if code != want {
		t.Fatalf("audit %v exited %d, want %d:\n%s\n%s", extra, code, want, out, stderr)
	}
	var rep auditReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("audit printed %q: %v", out, err)
	}
	return rep
}

// expectBuckets checks every bucket of the messages stream against the
// simulator's own count, and returns the starts of those not ok.
func expectBuckets(t *testing.T, h *harness.History, rep auditReport) []time.Time {
	t.Helper()
	if len(rep.Streams) != 1 || rep.Streams[0].Stream != "messages" {
		t.Fatalf("audit streams: %+v", rep.Streams)
	}
	var bad []time.Time
	for _, b := range rep.Streams[0].Buckets {
		if want := int64(len(h.Srv.Visible(b.From, b.To))); b.API != want {
			t.Errorf("bucket %s: api total %d, the simulator holds %d", b.From, b.API, want)
		}
		if b.Status != "ok" {
			bad = append(bad, b.From.UTC())
		}
	}
	return bad
}

// TestAuditCleanBackfill: a finished backfill (with dead letters) audits
// clean, bucket by bucket against the simulator's own counts, and the text
// output says so.
func TestAuditCleanBackfill(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	h, brokers, env := harness.NewRun(t, simulator.GenSpec{Seed: 41, Start: end.Add(-6 * time.Hour), End: end, Count: 6000, Bursts: 2, BurstSize: 1200, Poison: 0.003})
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	rep := auditJSON(t, env, h, exitOK)
	if bad := expectBuckets(t, h, rep); len(bad) > 0 || !rep.Summary.Clean || rep.Summary.Buckets != 6 {
		t.Fatalf("clean backfill audited not clean: %v %+v", bad, rep.Summary)
	}
	var dead int64
	for _, b := range rep.Streams[0].Buckets {
		dead += b.Dead
	}
	if want := int64(len(simulator.Poisoned(h.Msgs))); dead != want || want == 0 {
		t.Errorf("dead-lettered %d, the simulator poisoned %d", dead, want)
	}
	if rep.Summary.Requests != 7 { // a probe + one count per bucket
		t.Errorf("audit made %d API requests, want 7", rep.Summary.Requests)
	}
	code, out, stderr := runMain(context.Background(), env, "audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--bucket", "2h")
	if code != exitOK || !strings.Contains(out, "CLEAN: every bucket matches") || strings.Count(out, "  ok") != 3 {
		t.Fatalf("audit (table) exited %d:\n%s\n%s", code, out, stderr)
	}

	// Relative times, rounded down to whole buckets: the same range (or,
	// should an hour begin meanwhile, an hour later: clean as well).
	t0 := time.Now().UTC()
	code, out, stderr = runMain(context.Background(), env, "audit", "--from", "-8h", "--to", "-2h", "--json")
	t1 := time.Now().UTC()
	var rel auditReport
	if err := json.Unmarshal([]byte(out), &rel); code != exitOK || err != nil || len(rel.Streams) != 1 || len(rel.Streams[0].Buckets) != 6 ||
		!rel.Streams[0].Buckets[0].From.Equal(t0.Add(-8*time.Hour).Truncate(time.Hour)) && !rel.Streams[0].Buckets[0].From.Equal(t1.Add(-8*time.Hour).Truncate(time.Hour)) {
		t.Fatalf("audit --from -8h --to -2h exited %d (%v):\n%s\n%s", code, err, out, stderr)
	}

	// A copy of the topic with one record twice: reported as a duplicate,
	// in its bucket, and the audit is not clean.
	third := h.Srv.Visible(h.Start.Add(2*time.Hour), h.Start.Add(3*time.Hour))
	copyTopic(t, brokers, "imreport.messages", "dup.messages", nil, map[int64]bool{third[7].MsgID: true})
	copyTopic(t, brokers, "imreport.messages.dlq", "dup.messages.dlq", nil, nil)
	dupEnv := maps.Clone(env)
	dupEnv["IMREPORT_KAFKA_TOPIC"] = "dup.messages"
	rep = auditJSON(t, dupEnv, h, exitFailed)
	if bad := expectBuckets(t, h, rep); len(bad) != 1 || !bad[0].Equal(h.Start.Add(2*time.Hour)) ||
		rep.Streams[0].Buckets[2].Status != "duplicates" || rep.Summary.Duplicates != 1 || rep.Summary.Missing != 0 {
		t.Errorf("a duplicated record: buckets %v differ, summary %+v, want the third bucket with 1 duplicate", bad, rep.Summary)
	}

	// --repair needs the pipeline's checkpoint.
	dupEnv["IMREPORT_CHECKPOINT_PATH"] = filepath.Join(t.TempDir(), "none.db")
	code, _, stderr = runMain(context.Background(), dupEnv, "audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--repair")
	if code != exitFailed || !strings.Contains(stderr, "no checkpoint at") {
		t.Errorf("audit --repair without a checkpoint exited %d:\n%s", code, stderr)
	}

	// Bad flags: every problem at once, exit 2.
	code, _, stderr = runMain(context.Background(), env, "audit", "--from", "yesterday", "--bucket", "90m30ms", "--stream", "nope/x")
	if code != exitUsage {
		t.Fatalf("audit with bad flags exited %d", code)
	}
	wantIn(t, "stderr", stderr, "--from", "--to: required", "--bucket", "--stream")
}

// TestAuditEntityStreams: user, group and chatroom streams audit clean
// whichever way the server reads the bounds (the audit probes it and
// compares over the seconds the totals really cover).
func TestAuditEntityStreams(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run("strict="+strconv.FormatBool(strict), func(t *testing.T) {
			end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
			h := harness.NewHistoryWith(t, simulator.GenSpec{Seed: 43, Start: end.Add(-3 * time.Hour), End: end, Count: 4000, Users: 20}, simulator.Config{V2EntityStrict: strict})
			brokers := testkit.Brokers(t)
			env := harness.BaseEnv(t, h, brokers)
			env["IMREPORT_USERS"] = strings.Join(h.Srv.Users()[:3], ",")
			env["IMREPORT_GROUPS"] = strings.Join(h.Srv.Groups()[:2], ",")
			env["IMREPORT_CHATROOMS"] = h.Srv.Chatrooms()[0]
			if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
				t.Fatalf("run exited %d:\n%s", code, stderr)
			}
			rep := auditJSON(t, env, h, exitOK, "--bucket", "30m")
			want := map[bool]string{false: "inclusive", true: "strict"}[strict]
			if len(rep.Streams) != 6 {
				t.Fatalf("audited %d streams, want 6", len(rep.Streams))
			}
			for _, s := range rep.Streams {
				var total int64
				for _, b := range s.Buckets {
					total += b.API
				}
				if s.Read != want || s.Queried != "strict" || total == 0 {
					t.Errorf("stream %s: bounds queried %s read %s (want strict, %s), %d messages", s.Stream, s.Queried, s.Read, want, total)
				}
			}
		})
	}
}

// TestAuditUnreliableAPI: against an API answering 5xx and 429 and
// drifting its totals by a few, the audit of a clean backfill is still
// clean: failed requests are retried, and a total that differs from the
// topics is asked again until one comes back three times. A real gap is
// still found.
func TestAuditUnreliableAPI(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	spec := simulator.GenSpec{Seed: 71, Start: end.Add(-6 * time.Hour), End: end, Count: 3000}
	h := harness.NewHistoryWith(t, spec, simulator.Config{Faults: simulator.Faults{Seed: 71, ServerError: 0.1, RateLimited: 0.1, TotalDrift: 0.2}})
	brokers := testkit.Brokers(t)
	env := harness.BaseEnv(t, h, brokers)
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	rep := auditJSON(t, env, h, exitOK, "--bucket", "30m")
	asked := 0
	for _, b := range rep.Streams[0].Buckets {
		if len(b.Asked) > 0 {
			asked++
		}
	}
	if asked == 0 || rep.Summary.Requests <= 13 {
		t.Errorf("no drifted total was asked again (%d requests); the faults did not bite?", rep.Summary.Requests)
	}
	late := h.Msgs[len(h.Msgs)/2]
	late.MsgID, late.JSON, late.Body = 990_000_000_004, nil, nil
	h.Srv.Add(late)
	rep = auditJSON(t, env, h, exitFailed, "--bucket", "30m")
	if rep.Summary.Mismatched != 1 || rep.Summary.Missing != 1 {
		t.Errorf("a real gap under drifting totals: summary %+v, want one bucket missing one message", rep.Summary)
	}
}

// TestAuditV1: on API v1 (strict /v1/users, inclusive /v1/messages) the
// audit is exact too.
func TestAuditV1(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	h, _, env := harness.NewRun(t, simulator.GenSpec{Seed: 67, Start: end.Add(-2 * time.Hour), End: end, Count: 2000, Users: 10})
	env["IMREPORT_API_VERSION"] = "v1"
	env["IMREPORT_USERS"] = strings.Join(h.Srv.Users()[:2], ",")
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	rep := auditJSON(t, env, h, exitFailed, "--stream", "messages,users/"+h.Srv.Users()[0])
	if len(rep.Streams) != 2 || rep.Streams[0].Read != "inclusive" || rep.Streams[1].Read != "strict" {
		t.Fatalf("v1 streams: %+v", rep.Streams)
	}
	// The messages stream was not run (only users are configured): the
	// topic lacks what the two users did not send or receive.
	for _, b := range rep.Streams[0].Buckets {
		if b.Status != "missing" {
			t.Errorf("messages bucket %s: %s, want missing (only two users' messages were published)", b.From, b.Status)
		}
	}
	for _, b := range rep.Streams[1].Buckets {
		if b.Status != "ok" || b.API == 0 {
			t.Errorf("user bucket %s: %+v", b.From, b)
		}
	}
}

// TestAuditFindsDeletedMessagesAndRepairs: a copy of the topic lacks some
// messages of two buckets (one early, one whose msgids the checkpoint's
// dedupe set still holds). The audit names exactly those two buckets, and
// --repair (on a checkpoint bound to the copy) makes the next audit clean,
// every message exactly once.
func TestAuditFindsDeletedMessagesAndRepairs(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	h, brokers, env := harness.NewRun(t, simulator.GenSpec{Seed: 47, Start: end.Add(-5 * time.Hour), End: end, Count: 5000, Poison: 0.003})
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	// Delete 3 messages of the second bucket (one of them a dead letter)
	// and 2 of the last 5 minutes.
	drop := map[int64]bool{}
	second := h.Srv.Visible(h.Start.Add(time.Hour), h.Start.Add(2*time.Hour))
	for _, m := range second[10:12] {
		drop[m.MsgID] = true
	}
	for _, m := range second {
		if m.Poison {
			drop[m.MsgID] = true
			break
		}
	}
	for _, m := range h.Srv.Visible(end.Add(-5*time.Minute), end)[:2] {
		drop[m.MsgID] = true
	}
	if len(drop) != 5 {
		t.Fatalf("chose %d messages to drop, want 5 (no poisoned message in the second bucket?)", len(drop))
	}
	copyTopic(t, brokers, "imreport.messages", "copy.messages", drop, nil)
	copyTopic(t, brokers, "imreport.messages.dlq", "copy.messages.dlq", drop, nil)
	env["IMREPORT_KAFKA_TOPIC"] = "copy.messages"
	env["IMREPORT_CHECKPOINT_PATH"] = cloneCheckpoint(t, env, brokers, "copy.messages")

	rep := auditJSON(t, env, h, exitFailed)
	bad := expectBuckets(t, h, rep)
	want := []time.Time{h.Start.Add(time.Hour), end.Add(-time.Hour)}
	if len(bad) != 2 || !bad[0].Equal(want[0]) || !bad[1].Equal(want[1]) || rep.Summary.Missing != 5 {
		t.Fatalf("audit named buckets %v (missing %d), want %v (missing 5)", bad, rep.Summary.Missing, want)
	}

	code, out, stderr := runMain(context.Background(), env, "audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--repair")
	if code != exitOK || !strings.Contains(out, "audit after the repair:") || !strings.Contains(out, "4 messages published, 1 dead-lettered") {
		t.Fatalf("audit --repair exited %d:\n%s\n%s", code, out, stderr)
	}
	rep = auditJSON(t, env, h, exitOK)
	if bad := expectBuckets(t, h, rep); len(bad) > 0 {
		t.Fatalf("after the repair, buckets %v still differ", bad)
	}
	assertTopicsExactlyOnce(t, h, brokers, "copy.messages", nil)
}

// TestAuditFindsUnpublishedRangeAndRepairs: the cursor was moved forward by
// hand past two hours that were never published; the audit names exactly
// those buckets; --repair refuses while the checkpoint is locked, then
// publishes them exactly once. Values are in the Confluent wire format.
func TestAuditFindsUnpublishedRangeAndRepairs(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	h, brokers, env := harness.NewRun(t, simulator.GenSpec{Seed: 53, Start: end.Add(-6 * time.Hour), End: end, Count: 6000, Poison: 0.002})
	reg, client := newRegistry(t) // values in the Confluent wire format: the audit resolves their schema id
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = reg.URL()
	gapFrom, gapTo := h.Start.Add(2*time.Hour), h.Start.Add(4*time.Hour)
	env["IMREPORT_END"] = gapFrom.Format(time.RFC3339)
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	moveCursor(t, env["IMREPORT_CHECKPOINT_PATH"], gapTo)
	env["IMREPORT_END"] = h.End.Format(time.RFC3339)
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("second run exited %d:\n%s", code, stderr)
	}

	rep := auditJSON(t, env, h, exitFailed)
	bad := expectBuckets(t, h, rep)
	if len(bad) != 2 || !bad[0].Equal(gapFrom) || !bad[1].Equal(gapFrom.Add(time.Hour)) || rep.Summary.Missing != int64(len(h.Srv.Visible(gapFrom, gapTo))) {
		t.Fatalf("audit named buckets %v (missing %d), want the two hours from %s (%d messages)", bad, rep.Summary.Missing, gapFrom, len(h.Srv.Visible(gapFrom, gapTo)))
	}

	// While the pipeline holds the lock, --repair refuses and changes nothing.
	var code int
	var out, stderr string
	lock, err := checkpoint.Open(checkpoint.Options{Path: env["IMREPORT_CHECKPOINT_PATH"]})
	if err != nil {
		t.Fatal(err)
	}
	env["IMREPORT_CHECKPOINT_LOCK_TIMEOUT"] = "100ms"
	code, _, stderr = runMain(context.Background(), env, "audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--repair")
	lock.Close()
	if code != exitFailed || !strings.Contains(stderr, "checkpoint locked") || !strings.Contains(stderr, "stop it") {
		t.Fatalf("audit --repair on a locked checkpoint exited %d:\n%s", code, stderr)
	}

	code, out, stderr = runMain(context.Background(), env, "audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--repair", "--json")
	var repaired struct {
		Before, After auditReport
		Repair        struct {
			Ranges []struct {
				From, To time.Time
			}
			Published    int64
			DeadLettered int64 `json:"dead_lettered"`
		}
	}
	if err := json.Unmarshal([]byte(out), &repaired); err != nil || code != exitOK {
		t.Fatalf("audit --repair --json exited %d: %v\n%s\n%s", code, err, out, stderr)
	}
	r := repaired.Repair
	if len(r.Ranges) != 1 || !r.Ranges[0].From.Equal(gapFrom) || !r.Ranges[0].To.Equal(gapTo) ||
		r.Published+r.DeadLettered != int64(len(h.Srv.Visible(gapFrom, gapTo))) || r.DeadLettered == 0 ||
		repaired.Before.Summary.Clean || !repaired.After.Summary.Clean {
		t.Fatalf("repair: %+v, before clean %v, after clean %v; want one range [%s, %s) of %d messages", r,
			repaired.Before.Summary.Clean, repaired.After.Summary.Clean, gapFrom, gapTo, len(h.Srv.Visible(gapFrom, gapTo)))
	}
	rep = auditJSON(t, env, h, exitOK)
	if bad := expectBuckets(t, h, rep); len(bad) > 0 {
		t.Fatalf("after the repair, buckets %v still differ", bad)
	}
	assertTopicsExactlyOnce(t, h, brokers, "imreport.messages", client)
	// The cursor is back where it was.
	code, out, _ = runMain(context.Background(), env, "checkpoint", "show")
	if code != exitOK || !strings.Contains(out, h.End.Format(time.RFC3339)) {
		t.Errorf("checkpoint after the repair:\n%s", out)
	}
}

// assertTopicsExactlyOnce checks that the topic and its dead-letter topic
// together hold every visible message once: the poisoned ones as dead
// letters, the others as records.
func assertTopicsExactlyOnce(t *testing.T, h *harness.History, brokers []string, topic string, reg schema.Registry) {
	t.Helper()
	poisoned := map[int64]bool{}
	for _, id := range simulator.Poisoned(h.Msgs) {
		poisoned[id] = true
	}
	var good []simulator.Message
	for _, m := range h.Srv.Visible(h.Start, h.End) {
		if !poisoned[m.MsgID] {
			good = append(good, m)
		}
	}
	recs := harness.ReadTopicWith(t, brokers, topic, reg)
	harness.AssertExactlyOnce(t, recs, good, "/v2/messages")
	for _, r := range recs {
		if want := map[bool]schema.Framing{false: schema.SingleObject, true: schema.Confluent}[reg != nil]; r.Framing != want {
			t.Fatalf("record at partition %d offset %d is %v, want %v (repaired in another format?)", r.Msg.Partition, r.Msg.Offset, r.Framing, want)
		}
	}
	seen := map[int64]int{}
	for _, m := range harness.ScanTopic(t, brokers, topic+".dlq") {
		id, _ := strconv.ParseInt(m.Headers[sink.HeaderMsgID], 10, 64)
		seen[id]++
	}
	for id := range poisoned {
		if seen[id] != 1 {
			t.Errorf("dead letter %d is in %s %d times", id, topic+".dlq", seen[id])
		}
	}
	if len(seen) != len(poisoned) {
		t.Errorf("%s holds %d msgids, want the %d poisoned", topic+".dlq", len(seen), len(poisoned))
	}
}

// copyTopic copies every record of from into a new topic to (same
// partitioning, keys, headers and timestamps), except the msgids in drop,
// and those in twice twice.
func copyTopic(t *testing.T, brokers []string, from, to string, drop, twice map[int64]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	if _, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: to, NumPartitions: 3, ReplicationFactor: 1}}}); err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	for _, m := range harness.ScanTopic(t, brokers, from) {
		id, _ := strconv.ParseInt(m.Headers[sink.HeaderMsgID], 10, 64)
		if drop[id] {
			continue
		}
		km := kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time}
		for k, v := range m.Headers {
			km.Headers = append(km.Headers, kafka.Header{Key: k, Value: []byte(v)})
		}
		msgs = append(msgs, km)
		if twice[id] {
			msgs = append(msgs, km)
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: to, Balancer: &kafka.Murmur2Balancer{}, BatchSize: 1000, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	for i := 0; ; i++ {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return
		}
		if i > 20 { // metadata of a topic just created may lag
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cloneCheckpoint writes a checkpoint bound to topic holding the cursors
// and dedupe set of env's checkpoint, with marks at the topics' ends: the
// checkpoint of a deployment whose topic was restored from that copy.
func cloneCheckpoint(t *testing.T, env map[string]string, brokers []string, topic string) string {
	t.Helper()
	st := harness.CheckpointState(t, env["IMREPORT_CHECKPOINT_PATH"])
	w, err := sink.New(sink.Config{Brokers: brokers, Topic: topic, AppKey: harness.AppKey})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	marks, err := w.Marks(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	s, err := checkpoint.Open(checkpoint.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Bind(checkpoint.Identity{AppKey: harness.AppKey, Topic: topic}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(checkpoint.Commit{Cursors: st.Cursors, Seen: st.Seen, Marks: marks}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAuditStatistics: with --statistics the audit compares the statistics
// API's single and group counts per day and per hour of today (in the API's
// zone) with the topics: all equal after a backfill; a message the API
// gained later shows in both witnesses; an app without the VIP plan (403)
// is reported as such, not as a failure.
func TestAuditStatistics(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	day := today // the last whole day before the history's end
	if now.Sub(today) < time.Hour {
		day = today.AddDate(0, 0, -1)
	}
	spec := simulator.GenSpec{Seed: 59, Start: day.Add(-25 * time.Hour).UTC(), End: now.Add(-time.Hour).Truncate(time.Hour).UTC(), Count: 8000}
	h, _, env := harness.NewRun(t, spec)
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	rep := auditJSON(t, env, h, exitOK, "--statistics")
	st := rep.Statistics
	if st == nil || st.Unavailable != "" || !rep.Summary.Clean {
		t.Fatalf("statistics: %+v, summary %+v", st, rep.Summary)
	}
	hours := 0
	for h := today; !h.Add(time.Hour).After(spec.End); h = h.Add(time.Hour) {
		hours++
	}
	var days int
	for _, b := range st.Buckets {
		if b.Status != "ok" {
			t.Errorf("statistics bucket %s %s: %+v", b.Unit, b.Time, b)
		}
		if b.Unit == "DAY" {
			days++
			var single, group int64
			for _, m := range h.Msgs {
				if c := time.Unix(m.CreateTime, 0).In(loc); c.Format("2006-01-02") == b.Time {
					single += map[bool]int64{true: 1}[m.TargetType == "single"]
					group += map[bool]int64{true: 1}[m.TargetType == "group"]
				}
			}
			if b.StatSingle != single || b.StatGroup != group || single == 0 || group == 0 {
				t.Errorf("day %s: statistics %d single %d group, the data %d and %d", b.Time, b.StatSingle, b.StatGroup, single, group)
			}
		}
	}
	if days != 1 || len(st.Buckets) != 1+hours {
		t.Errorf("statistics compared %d buckets (%d days), want yesterday and %d hours of today: %+v", len(st.Buckets), days, hours, st.Buckets)
	}

	// A message the API serves now but the pipeline never saw: both
	// witnesses see it.
	late := h.Msgs[len(h.Msgs)/4]
	late.MsgID, late.JSON, late.Body, late.TargetType, late.TargetID = 990_000_000_002, nil, nil, "group", "9001"
	h.Srv.Add(late)
	rep = auditJSON(t, env, h, exitFailed, "--statistics")
	if rep.Summary.Mismatched != 1 || rep.Summary.Missing != 1 {
		t.Errorf("after a late message: summary %+v", rep.Summary)
	}
	differs := 0
	for _, b := range rep.Statistics.Buckets {
		if b.Status != "ok" {
			differs++
			if b.StatGroup != b.TopicGroup+1 || b.StatSingle != b.TopicSingle {
				t.Errorf("statistics bucket %s %s: %+v, want one group message more than the topic", b.Unit, b.Time, b)
			}
		}
	}
	if differs != 1 {
		t.Errorf("%d statistics buckets differ, want 1 (the late message's day)", differs)
	}

	// Without the VIP plan: 403, reported, not a failure.
	vip := harness.NewHistoryWith(t, spec, simulator.Config{StatisticsForbidden: true})
	env["IMREPORT_API_URL"] = vip.URL
	rep = auditJSON(t, env, h, exitOK, "--statistics")
	if rep.Statistics == nil || !strings.Contains(rep.Statistics.Unavailable, "403") || !strings.Contains(rep.Statistics.Unavailable, "VIP") || len(rep.Statistics.Buckets) != 0 {
		t.Errorf("statistics without VIP: %+v", rep.Statistics)
	}
	code, out, _ := runMain(context.Background(), env, "audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--statistics")
	if code != exitOK || !strings.Contains(out, "not available: ") || !strings.Contains(out, "CLEAN") {
		t.Errorf("statistics without VIP, table: exit %d\n%s", code, out)
	}
}

// TestAuditLiveDeployment: next to a tailing pipeline the audit reads
// without disturbing it and finds it clean; a message the API indexes far
// behind the cursor (later than the lookback) is named; --repair refuses
// while the pipeline runs and, once it is stopped, publishes the message
// exactly once.
func TestAuditLiveDeployment(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	h, brokers, env := harness.NewRun(t, simulator.GenSpec{Seed: 61, Start: end.Add(-3 * time.Hour), End: end, Count: 3000})
	live := maps.Clone(env)
	delete(live, "IMREPORT_END") // tail
	live["IMREPORT_LOG_LEVEL"] = "info"
	ctx, stop := context.WithCancel(context.Background())
	var logs testkit.Buffer
	exited := make(chan int, 1)
	go func() { exited <- Main(ctx, []string{"run"}, &logs, &logs, mapLookup(live)) }()
	defer func() { stop(); <-exited }()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(logs.String(), `"caught up"`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline did not catch up:\n%s", logs.String())
		}
	}

	auditJSON(t, env, h, exitOK)
	late := h.Msgs[len(h.Msgs)/2]
	late.MsgID, late.JSON, late.Body = 990_000_000_003, nil, nil
	h.Srv.Add(late)
	rep := auditJSON(t, env, h, exitFailed)
	bucket := time.Unix(late.CreateTime, 0).UTC().Truncate(time.Hour)
	if bad := expectBuckets(t, h, rep); len(bad) != 1 || !bad[0].Equal(bucket) || rep.Summary.Missing != 1 {
		t.Fatalf("a late message: buckets %v differ (missing %d), want %s", bad, rep.Summary.Missing, bucket)
	}
	env["IMREPORT_CHECKPOINT_LOCK_TIMEOUT"] = "100ms"
	code, _, stderr := runMain(context.Background(), env, "audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--repair")
	if code != exitFailed || !strings.Contains(stderr, "checkpoint locked") {
		t.Fatalf("audit --repair next to the running pipeline exited %d:\n%s", code, stderr)
	}

	stop()
	if code := <-exited; code != exitOK {
		t.Fatalf("the pipeline exited %d:\n%s", code, logs.String())
	}
	exited <- exitOK // for the deferred wait
	auditJSON(t, env, h, exitOK, "--repair")
	assertTopicsExactlyOnce(t, h, brokers, "imreport.messages", nil)
}

// TestAuditRepairAsOwner: with IMREPORT_OWNER_GROUP a repair runs only as
// the owner of the app. While an instance of the pipeline owns it, --repair
// refuses (publishing nothing); once none runs, the repair owns the app,
// restores the checkpoint its own file is behind (the pipeline ran on
// another volume since) from the state topic, publishes the two missing
// hours exactly once and leaves a snapshot that the next owner continues
// from.
func TestAuditRepairAsOwner(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	h, brokers, env := harness.NewRun(t, simulator.GenSpec{Seed: 59, Start: end.Add(-6 * time.Hour), End: end, Count: 3000, Poison: 0.002})
	env["IMREPORT_OWNER_GROUP"] = "true"
	env["IMREPORT_OWNER_SESSION_TIMEOUT"] = "6s"
	gapFrom, gapTo := h.Start.Add(2*time.Hour), h.Start.Add(4*time.Hour)
	gap := len(h.Srv.Visible(gapFrom, gapTo))
	env["IMREPORT_END"] = gapFrom.Format(time.RFC3339)
	mustRun(t, env)
	moveCursor(t, env["IMREPORT_CHECKPOINT_PATH"], gapTo) // two hours never published
	env["IMREPORT_END"] = h.End.Format(time.RFC3339)
	mustRun(t, env)

	// An owner on another volume, following the tail.
	owner := maps.Clone(env)
	owner["IMREPORT_CHECKPOINT_PATH"] = filepath.Join(t.TempDir(), "owner.db")
	delete(owner, "IMREPORT_END")
	ctx, stopOwner := context.WithCancel(context.Background())
	defer stopOwner()
	var ownerLog testkit.Buffer
	ownerDone := make(chan int, 1)
	go func() {
		var out testkit.Buffer
		ownerDone <- Main(ctx, []string{"run"}, &out, &ownerLog, envconfig.MapLookuper(withLogLevel(owner, "info")))
	}()
	waitFor(t, "the tail run to own the app", func() bool { return strings.Contains(ownerLog.String(), "owner of the app") })

	args := []string{"audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--repair", "--json"}
	code, _, stderr := runMain(context.Background(), env, args...)
	if code != exitFailed || !strings.Contains(stderr, "another member owns the app") || !strings.Contains(stderr, "replicas=0") {
		t.Fatalf("audit --repair beside a running owner exited %d, want %d naming the owner:\n%s", code, exitFailed, stderr)
	}
	stopOwner()
	if code := <-ownerDone; code != exitOK {
		t.Fatalf("the tail run exited %d:\n%s", code, ownerLog.String())
	}

	code, out, stderr := runMain(context.Background(), withLogLevel(env, "info"), args...)
	var repaired struct {
		After  auditReport
		Repair struct {
			Published    int64
			DeadLettered int64 `json:"dead_lettered"`
		}
	}
	if err := json.Unmarshal([]byte(out), &repaired); err != nil || code != exitOK {
		t.Fatalf("audit --repair with no owner running exited %d: %v\n%s\n%s", code, err, out, stderr)
	}
	if got := repaired.Repair.Published + repaired.Repair.DeadLettered; got != int64(gap) || !repaired.After.Summary.Clean {
		t.Fatalf("repair published %d, after clean %v; want the gap's %d and clean", got, repaired.After.Summary.Clean, gap)
	}
	if !strings.Contains(stderr, "owner of the app") || !strings.Contains(stderr, "restored the checkpoint from the state topic") {
		t.Errorf("the repair did not own the app or did not restore its superseded file:\n%s", stderr)
	}
	assertTopicsExactlyOnce(t, h, brokers, "imreport.messages", nil)

	// The next owner's file is behind the repair's snapshot: it is moved
	// aside, and the run from the snapshot publishes nothing twice.
	owner["IMREPORT_END"] = h.End.Format(time.RFC3339)
	code, _, stderr = runMain(context.Background(), withLogLevel(owner, "info"), "run")
	if code != exitOK || !strings.Contains(stderr, "moved the superseded checkpoint aside") {
		t.Fatalf("the next owner exited %d (want %d, its file moved aside):\n%s", code, exitOK, stderr)
	}
	assertTopicsExactlyOnce(t, h, brokers, "imreport.messages", nil)
}

func mustRun(t *testing.T, env map[string]string) {
	t.Helper()
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
}

// moveCursor moves the messages stream's cursor of the checkpoint at path
// forward to to, by hand.
func moveCursor(t *testing.T, path string, to time.Time) {
	t.Helper()
	s, err := checkpoint.Open(checkpoint.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Commit(checkpoint.Commit{Cursors: map[string]time.Time{"messages": to}}); err != nil {
		t.Fatal(err)
	}
}

func withLogLevel(env map[string]string, level string) map[string]string {
	out := maps.Clone(env)
	out["IMREPORT_LOG_LEVEL"] = level
	return out
}

// waitFor waits until cond holds, for at most testkit's generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 2m0s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkAuditDay measures what an audit of one day of history costs:
// the demo's day (44,500 messages) published once, then audited with 1h
// buckets. It reports the API requests (deterministic: one count per
// bucket and stream, one bounds probe per stream) and the seconds spent
// reading Kafka; the API part takes requests / IMREPORT_AUDIT_RATE_LIMIT
// seconds (the benchmark lifts the limit to measure the rest).
//
//	go test ./cmd/imreport -run '^$' -bench AuditDay -benchtime 3x
func BenchmarkAuditDay(b *testing.B) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	spec := simulator.GenSpec{Seed: 1, Start: end.Add(-24 * time.Hour), End: end, Count: 40000, Bursts: 3, BurstSize: 1500, Poison: 0.001}
	h, _, env := harness.NewRun(b, spec)
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		b.Fatalf("run exited %d:\n%s", code, stderr)
	}
	args := []string{"audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--json"}
	var kafka, all time.Duration
	var records, requests int64
	b.ResetTimer()
	for range b.N {
		code, out, stderr := runMain(context.Background(), env, args...)
		if code != exitOK {
			b.Fatalf("audit exited %d:\n%s\n%s", code, out, stderr)
		}
		var rep struct {
			Summary struct {
				Records  int64  `json:"records_read"`
				Requests int64  `json:"api_requests"`
				Kafka    string `json:"kafka_elapsed"`
				Elapsed  string `json:"elapsed"`
			} `json:"summary"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			b.Fatal(err)
		}
		k, _ := time.ParseDuration(rep.Summary.Kafka)
		e, _ := time.ParseDuration(rep.Summary.Elapsed)
		kafka, all = kafka+k, all+e
		records, requests = rep.Summary.Records, rep.Summary.Requests
	}
	b.ReportMetric(float64(requests), "requests/day")
	b.ReportMetric(float64(records), "records/day")
	b.ReportMetric(kafka.Seconds()/float64(b.N), "kafka-s/day")
	b.ReportMetric(float64(records)/(kafka.Seconds()/float64(b.N)), "records/s")
	b.ReportMetric(all.Seconds()/float64(b.N), "unlimited-s/day")
}
