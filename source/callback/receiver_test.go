package callback

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/source"
)

const (
	testKey    = "4f7aef34fb361292c566a1cd"
	testSecret = "0f1e2d3c4b5a69788796a5b4"
	okMsg      = `{"msgid":1001,"msg_type":"text","target_type":"single","target_id":"bob","from_type":"user","from_id":"alice","create_time":1764547200,"msg_ctime":1764547200123,"msg_body":{"text":"hi"}}`
)

// fakePusher records batches and answers with err (after block, if set).
type fakePusher struct {
	mu      sync.Mutex
	batches []source.PushBatch
	err     error
	block   chan struct{}
}

func (f *fakePusher) Push(ctx context.Context, b source.PushBatch) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.batches = append(f.batches, b)
	return nil
}

func (f *fakePusher) Batches() []source.PushBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]source.PushBatch(nil), f.batches...)
}

func newTestReceiver(t *testing.T, cfg Config, p Pusher) (*Receiver, map[string]int, *sync.Mutex) {
	t.Helper()
	outcomes := map[string]int{}
	var mu sync.Mutex
	cfg.AppKey, cfg.MasterSecret = testKey, testSecret
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Now = func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
	cfg.OnRequest = func(o string) {
		mu.Lock()
		outcomes[o]++
		mu.Unlock()
	}
	rc, err := New(cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	return rc, outcomes, &mu
}

func post(rc http.Handler, method, path, ctype, body string, auth func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if auth != nil {
		auth(r)
	}
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, r)
	return w
}

func goodAuth(r *http.Request) { r.SetBasicAuth(testKey, testSecret) }

const vendorCT = "application/json; charset=utf-8"

func TestAcceptedCallbackIsPushed(t *testing.T) {
	p := &fakePusher{}
	rc, outcomes, _ := newTestReceiver(t, Config{}, p)
	bad := strings.Replace(okMsg, `"msgid":1001,"msg_type":"text"`, `"msgid":"1002","msg_type":["text"]`, 1)
	w := post(rc, http.MethodPost, "/callback", vendorCT, `{"total":2,"messages":[`+okMsg+`,`+bad+`]}`, goodAuth)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d %q, want 200", w.Code, w.Body)
	}
	bs := p.Batches()
	if len(bs) != 1 || len(bs[0].Messages) != 2 {
		t.Fatalf("pushed %+v, want one batch of two", bs)
	}
	b := bs[0]
	if b.Endpoint != "/callback" || !b.ReceivedAt.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("batch endpoint %q received %v", b.Endpoint, b.ReceivedAt)
	}
	if m := b.Messages[0]; m.MsgID != 1001 || m.MsgType != "text" || m.MsgCtime != 1764547200123 || string(m.Raw) != okMsg || b.Errs[0] != nil {
		t.Errorf("message 0 = %+v, err %v", m, b.Errs[0])
	}
	var fe *source.FieldError
	if b.Messages[1].MsgID != 1002 || !errors.As(b.Errs[1], &fe) || fe.Field != "msg_type" {
		t.Errorf("message 1 = id %d err %v, want msgid 1002 with a msg_type field error (for the dead-letter topic)", b.Messages[1].MsgID, b.Errs[1])
	}
	if outcomes[OutcomeAccepted] != 1 {
		t.Errorf("outcomes %v", outcomes)
	}
}

