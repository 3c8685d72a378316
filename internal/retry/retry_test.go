package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/source"
)

// loopbackTimeout returns the error a real read on a loopback TCP connection
// returns when its deadline has passed (a *net.OpError wrapping
// os.ErrDeadlineExceeded).
func loopbackTimeout(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past deadline: %T %v, want a net.Error timeout", err, err)
	}
	return err
}

// refusedDial returns the error a real dial to a closed loopback port returns
// (a *net.OpError wrapping *os.SyscallError wrapping ECONNREFUSED).
func refusedDial(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Skip("a closed loopback port accepted a connection")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial closed port: %v, want ECONNREFUSED", err)
	}
	return err
}

func TestTemporary(t *testing.T) {
	api := func(status, code int) error {
		return &source.APIError{Endpoint: "/v1/messages", Status: status, Code: code}
	}
	wrap := func(err error) error { return fmt.Errorf("fetch messages: %w", err) }
	join := func(err error) error { return errors.Join(errors.New("other"), err) }
	timeout := loopbackTimeout(t)
	refused := refusedDial(t)
	exhausted := &retry.ExhaustedError{Attempts: 3, Err: api(503, 0)}

	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},

		{"api 429", api(429, 0), true},
		{"api 500", api(500, 0), true},
		{"api 502", api(502, 0), true},
		{"api 503", api(503, 0), true},
		{"api 504", api(504, 0), true},
		{"api 400", api(400, 0), false},
		{"api 401", api(401, 0), false},
		{"api 403", api(403, 0), false},
		{"api 404", api(404, 0), false},
		{"api 400 code 899030 server timeout", api(400, 899030), true},
		{"api 200 code 899030 server timeout", api(200, 899030), true},
		{"api 400 code 899000 internal error", api(400, 899000), true},
		{"api 500 code 899000 internal error", api(500, 899000), true},
		{"api 400 code 898030 twin", api(400, 898030), true},
		{"api 401 code 899008 auth", api(401, 899008), false},
		{"api 400 code 899008 auth", api(400, 899008), false},
		{"api 500 code 899008 auth beats 5xx", api(500, 899008), false},
		{"api 400 code 899003 bad parameter", api(400, 899003), false},
		{"api 400 code 899002 no such user", api(400, 899002), false},

		{"transport", &source.TransportError{Endpoint: "/v1/messages", Err: errors.New("read body: boom")}, true},
		{"transport wrapping a plain error", &source.TransportError{Endpoint: "/v1/messages", Err: io.EOF}, true},
		{"transport wrapping context.Canceled", &source.TransportError{Endpoint: "/v1/messages", Err: context.Canceled}, false},

		{"net timeout (loopback read past deadline)", timeout, true},
		{"net timeout in url.Error", &url.Error{Op: "Get", URL: "http://x", Err: timeout}, true},
		{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded, true},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "report.im.jpush.cn", IsTimeout: true}, true},
		{"DNS no such host", &net.DNSError{Err: "no such host", Name: "report.im.jpush.cn", IsNotFound: true}, false},

		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF, true},
		{"io.EOF (connection closed before a response)", io.EOF, true},
		{"ECONNREFUSED", syscall.ECONNREFUSED, true},
		{"ECONNRESET", syscall.ECONNRESET, true},
		{"EPIPE", syscall.EPIPE, true},
		{"ECONNABORTED", syscall.ECONNABORTED, true},
		{"EACCES", syscall.EACCES, false},
		{"refused dial (*net.OpError)", refused, true},
		{"refused dial in url.Error", &url.Error{Op: "Get", URL: "http://x", Err: refused}, true},
		{"reset read (*net.OpError)", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},

		{"context.Canceled", context.Canceled, false},
		{"context.DeadlineExceeded", context.DeadlineExceeded, true},
		{"context.Canceled joined with a temporary error", errors.Join(api(503, 0), context.Canceled), false},

		{"exhausted", exhausted, false},
		{"exhausted of a refused dial", &retry.ExhaustedError{Attempts: 2, Err: refused}, false},
		{"exhausted of ECONNRESET", &retry.ExhaustedError{Attempts: 2, Err: syscall.ECONNRESET}, false},

		{"plain errors.New", errors.New("boom"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := retry.Temporary(c.err); got != c.want {
				t.Errorf("Temporary(%v) = %v, want %v", c.err, got, c.want)
			}
			if c.err == nil {
				return
			}
			if got := retry.Temporary(wrap(c.err)); got != c.want {
				t.Errorf("Temporary(fmt.Errorf(%%w)) = %v, want %v", got, c.want)
			}
			if got := retry.Temporary(wrap(wrap(c.err))); got != c.want {
				t.Errorf("Temporary(twice wrapped) = %v, want %v", got, c.want)
			}
			if got := retry.Temporary(join(c.err)); got != c.want {
				t.Errorf("Temporary(errors.Join(plain, err)) = %v, want %v", got, c.want)
			}
		})
	}
}

