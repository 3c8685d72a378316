package source

import (
	"context"
	"fmt"
	"time"
)

// Bounds returns how the stream's endpoint is queried: Inclusive for
// /messages, Strict for the per-entity endpoints (see QueryBounds).
func (s Stream) Bounds() Bounds { return s.bounds() }

// ProbeBounds finds out how the server reads begin_time and end_time for
// stream: it asks for the total with begin_time and end_time both set to
// the second sec (one count=1 request). An inclusive reading
// (begin <= t <= end) counts the messages sent in that second, a strict one
// (begin < t < end) none. So, given a second known to hold at least one of
// the stream's messages, a total above 0 means Inclusive and 0 means
// Strict. It retries temporary failures per the client's policy.
func (c *Client) ProbeBounds(ctx context.Context, s Stream, sec time.Time) (Bounds, error) {
	if err := s.Supported(c.cfg.APIVersion); err != nil {
		return 0, fmt.Errorf("probe bounds %s: %w", s, err)
	}
	at := sec.In(c.cfg.Location).Format(TimeLayout)
	q := "count=1&begin_time=" + queryEscape(at) + "&end_time=" + queryEscape(at)
	if c.cfg.APIVersion == "v1" {
		q = "start=0&" + q
	}
	var env envelope
	path := s.path(c.cfg.APIVersion)
	if err := c.call(ctx, s.Kind, path, q, &env); err != nil {
		return 0, fmt.Errorf("probe bounds %s at %s: %w", s, at, err)
	}
	if !env.HasTotal {
		return 0, fmt.Errorf("probe bounds %s at %s: report api %s: response has no total", s, at, path)
	}
	if env.Total > 0 {
		return Inclusive, nil
	}
	return Strict, nil
}
