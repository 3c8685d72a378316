package pipeline

import (
	"context"
	"sync"
	"time"
)

// gate bounds the windows in flight by a limit that may change while it
// runs (the automatic fetch concurrency follows the measured latency).
type gate struct {
	limit func() int
	mu    sync.Mutex
	n     int
	wake  chan struct{} // a slot was released
}

func newGate(limit func() int) *gate { return &gate{limit: limit, wake: make(chan struct{}, 1)} }

// acquire takes a slot once fewer than the limit are taken, or returns
// ctx's error. The limit is read again at least every 100 ms.
func (g *gate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.n < max(g.limit(), 1) {
			g.n++
			g.mu.Unlock()
			return nil
		}
		g.mu.Unlock()
		if err := g.wait(ctx); err != nil {
			return err
		}
	}
}

// idle waits until no slot is taken, or returns ctx's error.
func (g *gate) idle(ctx context.Context) error {
	for {
		g.mu.Lock()
		n := g.n
		g.mu.Unlock()
		if n == 0 {
			return nil
		}
		if err := g.wait(ctx); err != nil {
			return err
		}
	}
}

// wait returns when a slot is released, after 100 ms (the limit may have
// changed), or with ctx's error.
func (g *gate) wait(ctx context.Context) error {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-g.wake:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// release gives a slot back.
func (g *gate) release() {
	g.mu.Lock()
	g.n--
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
}
