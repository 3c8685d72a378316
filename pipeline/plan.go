package pipeline

import (
	"math"
	"time"

	"github.com/imreport/imreport/source"
)

// Retention is how long the Report API keeps messages.
const Retention = 60 * 24 * time.Hour

// Plan bounds the windows of one stream.
type Plan struct {
	Window time.Duration // largest window
	Settle time.Duration // never query closer than this to now
	End    time.Time     // zero = no end; else windows stop at End
}

// NextWindow returns the window that follows cursor, given the time now.
// ok is false when no window is due yet (the stream is caught up to
// now-Settle) or the stream reached End. Windows are on whole seconds.
func NextWindow(cursor, now time.Time, p Plan) (w source.Window, ok bool) {
	from := cursor.UTC().Truncate(time.Second)
	// A Window that is not whole seconds (IMREPORT_WINDOW=1.5s) must not
	// give windows the source rejects as not on whole seconds.
	to := from.Add(p.Window).Truncate(time.Second)
	if limit := now.UTC().Add(-p.Settle).Truncate(time.Second); to.After(limit) {
		to = limit
	}
	if !p.End.IsZero() {
		if end := ceilSecond(p.End.UTC()); to.After(end) {
			to = end
		}
	}
	if !to.After(from) {
		return source.Window{}, false
	}
	return source.Window{From: from, To: to}, true
}

// Done reports whether a bounded stream has published everything before End.
func Done(cursor time.Time, p Plan) bool {
	return !p.End.IsZero() && !cursor.Before(ceilSecond(p.End.UTC()))
}

// StartCursor returns where a stream without a checkpoint begins: start,
// rounded down to a whole second and clamped to the API's retention. clamped
// is true when start was earlier than what the API still keeps.
func StartCursor(start, now time.Time, retention time.Duration) (cursor time.Time, clamped bool) {
	cursor = start.UTC().Truncate(time.Second)
	// A minute inside the horizon, so the first window does not race the
	// vendor's own expiry.
	oldest := now.UTC().Add(-retention + time.Minute).Truncate(time.Second)
	if cursor.Before(oldest) {
		return oldest, true
	}
	return cursor, false
}

// Rescans splits the lookback range [cursor-lookback, cursor) into windows of
// at most size, oldest first, never before floor.
func Rescans(cursor time.Time, lookback, size time.Duration, floor time.Time) []source.Window {
	if lookback <= 0 || size <= 0 {
		return nil
	}
	to := cursor.UTC().Truncate(time.Second)
	from := to.Add(-lookback).Truncate(time.Second)
	if f := ceilSecond(floor.UTC()); from.Before(f) {
		from = f
	}
	step := max(size.Truncate(time.Second), time.Second) // windows on whole seconds
	return source.Split(from, to, step)
}

// PruneBefore returns the horizon below which a published msgid can no longer
// be returned by any query the pipeline will make: every stream's cursor
// minus the lookback, minus two seconds for the bounds' overlap.
func PruneBefore(cursors []time.Time, lookback time.Duration) time.Time {
	var low time.Time
	for i, c := range cursors {
		if i == 0 || c.Before(low) {
			low = c
		}
	}
	if low.IsZero() {
		return time.Time{}
	}
	return low.Add(-lookback - 2*time.Second)
}

// stampSlack is how much earlier than its create_time a record may be
// stamped in Kafka. A record's timestamp is its msg_ctime (the vendor's
// receive time, close to create_time, which queries and horizons are
// measured in), or for dead letters and records of older versions the
// later time of publishing.
const stampSlack = time.Hour

// StampedSince returns a Kafka timestamp at or before that of every record
// whose dedupe horizon (a second past its create_time) is at or after
// horizon: the first offset stamped at or after it (a ListOffsets by
// timestamp, sink.Writer.Marks) is below every such record, however out of
// order the partition's timestamps are.
func StampedSince(horizon time.Time) time.Time {
	return horizon.Add(-time.Second - stampSlack)
}

func ceilSecond(t time.Time) time.Time {
	if f := t.Truncate(time.Second); !f.Equal(t) {
		return f.Add(time.Second)
	}
	return t
}

// Sizer sizes a stream's windows by the data: it aims every window at
// Target messages, from the density (messages per second of send time) the
// API's total showed for the window before, between one second and Max.
// A window whose first page reports more than twice Target is too big: it
// is cut smaller (by the density its total shows) before anything of it is
// published, so that a crash re-fetches a bounded amount.
type Sizer struct {
	Max    time.Duration // largest window
	Target int           // messages a window aims to hold; 0 = fixed windows of Max
}

