package harness

import (
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/pipeline"
)

// CallbackFaults are the acceptance test's: 10% of callbacks lost, 10%
// duplicated, 5% answered 5xx then retried (half before the receiver saw
// them, half after it published them), 10% reordered.
func CallbackFaults(seed uint64) simulator.PushFaults {
	return simulator.PushFaults{Seed: seed, Lost: 0.10, Duplicate: 0.10, Reject: 0.025, AckLost: 0.025,
		Reorder: 0.10, ReorderMax: 500 * time.Millisecond}
}

// CheckBothPaths checks that the topic holds every message once, field by
// field, each record naming the path it came by; it returns the records by
// msgid and how many came by each path.
func CheckBothPaths(t *testing.T, recs []Record, want []simulator.Message, pollEndpoint string) (map[int64]Record, map[string]int) {
	t.Helper()
	byID := make(map[int64]simulator.Message, len(want))
	for _, m := range want {
		byID[m.MsgID] = m
	}
	got := make(map[int64]Record, len(recs))
	paths := map[string]int{}
	dups, bad := 0, 0
	for _, r := range recs {
		id, _ := r.Rec["msgid"].(int64)
		if _, dup := got[id]; dup {
			if dups++; dups <= 5 {
				t.Errorf("msgid %d published twice", id)
			}
			continue
		}
		got[id] = r
		m, ok := byID[id]
		if !ok {
			t.Errorf("unexpected msgid %d", id)
			continue
		}
		src, _ := r.Rec["source"].(map[string]any)
		endpoint := pollEndpoint
		if src["api_version"] == pipeline.APIVersionCallback {
			endpoint = "/callback"
		}
		paths[endpoint]++
		if d := CompareRecord(r, m, endpoint); len(d) > 0 {
			if bad++; bad <= 5 {
				t.Errorf("msgid %d: %v", id, d)
			}
		}
	}
	missing := 0
	for id := range byID {
		if _, ok := got[id]; !ok {
			if missing++; missing <= 5 {
				t.Errorf("msgid %d missing", id)
			}
		}
	}
	t.Logf("topic: %d records, %d expected, %d duplicates, %d missing, %d differing; by path %v", len(recs), len(want), dups, missing, bad, paths)
	if dups+missing+bad > 0 || len(recs) != len(want) {
		t.FailNow()
	}
	return got, paths
}
