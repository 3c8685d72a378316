package source

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/internal/testkit"
)

const (
	testAppKey = "4f7aef34fb361292c566a1cd"
	// A distinctive secret, with characters that change under URL or base64 encoding.
	testSecret = "Ms3cr3t+/=_9f8e7d6c5b4a"
)

// testAuth is the exact Authorization value the vendor asks for.
var testAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(testAppKey+":"+testSecret))

// testNow is the injected clock.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testWindow is the vendor's example query range as a window:
// [2015-11-02 10:10:10, 10:10:12) Asia/Shanghai.
var testWindow = Window{
	From: time.Date(2015, 11, 2, 2, 10, 10, 0, time.UTC),
	To:   time.Date(2015, 11, 2, 2, 10, 12, 0, time.UTC),
}

// request is what the fake API recorded of one request.
type request struct {
	Method     string
	Path       string // decoded
	EscapedURI string // as sent on the request line
	RawQuery   string
	Query      url.Values
	Header     http.Header
}

// fakeAPI is an httptest server speaking the v1 Report API over a list of raw
// messages. Hooks let a test take over any request.
type fakeAPI struct {
	requestLog
	t    *testing.T
	srv  *httptest.Server
	msgs []string

	// pageCap, if > 0, serves at most this many messages per page whatever
	// count asks for.
	pageCap int
	// total renders the envelope's total; nil = the number of messages.
	// Return "" to omit the field.
	total func() string
	// hook, if set, may answer request n (0-based) itself by returning true.
	hook func(w http.ResponseWriter, r *http.Request, n int) bool
}

func newFakeAPI(t *testing.T, msgs []string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, msgs: msgs}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/messages", f.serve)
	mux.HandleFunc("GET /v1/users/{name}/messages", f.serve)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		http.Error(w, `{"error":{"code":899000,"message":"no route"}}`, http.StatusNotFound)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// requestLog records the requests a fake server receives.
type requestLog struct {
	logMu sync.Mutex
	reqs  []request
}

// record logs r and returns its 0-based number.
func (l *requestLog) record(r *http.Request) int {
	l.logMu.Lock()
	defer l.logMu.Unlock()
	l.reqs = append(l.reqs, request{
		Method: r.Method, Path: r.URL.Path, EscapedURI: r.RequestURI, RawQuery: r.URL.RawQuery,
		Query: r.URL.Query(), Header: r.Header.Clone(),
	})
	return len(l.reqs) - 1
}

func (l *requestLog) requests() []request {
	l.logMu.Lock()
	defer l.logMu.Unlock()
	return slices.Clone(l.reqs)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	n := f.record(r)
	if f.hook != nil && f.hook(w, r, n) {
		return
	}
	q := r.URL.Query()
	start, err1 := strconv.Atoi(q.Get("start"))
	count, err2 := strconv.Atoi(q.Get("count"))
	if err1 != nil || err2 != nil || start < 0 || count < 1 || count > 1000 {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":899003,"message":"start or count invalid"}}`)
		return
	}
	writePage(w, f.msgs, start, count, f.pageCap, f.total)
}

func writePage(w http.ResponseWriter, msgs []string, start, count, pageCap int, total func() string) {
	if pageCap > 0 {
		count = min(count, pageCap)
	}
	lo, hi := min(start, len(msgs)), min(start+count, len(msgs))
	page := msgs[lo:hi]
	t := strconv.Itoa(len(msgs))
	if total != nil {
		t = total()
	}
	var b strings.Builder
	b.WriteString("{")
	if t != "" {
		b.WriteString(`"total":` + t + `, `)
	}
	fmt.Fprintf(&b, `"start":%d,"count":%d,"messages":[%s]}`, start, len(page), strings.Join(page, ","))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	io.WriteString(w, b.String())
}

