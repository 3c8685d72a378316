package source

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

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
