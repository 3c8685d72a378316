package main

import (
	"strings"
	"testing"
	"time"
)

// TestCheckRange: relative and absolute ranges are read, and every problem
// is named at once.
func TestCheckRange(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC)
	from, to, problems := checkRange("-24h", "now", 24*time.Hour, time.Hour, now)
	if len(problems) != 0 || !from.Equal(time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)) || !to.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("yesterday: %v .. %v, %q", from, to, problems)
	}
	for _, c := range []struct {
		from, to       string
		bucket, margin time.Duration
		want           []string
	}{
		{"", "", time.Hour, 0, []string{"--from: required", "--to: required"}},
		{"2026-03-10T12:00:00Z", "2026-03-10T11:00:00Z", time.Hour, 0, []string{"--to is not after --from"}},
		{"2026-03-10T12:00:00Z", "2026-03-10T16:00:00Z", time.Hour, 0, []string{"--to is in the future"}},
		{"2025-12-01T00:00:00Z", "2026-03-10T00:00:00Z", time.Hour, 0, []string{"--from is more than"}},
		{"-2h", "now", 1500 * time.Millisecond, -time.Second, []string{"--bucket 1.5s is not whole seconds", "--margin is negative"}},
	} {
		_, _, problems := checkRange(c.from, c.to, c.bucket, c.margin, now)
		got := strings.Join(problems, "\n")
		if len(problems) != len(c.want) {
			t.Errorf("%q..%q bucket %s margin %s: %q, want %d problems", c.from, c.to, c.bucket, c.margin, problems, len(c.want))
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q..%q: %q lacks %q", c.from, c.to, problems, w)
			}
		}
	}
}
