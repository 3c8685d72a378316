package source

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPIErrorError(t *testing.T) {
	cases := []struct {
		err  APIError
		want string
	}{
		{APIError{Endpoint: "/v1/messages", Status: 500},
			"report api /v1/messages: HTTP 500"},
		{APIError{Endpoint: "/v1/messages", Status: 503, Message: "<html>busy</html>"},
			"report api /v1/messages: HTTP 503: <html>busy</html>"},
		{APIError{Endpoint: "/v1/messages", Status: 400, Code: 899003, Message: "start is invalid"},
			"report api /v1/messages: HTTP 400, code 899003: start is invalid"},
		{APIError{Endpoint: "/v1/users/bob/messages", Status: 400, Code: 899002},
			"report api /v1/users/bob/messages: HTTP 400, code 899002"},
		{APIError{Endpoint: "/v1/messages", Status: 401, Code: 899008, Message: "Basic authentication failed"},
			"report api /v1/messages: HTTP 401, code 899008: Basic authentication failed (credentials rejected: check the app key and master secret)"},
		{APIError{Endpoint: "/v1/messages", Status: 403},
			"report api /v1/messages: HTTP 403 (credentials rejected: check the app key and master secret)"},
		{APIError{Endpoint: "/v1/messages", Status: 200, Code: 899009, Message: "appkey not exist"},
			"report api /v1/messages: HTTP 200, code 899009: appkey not exist (credentials rejected: check the app key and master secret)"},
		{APIError{Endpoint: "/v1/messages", Status: 429, Wait: 7 * time.Second},
			"report api /v1/messages: HTTP 429"},
	}
	for _, c := range cases {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q\n            want %q", got, c.want)
		}
	}
}

func TestAPIErrorTemporary(t *testing.T) {
	cases := []struct {
		status, code int
		want         bool
	}{
		{429, 0, true},
		{500, 0, true},
		{502, 0, true},
		{503, 0, true},
		{504, 0, true},
		{599, 0, true},
		{400, 0, false},
		{404, 0, false},
		{405, 0, false},
		{200, 0, false},
		{401, 0, false},
		{403, 0, false},
		// Vendor codes.
		{400, 899030, true}, // server timeout
		{200, 899030, true},
		{500, 899030, true},
		{400, 899000, true}, // internal error
		{500, 899000, true},
		{400, 898030, true}, // 898xxx twins
		{400, 898000, true},
		{400, 899003, false}, // parameter invalid
		{400, 899002, false}, // no such user
		{400, 899006, false},
		{400, 899081, false},
		{429, 899003, true}, // the status says rate limited
		{503, 899003, true},
		// Authentication is never temporary, whatever else the answer says.
		{401, 899000, false},
		{403, 899030, false},
		{500, 899008, false},
		{429, 899007, false},
		{503, 899009, false},
		{400, 898008, false},
	}
	for _, c := range cases {
		e := &APIError{Endpoint: "/v1/messages", Status: c.status, Code: c.code}
		if got := e.Temporary(); got != c.want {
			t.Errorf("APIError{Status: %d, Code: %d}.Temporary() = %v, want %v", c.status, c.code, got, c.want)
		}
	}
}

func TestAPIErrorAuth(t *testing.T) {
	cases := []struct {
		status, code int
		auth         bool
	}{
		{401, 0, true},
		{403, 0, true},
		{401, 899008, true},
		{400, 899007, true},
		{400, 899008, true},
		{400, 899009, true},
		{200, 899008, true},
		{400, 898007, true},
		{400, 898008, true},
		{400, 898009, true},
		{400, 899003, false},
		{400, 0, false},
		{404, 899002, false},
		{429, 0, false},
		{500, 0, false},
		{500, 899000, false},
	}
	for _, c := range cases {
		e := &APIError{Endpoint: "/v1/messages", Status: c.status, Code: c.code}
		for _, err := range []error{e, fmt.Errorf("fetch: %w", e), errors.Join(io.EOF, fmt.Errorf("x: %w", e))} {
			if got := errors.Is(err, ErrAuth); got != c.auth {
				t.Errorf("errors.Is(%v, ErrAuth) = %v, want %v", err, got, c.auth)
			}
		}
		if c.auth && e.Temporary() {
			t.Errorf("auth failure %d/%d is temporary", c.status, c.code)
		}
		if c.auth != strings.HasSuffix(e.Error(), ": check the app key and master secret)") {
			t.Errorf("Error() = %q: auth hint present = %v, want %v", e.Error(), !c.auth, c.auth)
		}
	}
}

