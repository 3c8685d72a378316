package testkit

import (
	"sync"
	"time"
)

// Clock is a clock tests move by hand, safe for concurrent use. It stands
// still unless a test moves it.
type Clock struct {
	mu      sync.Mutex
	t       time.Time
	pending time.Duration // added to t right after the next reading
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the time; if a stall is armed (StallAfterNextRead), the
// reading returns the time before it and every later reading the time after
// it.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	if c.pending > 0 {
		c.t = c.t.Add(c.pending)
		c.pending = 0
	}
	return t
}

// Advance moves the clock forward by d at once and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	_, now := c.Step(d)
	return now
}

// Step moves the clock forward by d and returns the times before and after.
func (c *Clock) Step(d time.Duration) (prev, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev = c.t
	c.t = c.t.Add(d)
	return prev, c.t
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Peek returns the time without taking a pending stall (see
// StallAfterNextRead): for the readers a test does not mean to stall.
func (c *Clock) Peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// StallAfterNextRead moves the clock forward by d right after its next
// reading: whoever reads it next sees the time before the stall, every
// reader after that the time after it.
func (c *Clock) StallAfterNextRead(d time.Duration) {
	c.mu.Lock()
	c.pending = d
	c.mu.Unlock()
}
