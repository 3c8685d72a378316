package source

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/imreport/imreport/internal/retry"
)

// assertNoSecret fails if s holds the master secret or the Authorization
// value, in any of the forms they travel in.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	b64 := strings.TrimPrefix(testAuth, "Basic ")
	for _, needle := range []string{testSecret, b64, url.QueryEscape(testSecret), url.PathEscape(testSecret), strings.TrimRight(b64, "=")} {
		if strings.Contains(s, needle) {
			t.Errorf("%s contains a secret (%q): %s", what, needle, s)
		}
	}
}

func TestFetchAuthFailure(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		code   int
	}{
		{"401 899008", 401, `{"error":{"code":899008,"message":"Basic authentication failed"}}`, 899008},
		{"401 no body", 401, ``, 0},
		{"403", 403, `{"error":{"code":899009,"message":"appkey not exist"}}`, 899009},
		{"400 899007 code as a string", 400, `{"error":{"code":"899007","message":"Authorization header missing"}}`, 899007},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, testMsgs(2), nil)
			h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				io.WriteString(w, c.body)
				return true
			}
			got := h.fetch(t, context.Background(), Messages, testWindow)
			if !errors.Is(got.err, ErrAuth) {
				t.Fatalf("Fetch = %v, want ErrAuth", got.err)
			}
			var api *APIError
			if !errors.As(got.err, &api) || api.Status != c.status || api.Code != c.code || api.Endpoint != "/v1/messages" {
				t.Errorf("APIError = %+v", api)
			}
			if retry.Temporary(got.err) {
				t.Error("auth failure is temporary")
			}
			sleeps, retried, _ := h.snapshot()
			if n := len(h.api.requests()); n != 1 || len(sleeps) != 0 || len(retried) != 0 {
				t.Errorf("%d requests, %d sleeps: want 1 and no retry", n, len(sleeps))
			}
			if len(got.pages) != 0 {
				t.Errorf("%d pages", len(got.pages))
			}
			if !strings.Contains(got.err.Error(), "check the app key and master secret") {
				t.Errorf("error %q lacks the hint", got.err)
			}
		})
	}
}

// TestFetchErrorNeverEchoesSecret: some gateways echo the request (headers
// included) into an error page; the error must still not carry the secret.
func TestFetchErrorNeverEchoesSecret(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   func(r *http.Request) string
	}{
		{"401 echoing the Authorization header", 401, func(r *http.Request) string {
			return "Unauthorized. Request headers: Authorization: " + r.Header.Get("Authorization")
		}},
		{"vendor message quoting the secret", 401, func(r *http.Request) string {
			_, pass, _ := r.BasicAuth()
			return `{"error":{"code":899008,"message":"bad secret ` + pass + `"}}`
		}},
		{"400 echoing both", 400, func(r *http.Request) string {
			_, pass, _ := r.BasicAuth()
			return strings.Repeat("x", 150) + " auth=" + r.Header.Get("Authorization") + " secret=" + pass
		}},
		{"secret cut by the excerpt", 400, func(r *http.Request) string {
			_, pass, _ := r.BasicAuth()
			return strings.Repeat("y", 190) + pass
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, testMsgs(1), nil)
			h.api.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
				w.WriteHeader(c.status)
				io.WriteString(w, c.body(r))
				return true
			}
			got := h.fetch(t, context.Background(), Messages, testWindow) // asserts no secret
			if got.err == nil {
				t.Fatal("Fetch succeeded")
			}
			// And not even the 10-character head of the secret that an
			// excerpt could cut off.
			if strings.Contains(got.err.Error(), testSecret[:10]) {
				t.Errorf("error contains the start of the secret: %v", got.err)
			}
		})
	}
}

func TestFetchPermanentAPIError(t *testing.T) {
	h := newHarness(t, testMsgs(1), nil)
	h.api.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":{"code":899003,"message":"begin_time invalid"}}`)
		return true
	}
	err := h.fetch(t, context.Background(), Messages, testWindow).err
	var api *APIError
	if !errors.As(err, &api) || api.Code != 899003 || api.Message != "begin_time invalid" || errors.Is(err, ErrAuth) {
		t.Fatalf("Fetch = %v", err)
	}
	if sleeps, _, _ := h.snapshot(); len(h.api.requests()) != 1 || len(sleeps) != 0 {
		t.Errorf("a 400 was retried")
	}
	for _, want := range []string{"fetch messages", "start=0", "HTTP 400", "code 899003", "begin_time invalid"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestLogsNeverHoldSecret drives every failure path with a debug-level JSON
// logger and checks its output (newHarness's cleanup does the same for every
// client test).
func TestLogsNeverHoldSecret(t *testing.T) {
	h := newHarness(t, testMsgs(4), nil)
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch n {
		case 0:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
			io.WriteString(w, r.Header.Get("Authorization"))
		case 1:
			w.WriteHeader(503)
		case 2:
			w.Header().Set("Content-Length", "999")
			io.WriteString(w, `{"total":4`)
		case 3:
			return false
		default:
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":899008,"message":"Basic authentication failed"}}`)
		}
		return true
	}
	err := h.fetch(t, context.Background(), Messages, testWindow).err
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Fetch = %v", err)
	}
	assertNoSecret(t, "log", h.log.String())
	if strings.Contains(h.log.String(), testAuth) {
		t.Error("log holds the Authorization header")
	}
}
