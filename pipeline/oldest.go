package pipeline

import "time"

// Oldest returns the earliest of cursors (as Pipeline.Cursors and
// Progress.Cursors give them), or the zero time when there is none.
func Oldest(cursors map[string]time.Time) time.Time {
	var o time.Time
	for _, c := range cursors {
		if o.IsZero() || c.Before(o) {
			o = c
		}
	}
	return o
}
