package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/imreport/imreport/internal/retry"
)

func TestFetchRateLimiterEveryRequest(t *testing.T) {
	// A limiter that refills one token per 1000 hours: during the test, each
	// request takes exactly one of its burst tokens and none come back.
	const burst = 20
	lim := rate.NewLimiter(rate.Every(1000*time.Hour), burst)
	h := newHarness(t, testMsgs(7), func(c *Config) { c.Limiter = lim })
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch n {
		case 0:
			w.WriteHeader(503)
			return true
		case 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return true
		case 3:
			io.WriteString(w, `{"total":7,"messages":[`) // cut
			return true
		}
		return false
	}
	if err := h.fetch(t, context.Background(), Messages, testWindow).err; err != nil {
		t.Fatal(err)
	}
	reqs := len(h.api.requests())
	if reqs != 6 { // 503, page 0, 429, cut, page 3, page 6
		t.Fatalf("%d requests, want 6", reqs)
	}
	if used := int(math.Round(burst - lim.Tokens())); used != reqs {
		t.Errorf("limiter gave %d tokens for %d requests (retries included)", used, reqs)
	}
}

func TestFetchRateLimiterGates(t *testing.T) {
	// Two tokens and no refill to speak of: the third request cannot be made
	// before the context's deadline, so Fetch fails at once without sending it.
	lim := rate.NewLimiter(rate.Every(1000*time.Hour), 2)
	h := newHarness(t, testMsgs(9), func(c *Config) { c.Limiter = lim })
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	got := h.fetch(t, ctx, Messages, testWindow)
	if got.err == nil || !strings.Contains(got.err.Error(), "rate limiter") || !strings.Contains(got.err.Error(), "start=6") {
		t.Errorf("Fetch = %v, want a rate limiter error at start=6", got.err)
	}
	if n := len(h.api.requests()); n != 2 || len(got.pages) != 2 {
		t.Errorf("%d requests and %d pages, want 2 and 2", n, len(got.pages))
	}
	if sleeps, _, _ := h.snapshot(); len(sleeps) != 0 {
		t.Errorf("a limiter refusal was retried: %v", sleeps)
	}
}

func TestFetchRateLimiterCancelled(t *testing.T) {
	lim := rate.NewLimiter(rate.Every(1000*time.Hour), 1)
	lim.Allow() // empty it
	h := newHarness(t, testMsgs(1), func(c *Config) { c.Limiter = lim })
	if err := fetchCancelled(t, h, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch = %v, want context.Canceled", err)
	}
	if n := len(h.api.requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

func TestFetchCancelInFlight(t *testing.T) {
	h := newHarness(t, testMsgs(1), nil)
	entered := make(chan struct{}, 1)
	h.api.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		entered <- struct{}{}
		<-r.Context().Done()
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.fetch(t, ctx, Messages, testWindow).err }()
	<-entered
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Fetch = %v, want context.Canceled", err)
		}
		if retry.Temporary(err) {
			t.Error("cancellation is temporary")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Fetch did not return promptly after cancel")
	}
	if sleeps, retried, _ := h.snapshot(); len(sleeps) != 0 || len(retried) != 0 {
		t.Errorf("cancellation was retried: %v", retried)
	}
	if n := len(h.api.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestFetchCancelDuringRetryWait(t *testing.T) {
	waiting := make(chan struct{})
	h := newHarness(t, testMsgs(1), nil)
	h.client.cfg.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
		close(waiting)
		<-ctx.Done()
		return ctx.Err()
	}
	h.api.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		w.WriteHeader(503)
		return true
	}
	if err := fetchCancelled(t, h, waiting); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch = %v, want context.Canceled", err)
	}
	if n := len(h.api.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestFetchConcurrent(t *testing.T) {
	msgs := testMsgs(10)
	h := newHarness(t, msgs, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := Messages
			if i%2 == 1 {
				s = User(fmt.Sprintf("user%d", i))
			}
			var got []string
			err := h.client.Fetch(context.Background(), s, testWindow, func(p Page) error {
				for _, m := range p.Messages {
					got = append(got, string(m))
				}
				return nil
			})
			if err == nil && !slices.Equal(got, msgs) {
				err = fmt.Errorf("%v: got %d messages", s, len(got))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(h.api.requests()); n != 8*4 {
		t.Errorf("%d requests, want 32", n)
	}
}

// fetchCancelled runs a Fetch of testWindow, cancels it once ready is closed
// (at once when ready is nil) and returns its error; Fetch must return
// promptly after the cancel.
func fetchCancelled(t *testing.T, h *harness, ready <-chan struct{}) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.fetch(t, ctx, Messages, testWindow).err }()
	if ready != nil {
		<-ready
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Fetch did not return promptly after cancel")
		return nil
	}
}
