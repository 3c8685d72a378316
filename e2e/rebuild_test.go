package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// rebuildFromTopic: a finished backfill with state topic A; the checkpoint
// file is lost and the run started with state topic B (the state of A is
// not found: as a topic written by a version without snapshots) refuses,
// naming `imreport checkpoint rebuild`; the rebuild with B writes a
// snapshot (and refuses a second time); the run with B restores from it,
// reads back the history and publishes nothing twice and nothing less.
func rebuildFromTopic(t *testing.T, bin string) {
	r := newRestoreRig(t, bin, 5)
	r.env["IMREPORT_KAFKA_STATE_TOPIC"] = restoreTopic + ".state-a"
	r.life(t, 1, "", 0)
	r.lose(t)
	r.env["IMREPORT_KAFKA_STATE_TOPIC"] = restoreTopic + ".state-b"

	_, stderr, err := runToolErr(bin, r.env, "run")
	if code := exitOf(err); code != 1 || !strings.Contains(string(stderr), "imreport checkpoint rebuild") {
		t.Fatalf("run on a lost file with state topic B exited %d (%v), want 1 naming `imreport checkpoint rebuild`:\n%s", code, err, stderr)
	}
	out := runTool(t, bin, r.env, "checkpoint", "rebuild", "--json")
	var rep struct {
		Cursors    map[string]time.Time `json:"cursors"`
		FloorSince time.Time            `json:"floor_since"`
		ReadBack   int64                `json:"read_back_at_most"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("checkpoint rebuild --json printed %q: %v", out, err)
	}
	t.Logf("rebuilt: cursors %v, floor stamped since %s, at most %d records to read back", rep.Cursors, rep.FloorSince.Format(time.RFC3339), rep.ReadBack)
	if start := r.env["IMREPORT_START"]; rep.Cursors["messages"].Format(time.RFC3339) != start || rep.ReadBack < restoreMessages {
		t.Fatalf("rebuilt %s; want the cursor at IMREPORT_START %s and the %d records to read back", out, start, restoreMessages)
	}
	if _, stderr, err := runToolErr(bin, r.env, "checkpoint", "rebuild"); exitOf(err) != 1 || !strings.Contains(string(stderr), "holds a snapshot") {
		t.Fatalf("a second rebuild exited %d (%v), want 1 (a snapshot exists):\n%s", exitOf(err), err, stderr)
	}

	r.life(t, 2, "restored the checkpoint from the state topic", 0)
	r.assertExact(t)
	if n := r.readBacks[1]; n < restoreMessages {
		t.Errorf("the restore read back %d records, want every one of the %d (the walk starts again at IMREPORT_START)", n, restoreMessages)
	}
	if n := r.published(t, 2); n != 0 {
		t.Errorf("the run after the rebuild published %d records, want 0", n)
	}
}