func TestAPIErrorRetryAfter(t *testing.T) {
	if got := (&APIError{Status: 429, Wait: 7 * time.Second}).RetryAfter(); got != 7*time.Second {
		t.Errorf("RetryAfter() = %v, want 7s", got)
	}
	if got := (&APIError{Status: 503}).RetryAfter(); got != 0 {
		t.Errorf("RetryAfter() = %v, want 0", got)
	}
}

func TestTransportError(t *testing.T) {
	e := &TransportError{Endpoint: "/v1/messages", Err: fmt.Errorf("read body: %w", io.ErrUnexpectedEOF)}
	if got, want := e.Error(), "report api /v1/messages: read body: unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !e.Temporary() {
		t.Error("TransportError is not temporary")
	}
	if !errors.Is(e, io.ErrUnexpectedEOF) {
		t.Error("TransportError does not unwrap to its cause")
	}
	if errors.Is(e, ErrAuth) {
		t.Error("TransportError is an auth error")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"none", h(), 0},
		{"seconds", h("Retry-After", "7"), 7 * time.Second},
		{"seconds with spaces", h("Retry-After", "  120 "), 2 * time.Minute},
		{"zero seconds", h("Retry-After", "0"), 0},
		{"lower-case header name", http.Header{"retry-after": {"5"}}, 0}, // not canonical: Header.Get does not find it
		{"HTTP date (IMF-fixdate)", h("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second},
		{"HTTP date (RFC 850)", h("Retry-After", "Sunday, 01-Jun-25 12:00:30 GMT"), 30 * time.Second},
		{"HTTP date (ANSI C)", h("Retry-After", "Sun Jun  1 12:00:45 2025"), 45 * time.Second},
		{"HTTP date in the past", h("Retry-After", now.Add(-time.Minute).Format(http.TimeFormat)), 0},
		{"HTTP date now", h("Retry-After", now.Format(http.TimeFormat)), 0},
		{"negative seconds", h("Retry-After", "-5"), 0},
		{"fractional seconds", h("Retry-After", "1.5"), 0},
		{"garbage", h("Retry-After", "soon"), 0},
		{"empty", h("Retry-After", ""), 0},
		{"X-Rate-Limit-Reset", h("X-Rate-Limit-Reset", "12"), 12 * time.Second},
		{"X-Rate-Limit-Reset zero", h("X-Rate-Limit-Reset", "0"), 0},
		{"X-Rate-Limit-Reset at the limit", h("X-Rate-Limit-Reset", "3600"), time.Hour},
		{"X-Rate-Limit-Reset too large (an epoch?)", h("X-Rate-Limit-Reset", "1748779260"), 0},
		{"X-Rate-Limit-Reset negative", h("X-Rate-Limit-Reset", "-1"), 0},
		{"X-Rate-Limit-Reset garbage", h("X-Rate-Limit-Reset", "later"), 0},
		{"Retry-After wins over X-Rate-Limit-Reset", h("Retry-After", "3", "X-Rate-Limit-Reset", "40"), 3 * time.Second},
		{"garbage Retry-After falls back to X-Rate-Limit-Reset", h("Retry-After", "soon", "X-Rate-Limit-Reset", "40"), 40 * time.Second},
		{"past date falls back to X-Rate-Limit-Reset", h("Retry-After", now.Add(-time.Minute).Format(http.TimeFormat), "X-Rate-Limit-Reset", "40"), 40 * time.Second},
		{"both garbage", h("Retry-After", "x", "X-Rate-Limit-Reset", "y"), 0},
	}
	for _, c := range cases {
		if got := parseRetryAfter(c.h, now); got != c.want {
			t.Errorf("%s: parseRetryAfter(%v) = %v, want %v", c.name, c.h, got, c.want)
		}
	}
}

// TestParseRetryAfterHuge: a Retry-After too large for a time.Duration is
// garbage (ignored), never wrapped around into a negative or short wait.
func TestParseRetryAfterHuge(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
	}{
		{"9223372036", 9223372036 * time.Second}, // fits: about 292 years
		{"9223372037", 0},
		{"99999999999", 0},
		{"18446744073709551615", 0},
	} {
		if got := parseRetryAfter(http.Header{"Retry-After": {c.v}}, now); got != c.want {
			t.Errorf("parseRetryAfter(Retry-After: %s) = %v, want %v", c.v, got, c.want)
		}
	}
}