// TestTemporaryJoinOrder pins the rule for a joined error holding errors that
// declare opposite answers: the first one (depth-first, in order) decides.
func TestTemporaryJoinOrder(t *testing.T) {
	perm := &source.APIError{Status: 400, Code: 899003}
	temp := &source.TransportError{Endpoint: "/v1/messages", Err: io.ErrUnexpectedEOF}
	if retry.Temporary(errors.Join(perm, temp)) {
		t.Error("Join(permanent, temporary) is temporary; want the first declaration (permanent) to decide")
	}
	if !retry.Temporary(errors.Join(temp, perm)) {
		t.Error("Join(temporary, permanent) is not temporary; want the first declaration (temporary) to decide")
	}
}

func TestAfter(t *testing.T) {
	hint := &source.APIError{Status: 429, Wait: 7 * time.Second}
	for _, c := range []struct {
		name string
		err  error
		want time.Duration
		ok   bool
	}{
		{"nil", nil, 0, false},
		{"plain", errors.New("x"), 0, false},
		{"api without wait", &source.APIError{Status: 503}, 0, false},
		{"api with wait", hint, 7 * time.Second, true},
		{"wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", hint)), 7 * time.Second, true},
		{"joined", errors.Join(errors.New("x"), hint), 7 * time.Second, true},
		{"exhausted keeps the hint readable", &retry.ExhaustedError{Attempts: 2, Err: hint}, 7 * time.Second, true},
		{"negative wait ignored", &source.APIError{Status: 429, Wait: -time.Second}, 0, false},
	} {
		got, ok := retry.After(c.err)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: After = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func fixed(f float64) func() float64 { return func() float64 { return f } }

// almostOne is the largest float64 below 1, the top of Jitter's range.
var almostOne = math.Nextafter(1, 0)

func TestBackoffGrowthAndCap(t *testing.T) {
	p := retry.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Jitter: fixed(almostOne)}
	want := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000}
	for i, w := range want {
		n := i + 1
		ceiling := w * time.Millisecond
		got := p.Backoff(n)
		// Jitter just below 1 gives the ceiling minus at most a nanosecond of rounding.
		if got > ceiling || got < ceiling-time.Microsecond {
			t.Errorf("Backoff(%d) = %v, want just under %v", n, got, ceiling)
		}
	}
	for _, n := range []int{50, 64, 100, 1000, math.MaxInt32} {
		if got := p.Backoff(n); got > p.Max || got < p.Max-time.Microsecond {
			t.Errorf("Backoff(%d) = %v, want just under the cap %v", n, got, p.Max)
		}
	}
}

