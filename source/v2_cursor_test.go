package source

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

// TestFetchV2CursorRejected: a cursor request answered as if the cursor
// expired (or is unknown) restarts the walk from the first request; every
// message is delivered at least once, the pages after the restart with Walk 1.
func TestFetchV2CursorRejected(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
	}{
		{"400 vendor body", 400, `{"error":{"code":899003,"message":"cursor expired"}}`},
		{"400 empty", 400, ``},
		{"404", 404, `{"error":{"code":899000,"message":"not found"}}`},
		{"410", 410, `gone`},
		{"200 with a permanent vendor error", 200, `{"error":{"code":899003,"message":"cursor invalid"}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(10)
			h := newV2Harness(t, msgs, nil)
			h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n == 2 { // the second cursor request
					w.WriteHeader(c.status)
					io.WriteString(w, c.body)
					return true
				}
				return false
			}
			got := h.fetch(t, Messages, testWindow, nil)
			if got.err != nil {
				t.Fatal(got.err)
			}
			if k := kindsOf(h.api.requests()); k != "FCCFCCC" {
				t.Errorf("requests %s, want FCC (rejected) then FCCC", k)
			}
			if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
				t.Errorf("messages not all delivered: %q", distinct(messagesOf(got.pages)))
			}
			var walks []int
			for _, p := range got.pages {
				walks = append(walks, p.Walk)
			}
			if !slices.Equal(walks, []int{0, 0, 1, 1, 1, 1}) {
				t.Errorf("page walks %v", walks)
			}
			sleeps, _, restarts := h.snapshot()
			if len(sleeps) != 0 {
				t.Errorf("a rejected cursor was retried: sleeps %v", sleeps)
			}
			if !slices.Equal(restarts, []string{"messages cursor_rejected"}) {
				t.Errorf("OnRestart %v", restarts)
			}
		})
	}
}

// TestFetchV2CursorForgotten: the server forgets every cursor while fn
// runs (the real cursor expired); the walk restarts, more than once.
func TestFetchV2CursorForgotten(t *testing.T) {
	msgs := testMsgs(10)
	h := newV2Harness(t, msgs, nil)
	calls := 0
	got := h.fetch(t, Group("g1"), testWindow, func(p Page) {
		calls++
		if calls == 2 || calls == 4 {
			h.api.forget()
		}
	})
	if got.err != nil {
		t.Fatal(got.err)
	}
	if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
		t.Errorf("messages not all delivered")
	}
	if k := kindsOf(h.api.requests()); k != "FCCFCCFCCC" {
		t.Errorf("requests %s", k)
	}
	if _, _, restarts := h.snapshot(); len(restarts) != 2 {
		t.Errorf("OnRestart %v, want two", restarts)
	}
}

// TestFetchV2CursorRequestRetried: temporary failures of a cursor request
// (5xx, 429, the vendor's timeout code in a 400, a cut body) are retried with
// the same cursor, without restarting the walk.
func TestFetchV2CursorRequestRetried(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(w http.ResponseWriter)
		te    bool // the retried error is a *TransportError
	}{
		{"503", func(w http.ResponseWriter) { w.WriteHeader(503) }, false},
		{"500 vendor 899000", func(w http.ResponseWriter) {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"code":899000,"message":"Server Error"}}`)
		}, false},
		{"429 Retry-After", func(w http.ResponseWriter) { w.Header().Set("Retry-After", "3"); w.WriteHeader(429) }, false},
		{"400 vendor 899030 (server timeout)", func(w http.ResponseWriter) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":899030,"message":"server timeout"}}`)
		}, false},
		{"200 JSON cut short", func(w http.ResponseWriter) { io.WriteString(w, `{"total":7,"cursor":"x","messages":[{"msgid":1`) }, true},
		{"200 HTML", func(w http.ResponseWriter) { io.WriteString(w, `<html>gateway</html>`) }, true},
		{"200 cursor an object", func(w http.ResponseWriter) { io.WriteString(w, `{"total":7,"cursor":{},"messages":[]}`) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(7)
			h := newV2Harness(t, msgs, nil)
			h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
				if n == 1 || n == 2 {
					c.write(w)
					return true
				}
				return false
			}
			got := h.fetch(t, User("u1"), testWindow, nil)
			if got.err != nil {
				t.Fatal(got.err)
			}
			reqs := h.api.requests()
			if k := kindsOf(reqs); k != "FCCCC" {
				t.Fatalf("requests %s, want FCCCC", k)
			}
			if reqs[1].RawQuery != reqs[3].RawQuery || reqs[2].RawQuery != reqs[3].RawQuery {
				t.Errorf("retries changed the cursor: %q %q %q", reqs[1].RawQuery, reqs[2].RawQuery, reqs[3].RawQuery)
			}
			sleeps, retried, restarts := h.snapshot()
			if len(sleeps) != 2 || len(retried) != 2 || len(restarts) != 0 {
				t.Errorf("sleeps %v, retried %v, restarts %v", sleeps, retried, restarts)
			}
			for _, err := range retried {
				var te *TransportError
				if !retry.Temporary(err) || errors.As(err, &te) != c.te {
					t.Errorf("retried after %T %v", err, err)
				}
			}
			if !slices.Equal(messagesOf(got.pages), msgs) {
				t.Errorf("messages %q", messagesOf(got.pages))
			}
		})
	}
}