// Next returns the length of the next window, given the density of the
// history before it (known false: nothing seen yet, or nothing in it).
func (s Sizer) Next(density float64, known bool) time.Duration {
	largest := max(s.Max.Truncate(time.Second), time.Second)
	if s.Target <= 0 || !known || density <= 0 {
		return largest
	}
	secs := float64(s.Target) / density
	if secs >= largest.Seconds() {
		return largest
	}
	return max(time.Duration(secs)*time.Second, time.Second)
}

// TooBig reports whether a window whose first page says it holds total
// messages must be cut smaller. A window of one second cannot be.
func (s Sizer) TooBig(total int, w source.Window) bool {
	return s.Target > 0 && total != math.MaxInt && total > 2*s.Target && w.To.Sub(w.From) > time.Second
}

// Density is the messages per second of send time that a query over span
// reported. ok is false when the total is unknown (math.MaxInt) or the span
// empty.
func Density(total int, span time.Duration) (density float64, ok bool) {
	if total == math.MaxInt || total < 0 || span <= 0 {
		return 0, false
	}
	return float64(total) / span.Seconds(), true
}

// AutoConcurrency is how many windows must be fetched at once to keep a rate
// limit of rate requests per second busy when one request takes latency:
// each window is walked one page after another, so it issues at most one
// request per latency, and rate x latency windows are needed. It takes half
// again and half a window more for slack, and stays within [1, most]. An
// unknown latency or rate gives 4 (or most, if less).
func AutoConcurrency(rate float64, latency time.Duration, most int) int {
	if most < 1 {
		most = 1
	}
	if rate <= 0 || latency <= 0 {
		return min(4, most)
	}
	n := int(math.Ceil(rate*latency.Seconds()*1.5 + 0.5))
	return min(max(n, 1), most)
}

// WalksNeeded is how many windows must be walked side by side for their
// requests to keep a rate limit of rate requests per second busy when one
// request takes latency (each walk issues one request after another):
// rate x latency and a fifth, rounded up, within [1, limit]. An unknown rate or latency
// gives limit.
func WalksNeeded(rate float64, latency time.Duration, limit int) int {
	limit = max(limit, 1)
	if rate <= 0 || latency <= 0 {
		return limit
	}
	// A walk also waits for its page to be decoded and handed on, so
	// rate x latency walks fall just short: a fifth more.
	return min(max(int(math.Ceil(rate*latency.Seconds()*1.2)), 1), limit)
}

// WindowCount is how many windows of equal count the rest of a bounded
// stream, about rest messages, is planned as. Every window ends on a part
// page, so the fewer the better: as few as hold at most target each, but at
// least need (the walks that keep the rate limit busy, see WalksNeeded).
// Windows are fetched limit at a time, in rounds that start and, holding
// as much, end together; a last round of fewer than need windows would walk
// alone at one request per latency, so such a count is never chosen.
//
// With pageSize known, of the counts that qualify (up to limit more than
// the least) the one whose windows take the fewest requests in all is
// chosen: 200,000 messages as 11 windows of 18,182 take 19 pages each
// (209), as 12 of 16,667 take 17 (204). See expectedPages.
func WindowCount(rest float64, target, limit, need, pageSize int) int {
	limit = max(limit, 1)
	need = min(max(need, 1), limit)
	least := 1
	if target > 0 && rest > 0 {
		// rest is an estimate: 2% over a multiple of target takes no
		// window more.
		least = int(math.Ceil(rest / float64(target) / 1.02))
	}
	least = max(least, need)
	best, bestCost := 0, math.Inf(1)
	for n := least; n < least+limit || best == 0; n++ {
		if last := n % limit; last != 0 && last < need {
			continue // a last round walking alone
		}
		cost := float64(n)
		if pageSize > 0 && rest > 0 {
			cost = float64(n) * expectedPages(rest/float64(n), float64(pageSize))
		}
		if cost < bestCost-1e-9 {
			best, bestCost = n, cost
		}
	}
	return best
}

// expectedPages is how many pages of pageSize a window planned to hold
// share messages takes, on average: its count is share give or take its
// noise, a Poisson count's (the square root) doubled for the density
// estimate the window was sized by, and every message past a whole page
// costs a page more.
func expectedPages(share, pageSize float64) float64 {
	sigma := math.Sqrt(2 * max(share, 1))
	k := math.Ceil(share / pageSize)
	above := 0.5 * math.Erfc((k*pageSize-share)/(sigma*math.Sqrt2))     // P(count > k pages)
	below := 0.5 * math.Erfc((share-(k-1)*pageSize)/(sigma*math.Sqrt2)) // P(count <= k-1 pages)
	return k + above - below
}

// MaxV2Window is the largest window sized by the data on v2: the API
// accepts at most 7 days per query, and a query's bounds reach up to a
// second (strict endpoints), or an offset change, beyond its window.
const MaxV2Window = source.MaxQuerySpan - time.Hour
