package source

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrAuth is wrapped by the *APIError returned when the API rejects the app key
// or master secret (HTTP 401 or 403, or codes 899007, 899008, 899009 and their
// 898xxx twins). It is never temporary.
var ErrAuth = errors.New("report api rejected the credentials")

// APIError is returned when the Report API answers with an error status or an
// error body.
type APIError struct {
	Endpoint string        // path, e.g. /v1/messages
	Status   int           // HTTP status
	Code     int           // vendor error code, 0 when the body had none
	Message  string        // vendor error message or a body excerpt
	Wait     time.Duration // from Retry-After or X-Rate-Limit-Reset, 0 when absent
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "report api %s: HTTP %d", e.Endpoint, e.Status)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.auth() {
		b.WriteString(" (credentials rejected: check the app key and master secret)")
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later: rate limiting
// (429), server errors (5xx), the vendor's server-timeout code and its
// internal-error code (but not on a 404 or 405: a wrong URL stays wrong).
func (e *APIError) Temporary() bool {
	switch {
	case e.auth():
		return false
	case e.Status == http.StatusTooManyRequests || e.Status >= 500:
		return true
	case e.Code != 0 && e.Code%1000 == 30: // 899030 server timeout
		return true
	case e.Code != 0 && e.Code%1000 == 0: // 899000 internal error, unless the route itself is wrong
		return e.Status != http.StatusNotFound && e.Status != http.StatusMethodNotAllowed
	}
	return false
}

// Unwrap lets errors.Is(err, ErrAuth) find authentication failures.
func (e *APIError) Unwrap() error {
	if e.auth() {
		return ErrAuth
	}
	return nil
}

// RetryAfter is the wait the server asked for (retry.After reads it).
func (e *APIError) RetryAfter() time.Duration { return e.Wait }

func (e *APIError) auth() bool {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return true
	}
	switch e.Code {
	case 899007, 899008, 899009, 898007, 898008, 898009:
		return true
	}
	return false
}

// TransportError is returned when a request got no usable answer: the
// connection failed or was cut, the request timed out, or a 200 response body
// was truncated or not the expected JSON. It is always temporary.
type TransportError struct {
	Endpoint string
	Err      error
}

func (e *TransportError) Error() string   { return "report api " + e.Endpoint + ": " + e.Err.Error() }
func (e *TransportError) Unwrap() error   { return e.Err }
func (e *TransportError) Temporary() bool { return true }

// maxSeconds is the largest whole number of seconds a time.Duration holds.
const maxSeconds = int(math.MaxInt64 / time.Second)

// parseRetryAfter reads Retry-After (seconds or an HTTP date) and, failing
// that, X-Rate-Limit-Reset (seconds until the quota resets).
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 && s <= maxSeconds {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if v := strings.TrimSpace(h.Get("X-Rate-Limit-Reset")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 && s <= 3600 {
			return time.Duration(s) * time.Second
		}
	}
	return 0
}
