package progress

import (
	"context"
	"log/slog"
	"math"
	"time"
)

// Log writes one "progress" line per stream in st that is more than quiet
// behind its target; a stream closer than that is caught up and logs
// nothing (it would only repeat itself every interval).
func Log(logger *slog.Logger, st []Status, quiet time.Duration) {
	for _, s := range st {
		if s.Remaining <= quiet {
			continue
		}
		logger.LogAttrs(context.Background(), slog.LevelInfo, "progress",
			slog.String("stream", s.Name),
			slog.String("cursor", s.Cursor.UTC().Format(time.RFC3339)),
			slog.Float64("done_pct", round(100*s.Done, 1)),
			slog.Duration("remaining", s.Remaining.Round(time.Second)),
			slog.Int64("published", s.Published),
			slog.Float64("msg_per_s", round(s.MsgRate, 1)),
			slog.Float64("requests_per_s", round(s.ReqRate, 2)),
			slog.String("eta", ETAString(s.ETA)),
		)
	}
}

// ETAString is d for people: "unknown", or rounded to the second (at
// least 1s while not done).
func ETAString(d time.Duration) string {
	switch {
	case d < 0:
		return "unknown"
	case d == 0:
		return "0s"
	}
	return max(time.Second, d.Round(time.Second)).String()
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