func TestBackoffFullJitter(t *testing.T) {
	p := retry.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}
	for n := 1; n <= 10; n++ {
		ceiling := min(100*time.Millisecond<<(n-1), 10*time.Second)
		for _, j := range []float64{0, 0.1, 0.25, 0.5, 0.75, almostOne} {
			p.Jitter = fixed(j)
			got := p.Backoff(n)
			want := max(time.Duration(j*float64(ceiling)), 50*time.Millisecond)
			if got != want {
				t.Errorf("Backoff(%d) with jitter %v = %v, want %v", n, j, got, want)
			}
			if got < p.Initial/2 || got > ceiling {
				t.Errorf("Backoff(%d) with jitter %v = %v, outside [%v, %v]", n, j, got, p.Initial/2, ceiling)
			}
		}
	}
	// Jitter 0 never means a hot loop: the floor is Initial/2.
	p.Jitter = fixed(0)
	if got := p.Backoff(7); got != 50*time.Millisecond {
		t.Errorf("Backoff(7) with jitter 0 = %v, want the floor 50ms", got)
	}
}

func TestBackoffDefaults(t *testing.T) {
	var p retry.Policy // 200ms initial, 30s cap, math/rand jitter
	for n := 1; n <= 40; n++ {
		ceiling := min(200*time.Millisecond<<min(n-1, 20), 30*time.Second)
		for range 50 {
			if got := p.Backoff(n); got < 100*time.Millisecond || got > ceiling {
				t.Fatalf("zero Policy Backoff(%d) = %v, outside [100ms, %v]", n, got, ceiling)
			}
		}
	}
	p.Jitter = fixed(almostOne)
	if got := p.Backoff(1); got < 199*time.Millisecond || got > 200*time.Millisecond {
		t.Errorf("zero Policy Backoff(1) = %v, want ~200ms", got)
	}
	if got := p.Backoff(100); got < 29*time.Second || got > 30*time.Second {
		t.Errorf("zero Policy Backoff(100) = %v, want ~30s", got)
	}
}

// recorder is an injected Sleep that records waits and returns at once (or
// ctx's error if ctx is already done).
type recorder struct{ waits []time.Duration }

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.waits = append(r.waits, d)
	return ctx.Err()
}

type retryCall struct {
	attempt int
	err     error
	wait    time.Duration
}

func TestDoSucceedsAfterTemporaryFailures(t *testing.T) {
	var rec recorder
	var calls []retryCall
	p := retry.Policy{
		Initial: 100 * time.Millisecond, Max: time.Second, Jitter: fixed(0.5), Sleep: rec.sleep,
		OnRetry: func(attempt int, err error, wait time.Duration) { calls = append(calls, retryCall{attempt, err, wait}) },
	}
	errs := []error{
		&source.APIError{Status: 503},
		&source.TransportError{Endpoint: "/v1/messages", Err: io.ErrUnexpectedEOF},
		nil,
	}
	n := 0
	err := p.Do(context.Background(), func(context.Context) error { n++; return errs[n-1] })
	if err != nil {
		t.Fatalf("Do = %v, want nil", err)
	}
	if n != 3 {
		t.Errorf("fn called %d times, want 3", n)
	}
	wantWaits := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}
	if !slices.Equal(rec.waits, wantWaits) {
		t.Errorf("waits = %v, want %v", rec.waits, wantWaits)
	}
	if len(calls) != 2 {
		t.Fatalf("OnRetry called %d times, want 2", len(calls))
	}
	for i, c := range calls {
		if c.attempt != i+1 || c.err != errs[i] || c.wait != wantWaits[i] {
			t.Errorf("OnRetry call %d = (%d, %v, %v), want (%d, %v, %v)", i, c.attempt, c.err, c.wait, i+1, errs[i], wantWaits[i])
		}
	}
}

func TestDoPermanentErrorReturnedAtOnce(t *testing.T) {
	for _, perm := range []error{
		errors.New("boom"),
		&source.APIError{Status: 401, Code: 899008},
		fmt.Errorf("x: %w", &source.APIError{Status: 400, Code: 899003}),
		context.Canceled,
		&retry.ExhaustedError{Attempts: 2, Err: io.ErrUnexpectedEOF},
	} {
		var rec recorder
		retried := false
		p := retry.Policy{Sleep: rec.sleep, Jitter: fixed(0.5), OnRetry: func(int, error, time.Duration) { retried = true }}
		n := 0
		err := p.Do(context.Background(), func(context.Context) error { n++; return perm })
		if err != perm {
			t.Errorf("Do = %v, want the permanent error itself (%v)", err, perm)
		}
		if n != 1 || len(rec.waits) != 0 || retried {
			t.Errorf("%v: fn called %d times, %d waits, OnRetry %v; want 1, 0, false", perm, n, len(rec.waits), retried)
		}
	}
}