// TestRefusedRequestsPublishNothing: every way a request can be wrong, with
// its status and outcome; none reaches the pusher.
func TestRefusedRequestsPublishNothing(t *testing.T) {
	body := `{"total":1,"messages":[` + okMsg + `]}`
	noMsgID := `{"total":1,"messages":[{"msg_type":"text","create_time":1}]}`
	cases := []struct {
		name, method, path, ctype, body string
		auth                            func(*http.Request)
		status                          int
		outcome                         string
	}{
		{"no credentials", "POST", "/callback", vendorCT, body, nil, 401, OutcomeUnauthorized},
		{"wrong secret", "POST", "/callback", vendorCT, body, func(r *http.Request) { r.SetBasicAuth(testKey, testSecret+"x") }, 401, OutcomeUnauthorized},
		{"wrong app key", "POST", "/callback", vendorCT, body, func(r *http.Request) { r.SetBasicAuth("other", testSecret) }, 401, OutcomeUnauthorized},
		{"empty secret", "POST", "/callback", vendorCT, body, func(r *http.Request) { r.SetBasicAuth(testKey, "") }, 401, OutcomeUnauthorized},
		{"bearer", "POST", "/callback", vendorCT, body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testSecret) }, 401, OutcomeUnauthorized},
		{"GET", "GET", "/callback", "", "", goodAuth, 405, OutcomeMethod},
		{"PUT", "PUT", "/callback", vendorCT, body, goodAuth, 405, OutcomeMethod},
		{"text/plain", "POST", "/callback", "text/plain", body, goodAuth, 415, OutcomeContentType},
		{"no content type", "POST", "/callback", "", body, goodAuth, 415, OutcomeContentType},
		{"gbk", "POST", "/callback", "application/json; charset=gbk", body, goodAuth, 415, OutcomeContentType},
		{"form", "POST", "/callback", "application/x-www-form-urlencoded", "a=b", goodAuth, 415, OutcomeContentType},
		{"too large", "POST", "/callback", vendorCT, `{"total":1,"messages":[` + strings.Repeat(okMsg+",", 400) + okMsg + `]}`, goodAuth, 413, OutcomeTooLarge},
		{"not json", "POST", "/callback", vendorCT, "hello", goodAuth, 400, OutcomeMalformed},
		{"truncated", "POST", "/callback", vendorCT, body[:len(body)-3], goodAuth, 400, OutcomeMalformed},
		{"trailing data", "POST", "/callback", vendorCT, body + `{}`, goodAuth, 400, OutcomeMalformed},
		{"no messages", "POST", "/callback", vendorCT, `{"total":1}`, goodAuth, 400, OutcomeMalformed},
		{"messages not an array", "POST", "/callback", vendorCT, `{"messages":{"msgid":1}}`, goodAuth, 400, OutcomeMalformed},
		{"array body", "POST", "/callback", vendorCT, `[` + okMsg + `]`, goodAuth, 400, OutcomeMalformed},
		{"message without msgid", "POST", "/callback", vendorCT, noMsgID, goodAuth, 400, OutcomeMalformed},
		{"one good, one without msgid", "POST", "/callback", vendorCT, `{"messages":[` + okMsg + `,{"msgid":0}]}`, goodAuth, 400, OutcomeMalformed},
		{"message not an object", "POST", "/callback", vendorCT, `{"messages":[42]}`, goodAuth, 400, OutcomeMalformed},
		{"other path", "POST", "/callback/x", vendorCT, body, goodAuth, 404, OutcomeNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &fakePusher{}
			rc, outcomes, _ := newTestReceiver(t, Config{MaxBody: 64 << 10}, p)
			w := post(rc, tc.method, tc.path, tc.ctype, tc.body, tc.auth)
			if w.Code != tc.status {
				t.Errorf("status %d (%q), want %d", w.Code, strings.TrimSpace(w.Body.String()), tc.status)
			}
			if n := len(p.Batches()); n != 0 {
				t.Errorf("%d batches pushed, want none", n)
			}
			if outcomes[tc.outcome] != 1 || len(outcomes) != 1 {
				t.Errorf("outcomes %v, want one %s", outcomes, tc.outcome)
			}
			switch tc.status {
			case 401:
				if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("401 without a Basic WWW-Authenticate: %v", w.Header())
				}
				if strings.Contains(w.Body.String(), testSecret) {
					t.Error("the answer quotes the secret")
				}
			case 405:
				if w.Header().Get("Allow") != "POST" {
					t.Errorf("405 without Allow: POST: %v", w.Header())
				}
			}
		})
	}
}

// TestUnpublishedCallbackIs503: a pusher that fails or does not answer in
// time makes the receiver answer 503, so that the vendor sends it again.
func TestUnpublishedCallbackIs503(t *testing.T) {
	body := `{"total":1,"messages":[` + okMsg + `]}`
	for _, tc := range []struct {
		name string
		p    *fakePusher
	}{
		{"publish failed", &fakePusher{err: errors.New("kafka refused")}},
		{"not in time", &fakePusher{block: make(chan struct{})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, outcomes, _ := newTestReceiver(t, Config{AckTimeout: 20 * time.Millisecond}, tc.p)
			w := post(rc, http.MethodPost, "/callback", vendorCT, body, goodAuth)
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
				t.Errorf("status %d, Retry-After %q: want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
			}
			if outcomes[OutcomeUnavailable] != 1 {
				t.Errorf("outcomes %v", outcomes)
			}
		})
	}
}

