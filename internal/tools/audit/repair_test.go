package audit

import (
	"strings"
	"testing"
	"time"
)

// TestRepairRanges: missing buckets merge into runs clipped to the cursor;
// what publishing cannot mend is named.
func TestRepairRanges(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	h := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }
	b := func(i int, status string, diff int64) BucketReport {
		return BucketReport{From: h(i), To: h(i + 1), Status: status, Difference: diff, Duplicates: map[bool]int64{true: 2}[status == StatusDuplicates]}
	}
	sr := StreamReport{Stream: "messages", Buckets: []BucketReport{
		b(0, StatusMissing, 1), b(1, StatusMissing, 3), b(2, StatusOK, 0), b(3, StatusExtra, -1),
		b(4, StatusMissing, 2), b(5, StatusDuplicates, 0), b(6, StatusMissing, 1), b(7, StatusMissing, 5),
	}}
	out := &RepairReport{}
	cursor := h(7).Add(30 * time.Minute) // the pipeline is half way through bucket 7
	got := repairRanges(sr, cursor, true, out)
	want := []RepairRange{{Stream: "messages", From: h(0), To: h(2)}, {Stream: "messages", From: h(4), To: h(5)}, {Stream: "messages", From: h(6), To: cursor}}
	if len(got) != len(want) {
		t.Fatalf("ranges %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].From.Equal(want[i].From) || !got[i].To.Equal(want[i].To) {
			t.Errorf("range %d: [%s, %s), want [%s, %s)", i, got[i].From, got[i].To, want[i].From, want[i].To)
		}
	}
	notes := strings.Join(out.Notes, "\n")
	for _, w := range []string{"hold 1 more than the API", "2 duplicate records"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes %q do not say %q", notes, w)
		}
	}
	// Past the cursor, and a stream never run.
	out = &RepairReport{}
	if got := repairRanges(sr, h(1), true, out); len(got) != 1 || !got[0].To.Equal(h(1)) || !strings.Contains(strings.Join(out.Notes, "\n"), "beyond the stream's cursor") {
		t.Errorf("cursor at bucket 1: %+v, notes %q", got, out.Notes)
	}
	out = &RepairReport{}
	if got := repairRanges(sr, time.Time{}, false, out); len(got) != 0 || !strings.Contains(strings.Join(out.Notes, "\n"), "never run") {
		t.Errorf("no cursor: %+v, notes %q", got, out.Notes)
	}
}