// TestFetchV2FirstRequestMalformed: a truncated 200 body on a first request is
// a temporary *TransportError, retried.
func TestFetchV2FirstRequestMalformed(t *testing.T) {
	msgs := testMsgs(2)
	h := newV2Harness(t, msgs, nil)
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 0 {
			w.Header().Set("Content-Length", "500")
			io.WriteString(w, `{"total":2,"cursor":"a","mess`)
			return true
		}
		return false
	}
	got := h.fetch(t, Messages, testWindow, nil)
	if got.err != nil {
		t.Fatal(got.err)
	}
	_, retried, _ := h.snapshot()
	var te *TransportError
	if len(retried) != 1 || !errors.As(retried[0], &te) || !te.Temporary() || te.Endpoint != "/v2/messages" {
		t.Fatalf("retried after %v, want one *TransportError", retried)
	}
	if k := kindsOf(h.api.requests()); k != "FF" || !slices.Equal(messagesOf(got.pages), msgs) {
		t.Errorf("requests %s, messages %q", k, messagesOf(got.pages))
	}
}

// TestFetchV2RepeatedCursor: a server sending back a cursor already seen in
// the walk makes the walk restart; the fourth time, Fetch fails with a
// permanent error naming the endpoint and the window.
func TestFetchV2RepeatedCursor(t *testing.T) {
	page := func(w http.ResponseWriter, cursor string) {
		io.WriteString(w, `{"total":10,"cursor":"`+cursor+`","count":3,"messages":[`+strings.Join(testMsgs(3), ",")+`]}`)
	}
	t.Run("forever", func(t *testing.T) {
		h := newV2Harness(t, nil, nil)
		h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
			page(w, "same")
			return true
		}
		got := h.fetch(t, Group("g1"), testWindow, nil)
		var re *RestartError
		if !errors.As(got.err, &re) || re.Reason != RestartCursorRepeated || re.Restarts != maxCursorLoops {
			t.Fatalf("Fetch = %v, want a *RestartError after %d loops", got.err, maxCursorLoops)
		}
		if retry.Temporary(got.err) {
			t.Error("a cursor loop is temporary")
		}
		for _, want := range []string{"/v2/groups/g1/messages", testWindow.String(), "repeating a cursor", "fetch groups/g1"} {
			if !strings.Contains(got.err.Error(), want) {
				t.Errorf("error %q lacks %q", got.err, want)
			}
		}
		if k := kindsOf(h.api.requests()); k != "FCFCFCFC" {
			t.Errorf("requests %s, want 4 walks of FC", k)
		}
		// The page that came with the repeated cursor is not delivered.
		if len(got.pages) != 4 {
			t.Errorf("%d pages, want 4 (one per walk)", len(got.pages))
		}
		if _, _, restarts := h.snapshot(); len(restarts) != maxCursorLoops {
			t.Errorf("OnRestart %v", restarts)
		}
		if !strings.Contains(h.log.String(), `"level":"WARN"`) {
			t.Error("no warning logged for a cursor loop")
		}
	})
	t.Run("once", func(t *testing.T) {
		msgs := testMsgs(7)
		h := newV2Harness(t, msgs, nil)
		h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 2 { // repeat the cursor the first page carried
				f := h.api.requests()[1].Query.Get("cursor")
				page(w, strings.ReplaceAll(f, "/", `\/`))
				return true
			}
			return false
		}
		got := h.fetch(t, Group("g1"), testWindow, nil)
		if got.err != nil {
			t.Fatal(got.err)
		}
		if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
			t.Errorf("messages not all delivered")
		}
		if k := kindsOf(h.api.requests()); k != "FCCFCC" {
			t.Errorf("requests %s", k)
		}
		if _, _, restarts := h.snapshot(); !slices.Equal(restarts, []string{"groups cursor_repeated"}) {
			t.Errorf("OnRestart %v", restarts)
		}
	})
}

