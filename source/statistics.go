package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Statistics time units of GET /v2/statistic/messages.
const (
	StatHour  = "HOUR"  // start "yyyy-MM-dd HH", the current day only, duration 0..24
	StatDay   = "DAY"   // start "yyyy-MM-dd", duration 0..60
	StatMonth = "MONTH" // start "yyyy-MM", duration 0..2
)

// StatLayout returns the time layout of a statistics unit's start and
// bucket strings, and the largest duration the vendor accepts; ok is false
// for an unknown unit.
func StatLayout(unit string) (layout string, maxDuration int, ok bool) {
	switch unit {
	case StatHour:
		return "2006-01-02 15", 24, true
	case StatDay:
		return "2006-01-02", 60, true
	case StatMonth:
		return "2006-01", 2, true
	}
	return "", 0, false
}

// ErrStatisticsUnavailable is wrapped by the error MessageStatistics returns
// when the API answers 403: the vendor serves statistics to VIP plans only.
var ErrStatisticsUnavailable = errors.New("report api statistics not available to this app (HTTP 403: the vendor serves them to VIP plans only)")

// MessageStat is one bucket of GET /v2/statistic/messages.
type MessageStat struct {
	Time   string    // the bucket as the API names it, e.g. "2026-11-30" or "2026-11-30 14"
	Start  time.Time // Time read in the client's Location (the API's zone, assumed: the vendor does not say)
	Single int64     // single_send_msg: messages sent to single users
	Group  int64     // group_send_msg: messages sent to groups
}

// MessageStatistics asks GET /v2/statistic/messages for duration buckets of
// unit (StatHour, StatDay, StatMonth) from start, formatted in the client's
// Location, and returns them in the order served. It retries temporary
// failures per the client's policy. A 403 returns an error wrapping
// ErrStatisticsUnavailable (and the *APIError).
func (c *Client) MessageStatistics(ctx context.Context, unit string, start time.Time, duration int) ([]MessageStat, error) {
	layout, most, ok := StatLayout(unit)
	if !ok {
		return nil, fmt.Errorf("message statistics: unknown time unit %q", unit)
	}
	if duration < 0 || duration > most {
		return nil, fmt.Errorf("message statistics: duration %d is outside 0..%d for %s", duration, most, unit)
	}
	at := start.In(c.cfg.Location).Format(layout)
	q := "time_unit=" + unit + "&start=" + queryEscape(at) + "&duration=" + strconv.Itoa(duration)
	const path = "/v2/statistic/messages"
	var out statEnvelope
	if err := c.call(ctx, "statistic", path, q, &out); err != nil {
		var api *APIError
		if errors.As(err, &api) && api.Status == http.StatusForbidden {
			return nil, fmt.Errorf("message statistics %s from %s: %w: %w", unit, at, ErrStatisticsUnavailable, err)
		}
		return nil, fmt.Errorf("message statistics %s from %s: %w", unit, at, err)
	}
	stats := make([]MessageStat, 0, len(out.buckets))
	for _, b := range out.buckets {
		t, err := time.ParseInLocation(layout, b.Time, c.cfg.Location)
		if err != nil {
			return nil, fmt.Errorf("message statistics %s from %s: bucket time %q is not %s", unit, at, b.Time, layout)
		}
		b.Start = t
		stats = append(stats, b)
	}
	return stats, nil
}

// statEnvelope is the statistics answer; numbers may come as strings.
type statEnvelope struct{ buckets []MessageStat }

func (e *statEnvelope) UnmarshalJSON(b []byte) error {
	var raw struct {
		Stat []map[string]json.RawMessage `json:"send_msg_stat"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw.Stat == nil {
		return errors.New("no send_msg_stat")
	}
	for i, fields := range raw.Stat {
		t, err := stringField(fields, "time")
		if err != nil || t == nil {
			return fmt.Errorf("send_msg_stat[%d]: time missing or not a string", i)
		}
		m := MessageStat{Time: *t}
		for name, dst := range map[string]*int64{"single_send_msg": &m.Single, "group_send_msg": &m.Group} {
			n, err := intField(fields, name)
			if err != nil {
				return fmt.Errorf("send_msg_stat[%d]: %s: %w", i, name, err)
			}
			if n != nil {
				*dst = *n
			}
		}
		e.buckets = append(e.buckets, m)
	}
	return nil
}
