package source

import (
	"fmt"
	"math"
	"time"
)

// TimeLayout is the API's time format (yyyy-MM-dd HH:mm:ss).
const TimeLayout = "2006-01-02 15:04:05"

// Window is a half-open range [From, To) of send time, in whole seconds.
type Window struct {
	From, To time.Time
}

// Split cuts [from, to) into consecutive windows of step, the last one
// possibly shorter; nil when the range is empty. step must be positive.
func Split(from, to time.Time, step time.Duration) []Window {
	var out []Window
	for from.Before(to) {
		next := from.Add(step)
		if next.After(to) {
			next = to
		}
		out = append(out, Window{From: from, To: next})
		from = next
	}
	return out
}

func (w Window) String() string {
	return "[" + w.From.UTC().Format(time.RFC3339) + ", " + w.To.UTC().Format(time.RFC3339) + ")"
}

// Valid reports whether the window is non-empty and on whole seconds.
func (w Window) Valid() error {
	switch {
	case !w.To.After(w.From):
		return fmt.Errorf("window %v is empty", w)
	case w.From.Nanosecond() != 0 || w.To.Nanosecond() != 0:
		return fmt.Errorf("window %v is not on whole seconds", w)
	}
	return nil
}

// Bounds says how an endpoint compares begin_time and end_time.
type Bounds int

const (
	// Inclusive: begin_time <= t <= end_time (/v1/messages).
	Inclusive Bounds = iota
	// Strict: begin_time < t < end_time (/v1/users/{username}/messages, as documented).
	Strict
)

// QueryBounds returns the begin_time and end_time strings, in loc, that make an
// endpoint with the given bounds return every message sent in w.
//
// Inclusive bounds query [From, To-1s]; strict bounds query (From-1s, To). If a
// server reads strict bounds as inclusive, the query still covers w and at most
// one extra second on each side comes back. The reverse does not hold: inclusive
// bounds read as strict miss the first and last second of w.
//
// If loc changes its UTC offset inside w (a daylight-saving change), the bounds
// are widened by the offset difference so that a server reading both strings at
// either offset still covers w. A bound string that falls in a repeated hour
// (or a skipped one) has more than one reading even when w does not contain the
// change; it is then moved out by the offset difference until every reading of
// it covers w.
func QueryBounds(w Window, loc *time.Location, b Bounds) (begin, end string) {
	from, to := w.From.UTC().Truncate(time.Second), w.To.UTC().Truncate(time.Second)
	if b == Inclusive {
		to = to.Add(-time.Second)
	} else {
		from = from.Add(-time.Second)
	}
	_, o1 := from.In(loc).Zone()
	_, o2 := to.In(loc).Zone()
	lo, hi := min(o1, o2), max(o1, o2)
	// Each step lowers lo (raises hi) to an offset loc uses near the bound, so
	// the loops end.
	for {
		least, _ := wallOffsets(from.Add(time.Duration(lo)*time.Second), loc)
		if least >= lo {
			break
		}
		lo = least
	}
	for {
		_, most := wallOffsets(to.Add(time.Duration(hi)*time.Second), loc)
		if most <= hi {
			break
		}
		hi = most
	}
	begin = from.Add(time.Duration(lo) * time.Second).Format(TimeLayout)
	end = to.Add(time.Duration(hi) * time.Second).Format(TimeLayout)
	return begin, end
}

// wallOffsets returns the least and greatest UTC offsets (seconds) a server in loc
// may apply to the wall-clock time wall (a UTC time whose fields are the wall
// clock): the offsets o that loc really has at instant wall-o (one normally, two
// in a repeated hour) or, if there is none (a skipped hour), the offsets on
// either side of the gap.
func wallOffsets(wall time.Time, loc *time.Location) (least, most int) {
	// Every offset in use is within ±14h, so every reading of wall is an
	// instant within a day of it; collect the offsets loc uses there.
	var offsets []int
	for t, stop := wall.Add(-26*time.Hour), wall.Add(26*time.Hour); ; {
		zt := t.In(loc)
		_, o := zt.Zone()
		offsets = append(offsets, o)
		_, next := zt.ZoneBounds()
		if next.IsZero() || !next.After(t) || !next.Before(stop) {
			break
		}
		t = next
	}
	least, most = math.MaxInt, math.MinInt
	for _, o := range offsets {
		if _, real := wall.Add(-time.Duration(o) * time.Second).In(loc).Zone(); real == o {
			least, most = min(least, o), max(most, o)
		}
	}
	if least > most { // a skipped wall time: either neighbour's offset
		for _, o := range offsets {
			_, real := wall.Add(-time.Duration(o) * time.Second).In(loc).Zone()
			least, most = min(least, real), max(most, real)
		}
	}
	return least, most
}

// ParseAPITime parses an API time string in loc.
func ParseAPITime(s string, loc *time.Location) (time.Time, error) {
	return time.ParseInLocation(TimeLayout, s, loc)
}

// MaxQuerySpan is the longest end_time - begin_time the v2 API accepts in one
// request.
const MaxQuerySpan = 7 * 24 * time.Hour

// querySpan returns the longest time a server in loc could take the bound
// strings begin and end to span: their wall-clock difference, or more when
// begin is read at a greater UTC offset than end (across a daylight-saving
// change, or in a repeated hour). Strings that do not parse span forever.
func querySpan(begin, end string, loc *time.Location) time.Duration {
	b, err1 := time.Parse(TimeLayout, begin) // wall clocks, as UTC
	e, err2 := time.Parse(TimeLayout, end)
	if err1 != nil || err2 != nil {
		return math.MaxInt64
	}
	_, mostBegin := wallOffsets(b, loc)
	leastEnd, _ := wallOffsets(e, loc)
	return e.Sub(b) + max(0, time.Duration(mostBegin-leastEnd)*time.Second)
}

// splitWindow splits w into consecutive windows, in order, whose queries (the
// strings QueryBounds makes of them, after any widening) span at most
// maxSpan each. A window whose query already fits is returned alone.
func splitWindow(w Window, loc *time.Location, b Bounds, maxSpan time.Duration) []Window {
	var parts []Window
	for from := w.From; from.Before(w.To); {
		// Inclusive bounds query [from, to-1s], so a window one second longer
		// than maxSpan may fit; anything else shrinks it below.
		to := w.To
		if limit := from.Add(maxSpan + time.Second); to.After(limit) {
			to = limit
		}
		for {
			begin, end := QueryBounds(Window{from, to}, loc, b)
			excess := querySpan(begin, end, loc) - maxSpan
			if excess <= 0 {
				break
			}
			// Shrink by the excess in whole seconds (at least one); the
			// widening may change with to, so check again.
			excess = max(excess.Truncate(time.Second), time.Second)
			if to.Sub(from) <= excess {
				// Not reachable with a real zone and maxSpan of days: one
				// second's query spans a few hours at most.
				to = from.Add(time.Second)
				break
			}
			to = to.Add(-excess)
		}
		parts = append(parts, Window{from, to})
		from = to
	}
	return parts
}