// TestTooManyInFlightIs503: past MaxInFlight requests at once, the next is
// refused at once instead of queueing.
func TestTooManyInFlightIs503(t *testing.T) {
	p := &fakePusher{block: make(chan struct{})}
	rc, outcomes, mu := newTestReceiver(t, Config{MaxInFlight: 1}, p)
	body := `{"total":1,"messages":[` + okMsg + `]}`
	first := make(chan int)
	go func() { first <- post(rc, http.MethodPost, "/callback", vendorCT, body, goodAuth).Code }()
	// Wait until the first request holds the slot.
	for len(rc.slots) == 0 {
		time.Sleep(time.Millisecond)
	}
	if w := post(rc, http.MethodPost, "/callback", vendorCT, body, goodAuth); w.Code != http.StatusServiceUnavailable {
		t.Errorf("second request: status %d, want 503", w.Code)
	}
	close(p.block)
	if code := <-first; code != http.StatusOK {
		t.Errorf("first request: status %d, want 200", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes[OutcomeBusy] != 1 || outcomes[OutcomeAccepted] != 1 {
		t.Errorf("outcomes %v", outcomes)
	}
}

// TestSlowClientsAreCutOff: a client that sends its headers or its body too
// slowly is cut off by the server's timeouts, and nothing is pushed.
func TestSlowClientsAreCutOff(t *testing.T) {
	p := &fakePusher{}
	rc, outcomes, mu := newTestReceiver(t, Config{ReadTimeout: 300 * time.Millisecond}, p)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- rc.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve = %v", err)
		}
	}()
	body := `{"total":1,"messages":[` + okMsg + `]}`
	head := fmt.Sprintf("POST /callback HTTP/1.1\r\nHost: x\r\nAuthorization: Basic NGY3YWVmMzRmYjM2MTI5MmM1NjZhMWNkOjBmMWUyZDNjNGI1YTY5Nzg4Nzk2YTViNA==\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", vendorCT, len(body))

	for _, tc := range []struct {
		name  string
		sent  string // what the client sends before it stalls
		state string // what it is in the middle of
		want  []int  // acceptable answers, if any comes before the close
	}{
		// net/http answers an incomplete head with 400 (or just closes).
		{"headers", head[:40], "headers", []int{http.StatusBadRequest, http.StatusRequestTimeout}},
		{"body", head + body[:20], "body", []int{http.StatusRequestTimeout}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.sent); err != nil {
				t.Fatal(err)
			}
			// Stall. The server must answer 408 or close the connection;
			// the deadline here only keeps a broken server from hanging the
			// test.
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			switch {
			case err == nil:
				resp.Body.Close()
				if !slices.Contains(tc.want, resp.StatusCode) {
					t.Errorf("stalled in the %s: status %d, want one of %v or a closed connection", tc.state, resp.StatusCode, tc.want)
				}
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err):
				// closed by the server
			default:
				t.Errorf("stalled in the %s: %v, want 408 or a closed connection", tc.state, err)
			}
		})
	}
	if n := len(p.Batches()); n != 0 {
		t.Errorf("%d batches pushed by slow clients, want none", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes[OutcomeAccepted] != 0 {
		t.Errorf("outcomes %v", outcomes)
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func TestNewValidation(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{AppKey: "k"},
		{AppKey: "k", MasterSecret: "s", Path: "callback"},
		{AppKey: "k", MasterSecret: "s", Path: "/a b"},
		{AppKey: "k", MasterSecret: "s", MaxBody: -1},
	} {
		if _, err := New(cfg, &fakePusher{}); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New(Config{AppKey: "k", MasterSecret: "s"}, nil); err == nil {
		t.Error("New without a pusher accepted")
	}
}

// FuzzCallbackBody: whatever the body, the receiver never panics, answers
// 200 or 400 (413 past the cap), and pushes exactly when it answers 200,
// only messages with a usable msgid, each with its decode error slot.
func FuzzCallbackBody(f *testing.F) {
	for _, s := range []string{
		`{"total":1,"messages":[` + okMsg + `]}`,
		`{"total":0,"messages":[]}`,
		`{"messages":[{"msgid":"7","msg_type":{},"create_time":"x"}]}`,
		`{"messages":[{"msgid":1e3}]}`,
		`{"messages":null}`,
		`{"messages":[` + okMsg + `,` + okMsg + `]} `,
		`[]`, `null`, `{"messages":[{"msgid":9223372036854775808}]}`,
	} {
		f.Add([]byte(s))
	}
	p := &fakePusher{}
	rc, err := New(Config{AppKey: testKey, MasterSecret: testSecret, MaxBody: 64 << 10, Logger: slog.New(slog.DiscardHandler)}, p)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := len(p.Batches())
		w := post(rc, http.MethodPost, "/callback", vendorCT, string(body), goodAuth)
		bs := p.Batches()
		switch w.Code {
		case http.StatusOK:
			if len(bs) != before+1 {
				t.Fatalf("200 but %d batches pushed", len(bs)-before)
			}
			b := bs[len(bs)-1]
			if len(b.Errs) != len(b.Messages) {
				t.Fatalf("%d messages, %d error slots", len(b.Messages), len(b.Errs))
			}
			for i, m := range b.Messages {
				if m.MsgID <= 0 {
					t.Fatalf("message %d pushed with msgid %d", i, m.MsgID)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if len(bs) != before {
				t.Fatalf("status %d but a batch was pushed", w.Code)
			}
		default:
			t.Fatalf("status %d for body %q", w.Code, body)
		}
	})
}
