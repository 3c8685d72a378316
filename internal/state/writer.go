package state

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

// putter writes a record of the state topic (sink.Writer.PutState).
type putter interface {
	PutState(ctx context.Context, key string, value []byte) error
}

// Writer writes snapshots to the state topic in the background: Offer never
// waits, and only the newest snapshot not yet written is kept, so a commit
// costs a small copy whatever Kafka's latency.
type Writer struct {
	put    putter
	key    string
	logger *slog.Logger
	sleep  func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	pending *Snapshot
	written uint64 // the sequence of the newest snapshot written
	wake    chan struct{}

	onWrite func(Snapshot) // tests and metrics; nil = none
}

// NewWriter returns a Writer of snapshots under key (the app key); onWrite,
// if set, sees every snapshot once written.
func NewWriter(put putter, key string, logger *slog.Logger, onWrite func(Snapshot)) *Writer {
	return &Writer{put: put, key: key, logger: logger, sleep: retry.Sleep, wake: make(chan struct{}, 1), onWrite: onWrite}
}

// Offer queues s, replacing any snapshot not yet written.
func (w *Writer) Offer(s Snapshot) {
	s = s.clone()
	w.mu.Lock()
	w.pending = &s
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Written returns the sequence of the newest snapshot written.
func (w *Writer) Written() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Run writes what is offered until ctx ends, retrying failures with a
// backoff (0.5 s doubling to 5 s); then it writes the last pending snapshot
// within grace and returns.
func (w *Writer) Run(ctx context.Context, grace time.Duration) {
	wait := 500 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
			defer cancel()
			if err := w.flush(fctx); err != nil {
				w.logger.Warn("the last snapshot was not written to the state topic; the checkpoint file has it", "error", err)
			}
			return
		case <-w.wake:
		}
		for {
			err := w.flush(ctx)
			if err == nil || ctx.Err() != nil {
				wait = 500 * time.Millisecond
				break
			}
			w.logger.Warn("state topic write failed, retrying", "wait", wait, "error", err)
			if w.sleep(ctx, wait) != nil {
				break
			}
			wait = min(2*wait, 5*time.Second)
		}
	}
}

// flush writes the pending snapshot, if any.
func (w *Writer) flush(ctx context.Context) error {
	w.mu.Lock()
	s := w.pending
	w.pending = nil
	w.mu.Unlock()
	if s == nil {
		return nil
	}
	b, err := s.Encode()
	if err == nil {
		err = w.put.PutState(ctx, w.key, b)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.pending == nil {
			w.pending = s // not replaced meanwhile: try it again
		}
		return err
	}
	w.written = s.Sequence
	if w.onWrite != nil {
		w.onWrite(*s)
	}
	return nil
}
