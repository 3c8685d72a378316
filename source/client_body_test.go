package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// failing is a body that breaks after its first bytes.
type failing struct{ r io.Reader }

var errReset = errors.New("connection reset")

func (f failing) Read(p []byte) (int, error) {
	if n, _ := f.r.Read(p); n > 0 {
		return n, nil
	}
	return 0, errReset
}

// TestGetBodyLength reads bodies with and without a Content-Length, and
// bodies that do not match theirs, from a transport that serves them as
// given (net/http's own cuts a body at its Content-Length).
func TestGetBodyLength(t *testing.T) {
	const page = `{"total":2,"count":2,"messages":[{"msgid":1},{"msgid":2}]}`
	for _, tc := range []struct {
		name   string
		length int64
		body   io.Reader
		cause  error  // errors.Is target; nil with want for success
		want   string // in the error
	}{
		{name: "exact", length: int64(len(page)), body: strings.NewReader(page)},
		{name: "no length", length: -1, body: strings.NewReader(page)},
		{name: "no length, endless", length: -1, body: endless{}, want: fmt.Sprintf("larger than %d bytes", maxBody)},
		{name: "length over the bound", length: maxBody + 1, body: endless{}, want: fmt.Sprintf("larger than %d bytes", maxBody)},
		{name: "shorter", length: int64(len(page)) + 1, body: strings.NewReader(page), cause: io.ErrUnexpectedEOF, want: fmt.Sprintf("%d of the %d bytes", len(page), len(page)+1)},
		{name: "empty", length: int64(len(page)), body: strings.NewReader(""), cause: io.ErrUnexpectedEOF, want: fmt.Sprintf("0 of the %d bytes", len(page))},
		{name: "longer", length: int64(len(page)) - 1, body: strings.NewReader(page + "x"), want: fmt.Sprintf("longer than the %d bytes", len(page)-1)},
		{name: "longer by whitespace", length: int64(len(page)), body: strings.NewReader(page + " "), want: "longer than"},
		{name: "broken", length: int64(len(page)), body: failing{strings.NewReader(page[:10])}, cause: errReset},
		{name: "broken at the end", length: int64(len(page)), body: failing{strings.NewReader(page)}, cause: errReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Config{BaseURL: "http://report.invalid", AppKey: testAppKey, MasterSecret: testSecret,
				HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: tc.length,
						Body: io.NopCloser(tc.body), Request: r}, nil
				})}})
			if err != nil {
				t.Fatal(err)
			}
			var env envelope
			err = c.get(context.Background(), KindMessages, "/v2/messages", "count=2", &env)
			if tc.cause == nil && tc.want == "" {
				if err != nil || len(env.Messages) != 2 || string(env.Messages[1]) != `{"msgid":2}` {
					t.Fatalf("messages %q, error %v", env.Messages, err)
				}
				return
			}
			var te *TransportError
			if !errors.As(err, &te) || !te.Temporary() {
				t.Fatalf("error %v, want a *TransportError", err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not wrap %v", err, tc.cause)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestGetReusesConnection: a body read to its Content-Length is read on to
// EOF, so that the transport keeps the connection for the next request.
func TestGetReusesConnection(t *testing.T) {
	const page = `{"total":0,"messages":[]}`
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		io.WriteString(w, page)
	}))
	var conns sync.Map
	srv.Config.ConnState = func(conn net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Store(conn.RemoteAddr().String(), true)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, AppKey: testAppKey, MasterSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		var env envelope
		if err := c.get(context.Background(), KindMessages, "/v2/messages", "count=2", &env); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	conns.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("3 requests took %d connections, want 1", n)
	}
}