// testMsgs returns n distinct raw messages, with spacing a re-encoder would
// not keep.
func testMsgs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"msgid": %d , "msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":%d,"msg_ctime":%d,"msg_body":{ "text" : "m\u00e9%d" }}`,
			1000+i, 1446430210+i%2, 1446430210000+int64(i), i)
	}
	return out
}

// harness is a client wired to a fake API with injected sleep, jitter, clock
// and logger.
type harness struct {
	api    *fakeAPI
	client *Client
	log    *testkit.Buffer

	mu       sync.Mutex
	sleeps   []time.Duration
	retried  []error
	statuses []int
}

func (h *harness) sleep(ctx context.Context, d time.Duration) error {
	h.mu.Lock()
	h.sleeps = append(h.sleeps, d)
	h.mu.Unlock()
	return ctx.Err()
}

func (h *harness) snapshot() (sleeps []time.Duration, retried []error, statuses []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sleeps), slices.Clone(h.retried), slices.Clone(h.statuses)
}

func newHarness(t *testing.T, msgs []string, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{api: newFakeAPI(t, msgs), log: new(testkit.Buffer)}
	cfg := Config{
		BaseURL:      h.api.srv.URL,
		AppKey:       testAppKey,
		MasterSecret: testSecret,
		APIVersion:   "v1",
		Location:     mustLoad(t, "Asia/Shanghai"),
		PageSize:     3,
		Timeout:      10 * time.Second,
		Retry: retry.Policy{
			Initial: 100 * time.Millisecond, Max: 5 * time.Second, MaxAttempts: 6,
			Sleep: h.sleep, Jitter: func() float64 { return 0.5 },
			OnRetry: func(_ int, err error, _ time.Duration) {
				h.mu.Lock()
				h.retried = append(h.retried, err)
				h.mu.Unlock()
			},
		},
		Logger: slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return testNow },
		OnResponse: func(kind string, status int, _ time.Duration) {
			h.mu.Lock()
			h.statuses = append(h.statuses, status)
			h.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.client = c
	t.Cleanup(func() { assertNoSecret(t, "log", h.log.String()) })
	return h
}

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

type fetched struct {
	pages []Page
	err   error
}

func (h *harness) fetch(t *testing.T, ctx context.Context, s Stream, w Window) fetched {
	t.Helper()
	var f fetched
	f.err = h.client.Fetch(ctx, s, w, func(p Page) error {
		f.pages = append(f.pages, p)
		return nil
	})
	if f.err != nil {
		assertNoSecret(t, "error", f.err.Error())
		assertNoSecret(t, "error (%+v)", fmt.Sprintf("%+v", f.err))
	}
	return f
}

// messagesOf concatenates the pages' messages as strings.
func messagesOf(pages []Page) []string {
	var out []string
	for _, p := range pages {
		for _, m := range p.Messages {
			out = append(out, string(m))
		}
	}
	return out
}

func starts(reqs []request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Query.Get("start"))
	}
	return out
}

func TestFetchRequestShape(t *testing.T) {
	msgs := testMsgs(2)
	h := newHarness(t, msgs, nil)
	got := h.fetch(t, context.Background(), Messages, testWindow)
	if got.err != nil {
		t.Fatal(got.err)
	}
	reqs := h.api.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodGet || r.Path != "/v1/messages" {
		t.Errorf("request %s %s, want GET /v1/messages", r.Method, r.Path)
	}
	if got := r.Header.Get("Authorization"); got != testAuth {
		t.Errorf("Authorization = %q, want %q", got, testAuth)
	}
	if n := len(r.Header.Values("Authorization")); n != 1 {
		t.Errorf("%d Authorization headers, want 1", n)
	}
	req := &http.Request{Header: r.Header}
	if user, pass, ok := req.BasicAuth(); !ok || user != testAppKey || pass != testSecret {
		t.Errorf("BasicAuth() = %q, %q, %v", user, pass, ok)
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		t.Errorf("Accept = %q", got)
	}
	// The space in the time strings is %20, never '+', as the vendor asks.
	want := "start=0&count=3&begin_time=2015-11-02%2010%3A10%3A10&end_time=2015-11-02%2010%3A10%3A11"
	if r.RawQuery != want {
		t.Errorf("RawQuery = %q\n            want %q", r.RawQuery, want)
	}
	if strings.Contains(r.RawQuery, "+") || strings.Count(r.RawQuery, "%20") != 2 {
		t.Errorf("RawQuery %q: want exactly two %%20 and no '+'", r.RawQuery)
	}
	if r.Query.Get("begin_time") != "2015-11-02 10:10:10" || r.Query.Get("end_time") != "2015-11-02 10:10:11" {
		t.Errorf("decoded query %v", r.Query)
	}

	if len(got.pages) != 1 {
		t.Fatalf("%d pages, want 1", len(got.pages))
	}
	p := got.pages[0]
	if p.Stream != Messages || p.Window != testWindow || p.Endpoint != "/v1/messages" || p.Start != 0 || p.Total != 2 || !p.FetchedAt.Equal(testNow) {
		t.Errorf("page = %+v", p)
	}
	if !slices.Equal(messagesOf(got.pages), msgs) {
		t.Errorf("messages not byte-exact:\n got %q\nwant %q", messagesOf(got.pages), msgs)
	}
}

func TestFetchDefaultPageSize(t *testing.T) {
	h := newHarness(t, testMsgs(1), func(c *Config) { c.PageSize = 0 })
	if err := h.fetch(t, context.Background(), Messages, testWindow).err; err != nil {
		t.Fatal(err)
	}
	if got := h.api.requests()[0].Query.Get("count"); got != "1000" {
		t.Errorf("count = %s, want 1000 (MaxPageSize) by default", got)
	}
}

func TestFetchPaging(t *testing.T) {
	cases := []struct {
		name       string
		n          int      // messages on the server
		pageCap    int      // server serves at most this many per page (0 = count)
		total      string   // rendered total; "-" = default (number of messages); "" = absent
		wantStarts []string // start of each request
		wantPages  int
	}{
		{"stops at a short page reaching total", 7, 0, "-", []string{"0", "3", "6"}, 3},
		// A full page never ends the walk, even when it reaches total.
		{"exact multiple: a full page reaching total continues", 6, 0, "-", []string{"0", "3", "6"}, 2},
		{"full pages past a low total continue", 7, 0, "3", []string{"0", "3", "6"}, 3},
		{"short page below total continues, ends at a short page reaching it", 7, 2, "7", []string{"0", "2", "4", "6"}, 4},
		{"short page below a high total continues to an empty page", 4, 2, "9", []string{"0", "2", "4"}, 2},
		{"no messages: one request, no page", 0, 0, "-", []string{"0"}, 0},
		{"short pages with start < total continue", 7, 2, "-", []string{"0", "2", "4", "6"}, 4},
		{"total as a string", 7, 0, `"7"`, []string{"0", "3", "6"}, 3},
		{"total as a float", 7, 0, `7.0`, []string{"0", "3", "6"}, 3},
		{"missing total pages until empty", 7, 0, "", []string{"0", "3", "6", "7"}, 3},
		{"missing total, exact multiple", 6, 0, "", []string{"0", "3", "6"}, 2},
		{"null total pages until empty", 7, 0, "null", []string{"0", "3", "6", "7"}, 3},
		{"empty-string total pages until empty", 4, 0, `""`, []string{"0", "3", "4"}, 2},
		{"total larger than served: stops at an empty page", 5, 0, "100", []string{"0", "3", "5"}, 2},
		{"total zero with messages: full page continues, short page ends", 5, 0, "0", []string{"0", "3"}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(c.n)
			h := newHarness(t, msgs, nil)
			h.api.pageCap = c.pageCap
			if c.total != "-" {
				h.api.total = func() string { return c.total }
			}
			got := h.fetch(t, context.Background(), Messages, testWindow)
			if got.err != nil {
				t.Fatal(got.err)
			}
			reqs := h.api.requests()
			if !slices.Equal(starts(reqs), c.wantStarts) {
				t.Errorf("request starts %v, want %v", starts(reqs), c.wantStarts)
			}
			for _, r := range reqs {
				if r.Query.Get("count") != "3" {
					t.Errorf("count = %s, want the page size 3", r.Query.Get("count"))
				}
			}
			if len(got.pages) != c.wantPages {
				t.Errorf("%d pages, want %d", len(got.pages), c.wantPages)
			}
			if !slices.Equal(messagesOf(got.pages), msgs) {
				t.Errorf("messages:\n got %q\nwant %q", messagesOf(got.pages), msgs)
			}
			// Each page starts where the previous one's messages ended.
			next := 0
			for _, p := range got.pages {
				if p.Start != next || len(p.Messages) == 0 {
					t.Errorf("page Start = %d with %d messages, want Start %d and some messages", p.Start, len(p.Messages), next)
				}
				next += len(p.Messages)
			}
		})
	}
}

func TestFetchCallbackErrorStops(t *testing.T) {
	h := newHarness(t, testMsgs(9), nil)
	stop := errors.New("stop here")
	calls := 0
	err := h.client.Fetch(context.Background(), Messages, testWindow, func(p Page) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("Fetch = %v, want the callback's error itself", err)
	}
	if n := len(h.api.requests()); n != 2 || calls != 2 {
		t.Errorf("%d requests, %d calls; want 2, 2", n, calls)
	}
}

func TestFetchInvalidWindow(t *testing.T) {
	h := newHarness(t, testMsgs(1), nil)
	for _, w := range []Window{{}, {testWindow.To, testWindow.From}, {testWindow.From.Add(time.Millisecond), testWindow.To}} {
		err := h.fetch(t, context.Background(), Messages, w).err
		if err == nil || !strings.Contains(err.Error(), "fetch messages") {
			t.Errorf("Fetch(%v) = %v, want a window error", w, err)
		}
	}
	if n := len(h.api.requests()); n != 0 {
		t.Errorf("%d requests for invalid windows", n)
	}
}

func TestFetchUserPathEscaping(t *testing.T) {
	names := []string{
		"caiyh",
		"user.name-1_x@example.com",
		"a b",
		"a/b",
		"a?b#c",
		"50%",
		"x+y",
		"a;b,c=d&e",
		"张三",
		"ёлка😀",
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, testMsgs(2), nil)
			var seen []string
			h.api.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
				seen = append(seen, r.PathValue("name"))
				return false
			}
			got := h.fetch(t, context.Background(), User(name), testWindow)
			if got.err != nil {
				t.Fatal(got.err)
			}
			reqs := h.api.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			wantEscaped := "/v1/users/" + url.PathEscape(name) + "/messages"
			if path, _, _ := strings.Cut(r.EscapedURI, "?"); path != wantEscaped {
				t.Errorf("request path %q, want %q", path, wantEscaped)
			}
			if r.Path != "/v1/users/"+name+"/messages" {
				t.Errorf("decoded path %q", r.Path)
			}
			// The server's router sees the name as exactly one path segment.
			if !slices.Equal(seen, []string{name}) {
				t.Errorf("router saw name %q, want %q", seen, name)
			}
			// Strict bounds on /v1/users: one second wider on each side.
			if r.Query.Get("begin_time") != "2015-11-02 10:10:09" || r.Query.Get("end_time") != "2015-11-02 10:10:12" {
				t.Errorf("user query bounds %q .. %q", r.Query.Get("begin_time"), r.Query.Get("end_time"))
			}
			if got.pages[0].Endpoint != wantEscaped || got.pages[0].Stream != User(name) {
				t.Errorf("page Endpoint %q Stream %v", got.pages[0].Endpoint, got.pages[0].Stream)
			}
		})
	}
}

func TestStream(t *testing.T) {
	for _, s := range []Stream{Messages, User("bob"), User("a/b"), User("张三"), Group("g1"), Group("a/b"), Chatroom("1001"), Chatroom("房间 1")} {
		back, err := ParseStream(s.String())
		if err != nil || back != s {
			t.Errorf("ParseStream(%q) = %v, %v; want %v", s.String(), back, err, s)
		}
	}
	if Messages.String() != "messages" || User("bob").String() != "users/bob" || Group("g1").String() != "groups/g1" || Chatroom("c1").String() != "chatrooms/c1" {
		t.Errorf("String() = %q, %q, %q, %q", Messages.String(), User("bob").String(), Group("g1").String(), Chatroom("c1").String())
	}
	for _, bad := range []string{"", "users", "users/", "groups", "groups/", "chatrooms/", "group/1", "chatroom/1", "message", "Messages", "statistic/users"} {
		if _, err := ParseStream(bad); err == nil {
			t.Errorf("ParseStream(%q) succeeded", bad)
		}
	}
}

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
	got := h.fetch(t, context.Background(), Messages, testWindow)
	if got.err != nil {
		t.Fatal(got.err)
	}
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
			got := h.fetch(t, context.Background(), Messages, testWindow)
			if got.err != nil {
				t.Fatal(got.err)
			}
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
			got := h.fetch(t, context.Background(), Messages, testWindow)
			if got.err != nil {
				t.Fatal(got.err)
			}
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

func TestNew(t *testing.T) {
	ok := Config{BaseURL: "http://127.0.0.1:1", AppKey: testAppKey, MasterSecret: testSecret}
	for _, c := range []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error; nil = success
	}{
		{"ok", func(*Config) {}, nil},
		{"default base URL", func(c *Config) { c.BaseURL = "" }, nil},
		{"trailing slash", func(c *Config) { c.BaseURL = "https://report.im.jpush.cn/" }, nil},
		{"page size 1", func(c *Config) { c.PageSize = 1 }, nil},
		{"page size 1000", func(c *Config) { c.PageSize = 1000 }, nil},
		{"no app key", func(c *Config) { c.AppKey = "" }, []string{"app key is empty"}},
		{"no secret", func(c *Config) { c.MasterSecret = "" }, []string{"master secret is empty"}},
		{"ftp URL", func(c *Config) { c.BaseURL = "ftp://x" }, []string{"not an http(s) URL"}},
		{"no host", func(c *Config) { c.BaseURL = "https://" }, []string{"not an http(s) URL"}},
		{"bad URL", func(c *Config) { c.BaseURL = "http://[::1" }, []string{"not an http(s) URL"}},
		{"page size 1001", func(c *Config) { c.PageSize = 1001 }, []string{"page size 1001"}},
		{"page size -1", func(c *Config) { c.PageSize = -1 }, []string{"page size -1"}},
		{"everything wrong", func(c *Config) { *c = Config{BaseURL: "x", PageSize: 5000} },
			[]string{"app key is empty", "master secret is empty", "not an http(s) URL", "page size 5000"}},
	} {
		cfg := ok
		c.mod(&cfg)
		client, err := New(cfg)
		if c.want == nil {
			if err != nil || client == nil {
				t.Errorf("%s: New = %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: New succeeded", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
		assertNoSecret(t, "New error", err.Error())
	}
	c, err := New(Config{AppKey: "k", MasterSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AppKey() != "k" || c.cfg.PageSize != MaxPageSize || c.cfg.Timeout != 30*time.Second || c.cfg.Location.String() != "Asia/Shanghai" || c.base.String() != DefaultBaseURL {
		t.Errorf("defaults: %+v", c.cfg)
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
