package pipeline

import (
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
	var ws []source.Window
	for from.Before(to) {
		next := from.Add(step)
		if next.After(to) {
			next = to
		}
		ws = append(ws, source.Window{From: from, To: next})
		from = next
	}
	return ws
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

func ceilSecond(t time.Time) time.Time {
	if f := t.Truncate(time.Second); !f.Equal(t) {
		return f.Add(time.Second)
	}
	return t
}