func TestDoRetryAfterHint(t *testing.T) {
	cases := []struct {
		name    string
		hint    time.Duration
		backoff time.Duration // Initial, with jitter 0.5 on attempt 1 => Initial/2
		want    time.Duration
	}{
		{"hint above backoff wins", 7 * time.Second, 400 * time.Millisecond, 7 * time.Second},
		{"hint above the cap still wins", 90 * time.Second, 400 * time.Millisecond, 90 * time.Second},
		{"hint below backoff loses", 100 * time.Millisecond, 2 * time.Second, time.Second},
		{"no hint", 0, 400 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rec recorder
			var onRetry []time.Duration
			p := retry.Policy{
				Initial: c.backoff, Max: 30 * time.Second, Jitter: fixed(0.5), Sleep: rec.sleep,
				OnRetry: func(_ int, _ error, w time.Duration) { onRetry = append(onRetry, w) },
			}
			n := 0
			err := p.Do(context.Background(), func(context.Context) error {
				n++
				if n == 1 {
					return fmt.Errorf("page: %w", &source.APIError{Status: 429, Wait: c.hint})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rec.waits, []time.Duration{c.want}) || !slices.Equal(onRetry, rec.waits) {
				t.Errorf("waits %v, OnRetry waits %v; want [%v]", rec.waits, onRetry, c.want)
			}
		})
	}
}

func TestDoMaxAttempts(t *testing.T) {
	var rec recorder
	retries := 0
	p := retry.Policy{MaxAttempts: 3, Jitter: fixed(0.5), Sleep: rec.sleep, OnRetry: func(int, error, time.Duration) { retries++ }}
	var last error
	n := 0
	err := p.Do(context.Background(), func(context.Context) error {
		n++
		last = &source.APIError{Endpoint: "/v1/messages", Status: 500 + n}
		return last
	})
	var ex *retry.ExhaustedError
	if !errors.As(err, &ex) {
		t.Fatalf("Do = %T %v, want *retry.ExhaustedError", err, err)
	}
	if ex.Attempts != 3 || ex.Err != last {
		t.Errorf("ExhaustedError{%d, %v}, want {3, %v}", ex.Attempts, ex.Err, last)
	}
	if !errors.Is(err, last) {
		t.Error("errors.Is(exhausted, last error) = false")
	}
	var api *source.APIError
	if !errors.As(err, &api) || api.Status != 503 {
		t.Errorf("errors.As(exhausted, *APIError) = %v, want the last (503)", api)
	}
	if n != 3 || len(rec.waits) != 2 || retries != 2 {
		t.Errorf("fn %d times, %d waits, %d OnRetry; want 3, 2, 2", n, len(rec.waits), retries)
	}
	if retry.Temporary(err) {
		t.Error("an ExhaustedError is Temporary")
	}
	if want := "gave up after 3 attempts: report api /v1/messages: HTTP 503"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}

	// MaxAttempts 1: no retry at all, still an ExhaustedError for a temporary failure.
	rec.waits = nil
	p.MaxAttempts = 1
	err = p.Do(context.Background(), func(context.Context) error { return io.ErrUnexpectedEOF })
	if !errors.As(err, &ex) || ex.Attempts != 1 || !errors.Is(err, io.ErrUnexpectedEOF) || len(rec.waits) != 0 {
		t.Errorf("MaxAttempts 1: Do = %v, waits %v", err, rec.waits)
	}
}