// TestFetchV2RejectedForever: a server that rejects every cursor request
// gets maxRestarts restarts without progress, then a permanent error that
// holds the last rejection.
func TestFetchV2RejectedForever(t *testing.T) {
	h := newV2Harness(t, testMsgs(10), nil)
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.URL.Query().Has("cursor") {
			badRequest(w, "cursor invalid")
			return true
		}
		return false
	}
	got := h.fetch(t, Messages, testWindow, nil)
	var re *RestartError
	var api *APIError
	if !errors.As(got.err, &re) || re.Reason != RestartCursorRejected || !errors.As(got.err, &api) || api.Status != 400 || retry.Temporary(got.err) {
		t.Fatalf("Fetch = %v, want a permanent *RestartError holding the 400", got.err)
	}
	if n := len(h.api.requests()); n != 2*(maxRestarts+2) {
		t.Errorf("%d requests, want %d", n, 2*(maxRestarts+2))
	}
}

// TestFetchV2AuthFailureOnCursor: an authentication failure on a cursor
// request is not a rejected cursor: Fetch stops with ErrAuth.
func TestFetchV2AuthFailureOnCursor(t *testing.T) {
	for _, status := range []int{401, 403} {
		h := newV2Harness(t, testMsgs(7), nil)
		h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				w.WriteHeader(status)
				// A gateway echoing the request.
				io.WriteString(w, `{"error":{"code":899008,"message":"Basic authentication failed: `+r.Header.Get("Authorization")+`"}}`)
				return true
			}
			return false
		}
		got := h.fetch(t, Messages, testWindow, nil) // asserts no secret
		if !errors.Is(got.err, ErrAuth) || retry.Temporary(got.err) {
			t.Fatalf("%d: Fetch = %v, want ErrAuth", status, got.err)
		}
		if k := kindsOf(h.api.requests()); k != "FC" {
			t.Errorf("%d: requests %s, want FC", status, k)
		}
		if _, _, restarts := h.snapshot(); len(restarts) != 0 {
			t.Errorf("%d: OnRestart %v", status, restarts)
		}
	}
}

// TestFetchV2PermanentErrorOnCursor: a non-temporary answer other than the
// ones meaning "cursor no longer valid" fails the fetch.
func TestFetchV2PermanentErrorOnCursor(t *testing.T) {
	h := newV2Harness(t, testMsgs(7), nil)
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			w.WriteHeader(405)
			return true
		}
		return false
	}
	got := h.fetch(t, Messages, testWindow, nil)
	var api *APIError
	if !errors.As(got.err, &api) || api.Status != 405 || retry.Temporary(got.err) {
		t.Fatalf("Fetch = %v", got.err)
	}
	for _, want := range []string{"fetch messages", "cursor request", "after 3 messages"} {
		if !strings.Contains(got.err.Error(), want) {
			t.Errorf("error %q lacks %q", got.err, want)
		}
	}
}

// TestFetchV2Stall: fn blocks (on the injected clock) while the cursor ages;
// once it is CursorTTL minus 10 s old the next request is a first request.
func TestFetchV2Stall(t *testing.T) {
	for _, c := range []struct {
		name  string
		ttl   time.Duration
		stall time.Duration
		want  string
	}{
		{"109s: the cursor is used", 0, 109 * time.Second, "FCCC"},
		{"110s: restart", 0, 110 * time.Second, "FFCCC"},
		{"121s: restart", 0, 121 * time.Second, "FFCCC"},
		{"10 minutes: restart", 0, 10 * time.Minute, "FFCCC"},
		{"TTL 60s, 49s: used", 60 * time.Second, 49 * time.Second, "FCCC"},
		{"TTL 60s, 50s: restart", 60 * time.Second, 50 * time.Second, "FFCCC"},
		{"TTL 8s (margin 2s), 5s: used", 8 * time.Second, 5 * time.Second, "FCCC"},
		{"TTL 8s (margin 2s), 6s: restart", 8 * time.Second, 6 * time.Second, "FFCCC"},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(10)
			h := newV2Harness(t, msgs, func(cfg *Config) { cfg.CursorTTL = c.ttl })
			first := true
			got := h.fetch(t, Chatroom("r1"), testWindow, func(Page) {
				if first { // stall on the very first page only
					first = false
					h.clock.Advance(c.stall)
				}
			})
			if got.err != nil {
				t.Fatal(got.err)
			}
			reqs := h.api.requests()
			if k := kindsOf(reqs); k != c.want {
				t.Errorf("requests %s, want %s", k, c.want)
			}
			if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
				t.Errorf("messages not all delivered")
			}
			_, _, restarts := h.snapshot()
			if strings.HasPrefix(c.want, "FF") {
				if !slices.Equal(restarts, []string{"chatrooms cursor_stale"}) {
					t.Errorf("OnRestart %v", restarts)
				}
				if reqs[0].RawQuery != reqs[1].RawQuery {
					t.Errorf("restart asked %q, want the first request %q again", reqs[1].RawQuery, reqs[0].RawQuery)
				}
			} else if len(restarts) != 0 {
				t.Errorf("OnRestart %v", restarts)
			}
		})
	}
}

