package source

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

func TestFetch429RetryAfter(t *testing.T) {
	msgs := testMsgs(2)
	h := newHarness(t, msgs, nil)
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 0 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, "rate limited")
			return true
		}
		return false
	}
	got := h.fetchOK(t, Messages)
	sleeps, retried, statuses := h.snapshot()
	if len(sleeps) != 1 || sleeps[0] < 7*time.Second {
		t.Errorf("sleeps %v, want one of at least 7s", sleeps)
	}
	var api *APIError
	if len(retried) != 1 || !errors.As(retried[0], &api) || api.Status != 429 || api.Wait != 7*time.Second || api.Message != "rate limited" {
		t.Errorf("retried after %v, want the 429 with Wait 7s", retried)
	}
	if !slices.Equal(statuses, []int{429, 200}) {
		t.Errorf("OnResponse statuses %v, want [429 200]", statuses)
	}
	if !slices.Equal(messagesOf(got.pages), msgs) {
		t.Errorf("messages %q", messagesOf(got.pages))
	}
	// The retry repeats the same request.
	reqs := h.api.requests()
	if len(reqs) != 2 || reqs[0].RawQuery != reqs[1].RawQuery || reqs[1].Header.Get("Authorization") != testAuth {
		t.Errorf("requests %+v", reqs)
	}
}