func TestDoUnlimitedAttempts(t *testing.T) {
	var rec recorder
	p := retry.Policy{Jitter: fixed(0.5), Sleep: rec.sleep}
	n := 0
	err := p.Do(context.Background(), func(context.Context) error {
		if n++; n < 200 {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	if err != nil || n != 200 || len(rec.waits) != 199 {
		t.Errorf("Do = %v after %d calls and %d waits, want nil after 200 and 199", err, n, len(rec.waits))
	}
}

func TestDoCancelDuringWait(t *testing.T) {
	// Real Sleep (Policy.Sleep nil), an hour-long backoff, and a cancel from
	// OnRetry: Do must return ctx.Err() from the wait without the hour passing.
	t.Run("real sleep", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := retry.Policy{Initial: time.Hour, Max: time.Hour, Jitter: fixed(almostOne),
			OnRetry: func(int, error, time.Duration) { cancel() }}
		n := 0
		err := inBackground(t, "Do after its context was cancelled during a wait", func() error {
			return p.Do(ctx, func(context.Context) error { n++; return io.ErrUnexpectedEOF })
		})
		if err != context.Canceled {
			t.Errorf("Do = %v, want context.Canceled", err)
		}
		if n != 1 {
			t.Errorf("fn called %d times, want 1", n)
		}
	})

	// Injected Sleep that blocks until ctx ends; cancel from another goroutine.
	t.Run("blocking injected sleep", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		started := make(chan struct{})
		p := retry.Policy{Jitter: fixed(0.5), Sleep: func(ctx context.Context, d time.Duration) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}}
		done := make(chan error, 1)
		go func() {
			done <- p.Do(ctx, func(context.Context) error { return &source.APIError{Status: 503} })
		}()
		<-started
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Do = %v, want context.Canceled", err)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
		defer cancel()
		p := retry.Policy{Jitter: fixed(0.5), Sleep: func(context.Context, time.Duration) error {
			return context.DeadlineExceeded // what a Sleep reports when ctx's deadline ends the wait
		}}
		err := p.Do(ctx, func(context.Context) error { return io.ErrUnexpectedEOF })
		if err != context.DeadlineExceeded {
			t.Errorf("Do = %v, want the wait's context.DeadlineExceeded", err)
		}
	})
}

func TestDoContextAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var rec recorder
	tempErr := &source.APIError{Status: 503}
	n := 0
	err := retry.Policy{Sleep: rec.sleep}.Do(ctx, func(context.Context) error { n++; return tempErr })
	// fn's own error is returned (its class is kept); no wait happens.
	if err != tempErr || n != 1 || len(rec.waits) != 0 {
		t.Errorf("Do = %v after %d calls and %d waits; want the 503 after 1 call, no wait", err, n, len(rec.waits))
	}
}

func TestDoPassesContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	err := retry.Policy{}.Do(ctx, func(got context.Context) error {
		if got.Value(key{}) != "v" {
			return errors.New("fn did not get Do's context")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func TestSleep(t *testing.T) {
	if err := retry.Sleep(context.Background(), time.Nanosecond); err != nil {
		t.Errorf("Sleep(1ns) = %v", err)
	}
	if err := retry.Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := inBackground(t, "Sleep with a cancelled context", func() error { return retry.Sleep(ctx, time.Hour) }); err != context.Canceled {
		t.Errorf("Sleep(cancelled, 1h) = %v, want context.Canceled", err)
	}
}

// inBackground runs fn in a goroutine and returns its error; the test fails
// if fn has not returned within 10s (it ignored a cancelled context).
func inBackground(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return within 10s", what)
		return nil
	}
}

func TestExhaustedError(t *testing.T) {
	inner := errors.New("inner")
	e := &retry.ExhaustedError{Attempts: 4, Err: inner}
	if e.Error() != "gave up after 4 attempts: inner" {
		t.Errorf("Error() = %q", e.Error())
	}
	if e.Unwrap() != inner || e.Temporary() {
		t.Errorf("Unwrap = %v, Temporary = %v", e.Unwrap(), e.Temporary())
	}
}
