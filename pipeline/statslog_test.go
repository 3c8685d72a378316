package pipeline

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Pages": "pages", "DeadLettered": "dead_lettered", "ReadBacks": "read_backs",
		"RescanChecks": "rescan_checks", "APIRequests": "api_requests", "HTTPAddr": "http_addr", "Seen": "seen",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

// The stats a log line carries have snake_case keys and their values.
func TestStatsLogValue(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "stats", Stats{Published: 7, DeadLettered: 2, ReadBacks: 1})
	var line struct{ Stats map[string]int64 }
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line.Stats["published"] != 7 || line.Stats["dead_lettered"] != 2 || line.Stats["read_backs"] != 1 {
		t.Errorf("stats logged as %s", buf.String())
	}
	if _, ok := line.Stats["pages"]; !ok {
		t.Errorf("zero counters must be logged too: %s", buf.String())
	}
	for k := range line.Stats {
		if k != snakeCase(k) {
			t.Errorf("key %q is not snake_case", k)
		}
	}
}
