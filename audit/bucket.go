package audit

import (
	"time"

	"github.com/imreport/imreport/source"
)

// Buckets cuts [from, to) into consecutive windows of size, the last one
// possibly shorter. from and to must be whole seconds and size at least a
// second; nil when the range is empty.
func Buckets(from, to time.Time, size time.Duration) []source.Window {
	var out []source.Window
	for b := from; b.Before(to); {
		e := b.Add(size)
		if e.After(to) {
			e = to
		}
		out = append(out, source.Window{From: b, To: e})
		b = e
	}
	return out
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
