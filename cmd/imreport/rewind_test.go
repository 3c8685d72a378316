package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit/harness"
)

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
