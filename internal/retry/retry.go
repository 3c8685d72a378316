// Package retry decides, in one place, whether a failure is worth retrying, and
// retries it with capped exponential backoff and full jitter.
//
// # Classification
//
// Errors declare their behaviour; Temporary reads it. An error (or any error it
// wraps) with a `Temporary() bool` method answers for itself: the source's API
// and transport errors and kafka-go's protocol errors all do. Without one, timeouts
// (net.Error.Timeout), a cut connection (io.EOF, io.ErrUnexpectedEOF, ECONNRESET,
// ECONNREFUSED, EPIPE) and context.DeadlineExceeded of a per-request timeout are
// temporary; everything else, and context.Canceled, is not. The standard
// library's own Temporary methods are ignored (they call a refused connection
// permanent).
//
// # Hints
//
// An error with a `RetryAfter() time.Duration` method (an HTTP 429 with
// Retry-After, for example) sets the least time to wait before the next attempt.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"
)

// Temporary reports whether err is worth retrying.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && !stdlib(t) {
		return t.Temporary()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, target := range []error{
		context.DeadlineExceeded, io.EOF, io.ErrUnexpectedEOF, syscall.ECONNRESET,
		syscall.ECONNREFUSED, syscall.EPIPE, syscall.ECONNABORTED,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// stdlib reports the standard library's network errors, whose deprecated
// Temporary method calls a refused or reset connection permanent; they are
// classified by their cause instead.
func stdlib(err any) bool {
	switch err.(type) {
	case *net.OpError, *url.Error, *net.DNSError, *os.SyscallError, syscall.Errno, *net.AddrError:
		return true
	}
	return false
}

// After returns the wait an error asks for (Retry-After), if any.
func After(err error) (time.Duration, bool) {
	var h interface{ RetryAfter() time.Duration }
	if errors.As(err, &h) {
		if d := h.RetryAfter(); d > 0 {
			return d, true
		}
	}
	return 0, false
}

// Policy is a capped exponential backoff. The zero value is usable: 200ms
// initial, 30s cap, unlimited attempts.
type Policy struct {
	Initial     time.Duration // first backoff; 0 = 200ms
	Max         time.Duration // cap on one backoff (not on a Retry-After hint); 0 = 30s
	MaxAttempts int           // attempts in all, including the first; 0 = unlimited

	// OnRetry, if set, is called before each wait with the attempt that failed
	// (1-based), its error and the wait chosen.
	OnRetry func(attempt int, err error, wait time.Duration)
	// Sleep waits d or until ctx is done; nil = a real timer. Tests inject one.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1); nil = math/rand/v2.
	Jitter func() float64
}

// Backoff returns the wait before attempt n+1 after n failures (n >= 1): a
// uniformly random duration in [0, min(Max, Initial*2^(n-1))] ("full jitter"),
// but never less than Initial/2 so a hot loop is impossible.
func (p Policy) Backoff(n int) time.Duration {
	initial, ceiling := p.Initial, p.Max
	if initial <= 0 {
		initial = 200 * time.Millisecond
	}
	if ceiling <= 0 {
		ceiling = 30 * time.Second
	}
	d := initial
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	j := rand.Float64
	if p.Jitter != nil {
		j = p.Jitter
	}
	return max(time.Duration(j()*float64(d)), initial/2)
}

// Do calls fn until it succeeds, fails with an error that is not Temporary, the
// attempts run out, or ctx is done. It returns fn's last error (so its class is
// kept), or ctx's error when ctx ends a wait.
func (p Policy) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	sleep := p.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !Temporary(err) || ctx.Err() != nil {
			return err
		}
		if p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
			return &ExhaustedError{Attempts: attempt, Err: err}
		}
		wait := p.Backoff(attempt)
		if hint, ok := After(err); ok && hint > wait {
			wait = hint
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, err, wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// ExhaustedError is returned by Do when MaxAttempts temporary failures happened
// in a row. It is not Temporary itself: the caller gave up.
type ExhaustedError struct {
	Attempts int
	Err      error
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("gave up after %d attempts: %v", e.Attempts, e.Err)
}
func (e *ExhaustedError) Unwrap() error   { return e.Err }
func (e *ExhaustedError) Temporary() bool { return false }

// Sleep waits d, or returns ctx's error if ctx ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
