package sink

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestTimeConfig reads retention.ms and message.timestamp.type as the broker
// has them, and warns only when they work against event times.
func TestTimeConfig(t *testing.T) {
	_, w := clusterWriter(t, "times")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	tc, err := w.TimeConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tc.Retention != 7*24*time.Hour || tc.TimestampType != "CreateTime" {
		t.Fatalf("defaults: %+v, want 7 days and CreateTime", tc)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if ws := tc.TimeWarnings(now.Add(-24*time.Hour), now); len(ws) != 0 {
		t.Errorf("a day of history in a week's retention: %v", ws)
	}
	if ws := tc.TimeWarnings(now.Add(-30*24*time.Hour), now); len(ws) != 1 || !strings.Contains(ws[0], "retention.ms (168h0m0s)") {
		t.Errorf("30 days in a week's retention: %v", ws)
	}
	forever := TimeConfig{Retention: -1, TimestampType: "LogAppendTime"}
	if ws := forever.TimeWarnings(now.Add(-60*24*time.Hour), now); len(ws) != 1 || !strings.Contains(ws[0], "LogAppendTime") {
		t.Errorf("kept forever, LogAppendTime: %v", ws)
	}
}
