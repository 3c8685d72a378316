package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// The checkpoint subcommands: rewind and rebuild.

// TestRewindRerunsARangeExactlyOnce: after a finished backfill, the API
// serves a message far behind the cursor (indexed later than the lookback
// allows for). `imreport checkpoint rewind` moves the cursor back; the next
// run fetches the range again, reads back from Kafka what was published
// since (the dedupe set was pruned there) and publishes only the newcomer.
func TestRewindRerunsARangeExactlyOnce(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	h, brokers, env := harness.NewRun(t, simulator.GenSpec{Seed: 31, Start: end.Add(-6 * time.Hour), End: end, Count: 6000})
	env["IMREPORT_LOOKBACK"] = "5m"

	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	code, out, stderr := runMain(context.Background(), env, "checkpoint", "show")
	if code != exitOK {
		t.Fatalf("checkpoint show exited %d: %s", code, stderr)
	}
	var shown struct {
		Pruned string                      `json:"dedupe_pruned_before"`
		Marks  map[string]map[string]int64 `json:"kafka_marks"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("checkpoint show printed %q: %v", out, err)
	}
	if shown.Pruned == "" || len(shown.Marks["imreport.messages"]) != 3 || len(shown.Marks["imreport.messages.dlq"]) != 3 {
		t.Fatalf("checkpoint show: %s\nwant a pruned dedupe set and marks for 3+3 partitions", out)
	}

	late := h.Msgs[len(h.Msgs)/3]
	late.MsgID, late.JSON, late.Body = 990_000_000_001, nil, nil
	h.Srv.Add(late)
	to := time.Unix(late.CreateTime, 0).UTC().Add(-10 * time.Minute).Truncate(time.Minute)

	// Bad input is refused with every problem named, and changes nothing.
	if code, _, stderr := runMain(context.Background(), env, "checkpoint", "rewind", "--stream", "nope/x", "--to", "yesterday"); code != exitUsage ||
		!strings.Contains(stderr, "--stream") || !strings.Contains(stderr, "--to") {
		t.Fatalf("rewind with bad flags exited %d: %s", code, stderr)
	}
	if code, _, stderr := runMain(context.Background(), env, "checkpoint", "rewind", "--stream", "users/bob", "--to", to.Format(time.RFC3339)); code != exitFailed ||
		!strings.Contains(stderr, `no stream "users/bob"`) {
		t.Fatalf("rewind of an unknown stream exited %d: %s", code, stderr)
	}
	code, out, stderr = runMain(context.Background(), env, "checkpoint", "rewind", "--stream", "messages", "--to", to.Format(time.RFC3339))
	if code != exitOK || !strings.Contains(out, "moved back") {
		t.Fatalf("rewind exited %d: %s %s", code, out, stderr)
	}

	env["IMREPORT_LOG_LEVEL"] = "info"
	code, _, stderr = runMain(context.Background(), env, "run")
	if code != exitOK {
		t.Fatalf("run after rewind exited %d:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "read what was published since then") {
		t.Errorf("the run after the rewind did not deduplicate against Kafka; logs:\n%s", stderr)
	}
	harness.AssertExactlyOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), h.Srv.Visible(h.Start, h.End), "/v2/messages")
}

// TestCheckpointRebuild: a backfill with one state topic; with the file
// lost and another state topic, run refuses and names `checkpoint rebuild`;
// rebuild refuses while the file holds commits and where a snapshot
// exists, and otherwise writes one; the run then restores from it and the
// topics hold every message and dead letter exactly once.
func TestCheckpointRebuild(t *testing.T) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	h, brokers, env := harness.NewRun(t, simulator.GenSpec{Seed: 71, Start: end.Add(-3 * time.Hour), End: end, Count: 1500, Poison: 0.003})
	env["IMREPORT_KAFKA_STATE_TOPIC"] = "imreport.state-a"
	path := env["IMREPORT_CHECKPOINT_PATH"]
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	rebuild := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, stderr := runMain(context.Background(), env, append([]string{"checkpoint", "rebuild"}, args...)...)
		if code != want {
			t.Fatalf("checkpoint rebuild %v exited %d, want %d:\n%s%s", args, code, want, stderr, out)
		}
		return out, stderr
	}
	if _, stderr := rebuild(exitFailed); !strings.Contains(stderr, "holds commits") || !strings.Contains(stderr, "imreport run") {
		t.Errorf("rebuild beside a file with commits: %s", stderr)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, stderr := rebuild(exitFailed); !strings.Contains(stderr, "holds a snapshot") {
		t.Errorf("rebuild where a snapshot exists: %s", stderr)
	}

	env["IMREPORT_KAFKA_STATE_TOPIC"] = "imreport.state-b"
	code, _, stderr := runMain(context.Background(), env, "run")
	if code != exitFailed || !strings.Contains(stderr, "imreport checkpoint rebuild") {
		t.Fatalf("run on a lost file with a new state topic exited %d, want %d naming checkpoint rebuild:\n%s", code, exitFailed, stderr)
	}
	out, _ := rebuild(exitOK, "--json")
	var rep struct {
		StateTopic string                      `json:"state_topic"`
		Cursors    map[string]time.Time        `json:"cursors"`
		Floor      map[string]map[string]int64 `json:"floor"`
		ReadBack   int64                       `json:"read_back_at_most"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("rebuild --json printed %q: %v", out, err)
	}
	if rep.StateTopic != "imreport.state-b" || !rep.Cursors["messages"].Equal(h.Start) || len(rep.Floor["imreport.messages"]) != 3 ||
		len(rep.Floor["imreport.messages.dlq"]) != 3 || rep.ReadBack < int64(len(h.Msgs)) {
		t.Fatalf("rebuild --json: %s\nwant messages from %s, a floor of 3+3 partitions, all %d records to read back", out, h.Start, len(h.Msgs))
	}
	if _, stderr := rebuild(exitFailed); !strings.Contains(stderr, "holds a snapshot") {
		t.Errorf("second rebuild: %s", stderr)
	}
	env["IMREPORT_LOG_LEVEL"] = "info"
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK || !strings.Contains(stderr, "restored the checkpoint from the state topic") {
		t.Fatalf("run after the rebuild exited %d, want restored:\n%s", code, stderr)
	}
	assertTopicsExactlyOnce(t, h, brokers, "imreport.messages", nil)

	// The report for people, from a third state topic.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	env["IMREPORT_KAFKA_STATE_TOPIC"] = "imreport.state-c"
	out, _ = rebuild(exitOK)
	wantIn(t, "the output", out, `state topic "imreport.state-c"`, "messages             "+h.Start.Format(time.RFC3339), "imreport.messages.dlq:", "reads back at most", "next: imreport run")
}