// TestFetchV2StallEveryNewPage: fn stalls past the cursor's life on every
// page it has not seen before (a Kafka outage per page, say). Each walk gets
// one page further, so the restarts, however many, do not exhaust a limit.
func TestFetchV2StallEveryNewPage(t *testing.T) {
	const pages = maxRestarts + 2 // more restarts than maxRestarts
	msgs := testMsgs(3 * pages)
	h := newV2Harness(t, msgs, nil)
	seen := map[string]bool{}
	got := h.fetch(t, Messages, testWindow, func(p Page) {
		if m := string(p.Messages[0]); !seen[m] {
			seen[m] = true
			h.clock.Advance(5 * time.Minute)
		}
	})
	if got.err != nil {
		t.Fatal(got.err)
	}
	if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
		t.Errorf("messages not all delivered")
	}
	if _, _, restarts := h.snapshot(); len(restarts) != pages-1 {
		t.Errorf("%d restarts, want %d (one per page but the last)", len(restarts), pages-1)
	}
}

// TestFetchV2StallEveryPage: fn stalls on every call, so no walk can get
// past its first page: the restarts that make no progress are bounded.
func TestFetchV2StallEveryPage(t *testing.T) {
	h := newV2Harness(t, testMsgs(10), nil)
	got := h.fetch(t, Messages, testWindow, func(Page) { h.clock.Advance(5 * time.Minute) })
	var re *RestartError
	if !errors.As(got.err, &re) || re.Reason != RestartCursorStale || re.Restarts != maxRestarts || retry.Temporary(got.err) {
		t.Fatalf("Fetch = %v, want a permanent *RestartError after %d counted restarts", got.err, maxRestarts)
	}
	// The first restart followed progress and is free.
	if n := len(h.api.requests()); n != maxRestarts+2 {
		t.Errorf("%d requests, want %d", n, maxRestarts+2)
	}
	for _, want := range []string{"/v2/messages", testWindow.String(), "restarted too often"} {
		if !strings.Contains(got.err.Error(), want) {
			t.Errorf("error %q lacks %q", got.err, want)
		}
	}
}

// TestFetchV2StaleDuringRetries: a cursor request failing temporarily is
// retried with the same cursor, until the retries' waits make the cursor too
// old; then the walk restarts.
func TestFetchV2StaleDuringRetries(t *testing.T) {
	msgs := testMsgs(7)
	h := newV2Harness(t, msgs, nil)
	h.onSleep = func(time.Duration) { h.clock.Advance(40 * time.Second) }
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n >= 1 && n <= 3 {
			w.WriteHeader(503)
			return true
		}
		return false
	}
	got := h.fetch(t, Messages, testWindow, nil)
	if got.err != nil {
		t.Fatal(got.err)
	}
	reqs := h.api.requests()
	// F, C 503 (+40s), C 503 (+80s), C 503 (+120s: stale), then F C C.
	if k := kindsOf(reqs); k != "FCCCFCC" {
		t.Errorf("requests %s, want FCCCFCC", k)
	}
	if reqs[1].RawQuery != reqs[2].RawQuery || reqs[2].RawQuery != reqs[3].RawQuery {
		t.Errorf("retries changed the cursor: %q %q %q", reqs[1].RawQuery, reqs[2].RawQuery, reqs[3].RawQuery)
	}
	if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
		t.Errorf("messages not all delivered")
	}
	if _, _, restarts := h.snapshot(); !slices.Equal(restarts, []string{"messages cursor_stale"}) {
		t.Errorf("OnRestart %v", restarts)
	}
}
