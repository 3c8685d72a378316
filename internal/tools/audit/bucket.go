package audit

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/imreport/imreport/source"
)

// Buckets cuts [from, to) into consecutive windows of size, the last one
// possibly shorter. from and to must be whole seconds and size at least a
// second; nil when the range is empty.
func Buckets(from, to time.Time, size time.Duration) []source.Window {
	return source.Split(from, to, size)
}

// Coverage returns the half-open range of send seconds [a, b) that the
// API's total for w covers, given how the stream's endpoint is queried
// (queried: the bounds QueryBounds builds, Inclusive [From, To-1s] or
// Strict (From-1s, To)) and how the server really reads them (read).
//
// The strings are those the poller sends, in loc; a bound widened across
// an offset change is read back at the offset the zone gives it (the
// first reading of an ambiguous wall time).
//
//	queried    read       covers
//	Inclusive  Inclusive  [From, To)          exact
//	Strict     Strict     [From, To)          exact
//	Strict     Inclusive  [From-1s, To+1s)    a second more on each side
//	Inclusive  Strict     [From+1s, To-1s)    a second less on each side
func Coverage(w source.Window, loc *time.Location, queried, read source.Bounds) (a, b time.Time) {
	begin, end := source.QueryBounds(w, loc, queried)
	a, err1 := source.ParseAPITime(begin, loc)
	b, err2 := source.ParseAPITime(end, loc)
	if err1 != nil || err2 != nil { // not reachable: QueryBounds formats these
		return w.From, w.To
	}
	if read == source.Strict {
		return a.Add(time.Second), b
	}
	return a, b.Add(time.Second)
}

// ParseTime reads a --from or --to value: an RFC 3339 time on a whole
// second, or "now" or a negative duration from now, which is rounded down
// to a whole bucket (UTC) so that relative ranges fall on bucket edges.
func ParseTime(v string, bucket time.Duration, now time.Time) (time.Time, error) {
	if v == "now" || strings.HasPrefix(v, "-") {
		var d time.Duration
		if v != "now" {
			var err error
			if d, err = time.ParseDuration(v); err != nil {
				return time.Time{}, fmt.Errorf("%q is not a negative duration like -24h", v)
			}
		}
		if bucket < time.Second {
			bucket = time.Second
		}
		return now.Add(d).UTC().Truncate(bucket), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	switch {
	case v == "":
		return time.Time{}, errors.New("required")
	case err != nil:
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time like 2026-01-02T15:04:05Z nor \"now\" or a negative duration like -24h", v)
	case t.Nanosecond() != 0:
		return time.Time{}, fmt.Errorf("%s is not a whole second", v)
	}
	return t.UTC(), nil
}