func TestFetch429RetryAfterDate(t *testing.T) {
	h := newHarness(t, testMsgs(1), nil)
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 0 {
			w.Header().Set("Retry-After", testNow.Add(20*time.Second).Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	}
	if err := h.fetch(t, context.Background(), Messages, testWindow).err; err != nil {
		t.Fatal(err)
	}
	if sleeps, _, _ := h.snapshot(); len(sleeps) != 1 || sleeps[0] != 20*time.Second {
		t.Errorf("sleeps %v, want [20s] from an HTTP date against the injected clock", sleeps)
	}
}

func TestFetchServerErrorsRetried(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{"503", func(w http.ResponseWriter) { w.WriteHeader(503); io.WriteString(w, "<html>Service Unavailable</html>") }},
		{"500 vendor body 899000", func(w http.ResponseWriter) {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"code":899000,"message":"Server Error"}}`)
		}},
		{"502 empty", func(w http.ResponseWriter) { w.WriteHeader(502) }},
		{"200 with vendor code 899030", func(w http.ResponseWriter) {
			io.WriteString(w, `{"error":{"code":"899030","message":"server timeout"}}`)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(4)
			h := newHarness(t, msgs, nil)
			h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n < 2 {
					c.write(w)
					return true
				}
				return false
			}
			got := h.fetchOK(t, Messages)
			sleeps, retried, _ := h.snapshot()
			if len(sleeps) != 2 || sleeps[0] != 50*time.Millisecond || sleeps[1] != 100*time.Millisecond {
				t.Errorf("sleeps %v, want the backoff [50ms 100ms]", sleeps)
			}
			for _, err := range retried {
				var api *APIError
				if !errors.As(err, &api) || !api.Temporary() {
					t.Errorf("retried after %v, want a temporary *APIError", err)
				}
			}
			if !slices.Equal(starts(h.api.requests()), []string{"0", "0", "0", "3"}) {
				t.Errorf("starts %v", starts(h.api.requests()))
			}
			if !slices.Equal(messagesOf(got.pages), msgs) {
				t.Errorf("messages %q", messagesOf(got.pages))
			}
		})
	}
}

func TestFetchBadBodyRetried(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(w http.ResponseWriter)
		cause error // errors.Is target on the retried error, if any
	}{
		{"content-length larger than the body", func(w http.ResponseWriter) {
			body := `{"total":2,"messages":[{"msgid":1}`
			w.Header().Set("Content-Length", strconv.Itoa(len(body)+500))
			io.WriteString(w, body)
		}, io.ErrUnexpectedEOF},
		{"JSON cut short", func(w http.ResponseWriter) { io.WriteString(w, `{"total":2,"messages":[{"msgid":1,"msg_ty`) }, nil},
		{"HTML instead of JSON", func(w http.ResponseWriter) { io.WriteString(w, `<html><body>gateway</body></html>`) }, nil},
		{"empty body", func(w http.ResponseWriter) {}, nil},
		{"messages not an array", func(w http.ResponseWriter) { io.WriteString(w, `{"total":2,"messages":{"msgid":1}}`) }, nil},
		{"total not a number", func(w http.ResponseWriter) { io.WriteString(w, `{"total":"many","messages":[]}`) }, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(2)
			h := newHarness(t, msgs, nil)
			h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n == 0 {
					c.write(w)
					return true
				}
				return false
			}
			got := h.fetchOK(t, Messages)
			_, retried, _ := h.snapshot()
			var te *TransportError
			if len(retried) != 1 || !errors.As(retried[0], &te) || !te.Temporary() || te.Endpoint != "/v1/messages" {
				t.Fatalf("retried after %v, want one *TransportError", retried)
			}
			if c.cause != nil && !errors.Is(retried[0], c.cause) {
				t.Errorf("retried error %v does not wrap %v", retried[0], c.cause)
			}
			if !slices.Equal(messagesOf(got.pages), msgs) {
				t.Errorf("messages %q", messagesOf(got.pages))
			}
		})
	}
}

func TestFetchRetriesExhausted(t *testing.T) {
	h := newHarness(t, testMsgs(1), func(c *Config) { c.Retry.MaxAttempts = 3 })
	h.api.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		w.WriteHeader(503)
		return true
	}
	err := h.fetch(t, context.Background(), Messages, testWindow).err
	var ex *retry.ExhaustedError
	var api *APIError
	if !errors.As(err, &ex) || ex.Attempts != 3 || !errors.As(err, &api) || api.Status != 503 {
		t.Fatalf("Fetch = %v, want an ExhaustedError of the 503", err)
	}
	if n := len(h.api.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestFetchRequestTimeout(t *testing.T) {
	h := newHarness(t, testMsgs(1), func(c *Config) {
		c.Timeout = 50 * time.Millisecond
		c.Retry.MaxAttempts = 2
	})
	h.api.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		<-r.Context().Done() // hang until the client gives up
		return true
	}
	got := h.fetch(t, context.Background(), Messages, testWindow)
	var ex *retry.ExhaustedError
	if !errors.As(got.err, &ex) || ex.Attempts != 2 {
		t.Fatalf("Fetch = %v, want an ExhaustedError after 2 timeouts", got.err)
	}
	_, retried, statuses := h.snapshot()
	var te *TransportError
	if len(retried) != 1 || !errors.As(retried[0], &te) || !retry.Temporary(retried[0]) {
		t.Fatalf("retried after %v, want one temporary *TransportError", retried)
	}
	if errors.Is(retried[0], context.Canceled) {
		t.Errorf("a timeout looks like a cancellation: %v", retried[0])
	}
	if !errors.As(got.err, &te) {
		t.Errorf("final error %v does not hold the TransportError", got.err)
	}
	if !slices.Equal(statuses, []int{0, 0}) {
		t.Errorf("OnResponse statuses %v, want [0 0]", statuses)
	}
}

func TestFetchConnectionRefused(t *testing.T) {
	h := newHarness(t, nil, func(c *Config) { c.Retry.MaxAttempts = 2 })
	h.api.srv.Close() // nothing listens there any more
	err := h.fetch(t, context.Background(), Messages, testWindow).err
	var te *TransportError
	var ex *retry.ExhaustedError
	if !errors.As(err, &ex) || !errors.As(err, &te) {
		t.Fatalf("Fetch = %v, want an ExhaustedError of a TransportError", err)
	}
	if sleeps, _, statuses := h.snapshot(); len(sleeps) != 1 || !slices.Equal(statuses, []int{0, 0}) {
		t.Errorf("sleeps %v statuses %v", sleeps, statuses)
	}
}
