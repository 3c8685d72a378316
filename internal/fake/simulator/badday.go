package simulator

import "time"

// BadDay returns the faults of a bad day at the vendor, as imreport
// simulate and demo --faults ask for them: server errors, 429s, dropped
// connections, truncated bodies, a drifting total and expired cursors each
// with probability p per request, and answers slower than slowDelay a
// quarter as often.
func BadDay(seed uint64, p float64, slowDelay time.Duration) Faults {
	return Faults{Seed: seed, ServerError: p, RateLimited: p, Slow: p / 4, SlowDelay: slowDelay,
		Drop: p, Truncate: p, TotalDrift: p, CursorExpire: p}
}
