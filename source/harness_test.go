package source

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
	f.srv = fakeServer(t, &f.requestLog, f.serve, "GET /v1/messages", "GET /v1/users/{name}/messages")
	return f
}

// fakeServer serves handle on the patterns until the test ends, and
// answers any other request with the vendor's 404, recorded in log.
func fakeServer(t *testing.T, log *requestLog, handle http.HandlerFunc, patterns ...string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for _, p := range patterns {
		mux.HandleFunc(p, handle)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.record(r)
		http.Error(w, `{"error":{"code":899000,"message":"no route"}}`, http.StatusNotFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// answerRequests returns a hook that answers the requests numbered first to
// last (0-based, inclusive) with write, and leaves the others to the fake API.
func answerRequests(first, last int, write func(w http.ResponseWriter)) func(http.ResponseWriter, *http.Request, int) bool {
	return func(w http.ResponseWriter, _ *http.Request, n int) bool {
		if n < first || n > last {
			return false
		}
		write(w)
		return true
	}
}

// fetchAnswering fetches msgs from a v1 harness whose requests 0 to last
// are answered by write (answerRequests), and returns the harness and what
// was fetched.
func fetchAnswering(t *testing.T, msgs []string, last int, write func(http.ResponseWriter)) (*harness, fetched) {
	t.Helper()
	h := newHarness(t, msgs, nil)
	h.api.hook = answerRequests(0, last, write)
	return h, h.fetchOK(t, Messages)
}

// withStatus writes an answer with the status code and no body.
func withStatus(code int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code) }
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

// clientCalls records what a client under test reported through its hooks;
// its retries record their sleeps instead of sleeping.
type clientCalls struct {
	mu       sync.Mutex
	sleeps   []time.Duration
	retried  []error
	statuses []int
	kinds    []string
	restarts []string              // "kind reason"
	onSleep  func(d time.Duration) // runs in each retry sleep
}

func (c *clientCalls) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	f := c.onSleep
	c.mu.Unlock()
	if f != nil {
		f(d)
	}
	return ctx.Err()
}

// newTestClient is a client of the fake API at baseURL with the test's
// credentials, pages of 3, six attempts whose sleeps and retries calls
// records, a debug log into log and the clock now, changed by mod (if
// set). The test fails if the log shows the secret.
func newTestClient(t *testing.T, baseURL string, calls *clientCalls, log *testkit.Buffer, now func() time.Time, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		BaseURL:      baseURL,
		AppKey:       testAppKey,
		MasterSecret: testSecret,
		Location:     mustLoad(t, "Asia/Shanghai"),
		PageSize:     3,
		Timeout:      10 * time.Second,
		Retry: retry.Policy{
			Initial: 100 * time.Millisecond, Max: 5 * time.Second, MaxAttempts: 6,
			Sleep: calls.sleep, Jitter: func() float64 { return 0.5 },
			OnRetry: func(_ int, err error, _ time.Duration) {
				calls.mu.Lock()
				calls.retried = append(calls.retried, err)
				calls.mu.Unlock()
			},
		},
		Logger: slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    now,
		OnResponse: func(kind string, status int, _ time.Duration) {
			calls.mu.Lock()
			calls.statuses = append(calls.statuses, status)
			calls.kinds = append(calls.kinds, kind)
			calls.mu.Unlock()
		},
		OnRestart: func(kind, reason string) {
			calls.mu.Lock()
			calls.restarts = append(calls.restarts, kind+" "+reason)
			calls.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { assertNoSecret(t, "log", log.String()) })
	return c
}

type fetched struct {
	pages []Page
	err   error
}

// fetchAll runs c.Fetch, calling each (if set) with every page before
// keeping it, and checks that no error shows the secret.
func fetchAll(t *testing.T, ctx context.Context, c *Client, s Stream, w Window, each func(Page)) fetched {
	t.Helper()
	var f fetched
	f.err = c.Fetch(ctx, s, w, func(p Page) error {
		if each != nil {
			each(p)
		}
		f.pages = append(f.pages, p)
		return nil
	})
	if f.err != nil {
		assertNoSecret(t, "error", f.err.Error())
		assertNoSecret(t, "error (%+v)", fmt.Sprintf("%+v", f.err))
	}
	return f
}

// harness is a v1 client wired to a fake API with injected sleep, jitter,
// clock and logger.
type harness struct {
	api    *fakeAPI
	client *Client
	log    *testkit.Buffer
	clientCalls
}

func newHarness(t *testing.T, msgs []string, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{api: newFakeAPI(t, msgs), log: new(testkit.Buffer)}
	h.client = newTestClient(t, h.api.srv.URL, &h.clientCalls, h.log, func() time.Time { return testNow }, func(c *Config) {
		c.APIVersion = "v1"
		if mod != nil {
			mod(c)
		}
	})
	return h
}

func (h *harness) snapshot() (sleeps []time.Duration, retried []error, statuses []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sleeps), slices.Clone(h.retried), slices.Clone(h.statuses)
}

func (h *harness) fetch(t *testing.T, ctx context.Context, s Stream, w Window) fetched {
	t.Helper()
	return fetchAll(t, ctx, h.client, s, w, nil)
}

// fetchOK fetches s over testWindow and fails the test if that fails.
func (h *harness) fetchOK(t *testing.T, s Stream) fetched {
	t.Helper()
	got := h.fetch(t, context.Background(), s, testWindow)
	if got.err != nil {
		t.Fatal(got.err)
	}
	return got
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

// v2state is what a fake cursor points at.
type v2state struct {
	list   []string
	offset int
	count  int
}

// fakeV2 is an httptest server speaking the v2 Report API over a list of raw
// messages, filtered by create_time within the query's bounds read
// inclusively in Asia/Shanghai. Cursors never expire unless a hook says so.
type fakeV2 struct {
	requestLog
	t    *testing.T
	srv  *httptest.Server
	loc  *time.Location
	mu   sync.Mutex
	msgs []string

	seq     int
	cursors map[string]v2state

	// end is how the last page signals the end: "missing" (default: no
	// cursor field), "null", "empty" (cursor ""), "emptyPage" (the last data
	// page has a cursor, whose request returns no messages and another
	// cursor), "count0" (the last data page carries a cursor and count 0).
	end string
	// strings renders total and count as JSON strings.
	strings bool
	// noTotal omits total.
	noTotal bool
	// hook, if set, may answer request n (0-based) itself by returning true.
	hook func(w http.ResponseWriter, r *http.Request, n int) bool
}

func newFakeV2(t *testing.T, msgs []string) *fakeV2 {
	t.Helper()
	f := &fakeV2{t: t, msgs: msgs, loc: mustLoad(t, "Asia/Shanghai"), cursors: map[string]v2state{}}
	f.srv = fakeServer(t, &f.requestLog, f.serve,
		"GET /v2/messages", "GET /v2/users/{name}/messages", "GET /v2/groups/{name}/messages", "GET /v2/chatrooms/{name}/messages")
	return f
}

// setMsgs replaces the served messages (for later first requests).
func (f *fakeV2) setMsgs(msgs []string) {
	f.mu.Lock()
	f.msgs = msgs
	f.mu.Unlock()
}

// forget invalidates every cursor handed out so far.
func (f *fakeV2) forget() {
	f.mu.Lock()
	clear(f.cursors)
	f.mu.Unlock()
}

func badRequest(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"error":{"code":899003,"message":%q}}`, msg)
}

func (f *fakeV2) serve(w http.ResponseWriter, r *http.Request) {
	n := f.record(r)
	if f.hook != nil && f.hook(w, r, n) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	var st v2state
	if q.Has("cursor") {
		if len(q) != 1 || len(q["cursor"]) != 1 {
			badRequest(w, "a cursor request takes nothing else")
			return
		}
		var ok bool
		if st, ok = f.cursors[q.Get("cursor")]; !ok {
			badRequest(w, "cursor invalid or expired")
			return
		}
	} else {
		if len(q) != 3 || !q.Has("count") || !q.Has("begin_time") || !q.Has("end_time") {
			badRequest(w, "count, begin_time and end_time are required")
			return
		}
		count, err := strconv.Atoi(q.Get("count"))
		if err != nil || count < 1 || count > 1000 {
			badRequest(w, "count invalid")
			return
		}
		wb, err1 := time.Parse(TimeLayout, q.Get("begin_time"))
		we, err2 := time.Parse(TimeLayout, q.Get("end_time"))
		if err1 != nil || err2 != nil || we.Before(wb) {
			badRequest(w, "begin_time or end_time invalid")
			return
		}
		if we.Sub(wb) > MaxQuerySpan {
			badRequest(w, "end_time - begin_time exceeds 7 days")
			return
		}
		begin, _ := ParseAPITime(q.Get("begin_time"), f.loc)
		end, _ := ParseAPITime(q.Get("end_time"), f.loc)
		for _, m := range f.msgs {
			dm, err := DecodeMessage([]byte(m))
			if err != nil {
				f.t.Errorf("fake: test message %s: %v", m, err)
			}
			if ct := time.Unix(dm.CreateTime, 0); !ct.Before(begin) && !ct.After(end) {
				st.list = append(st.list, m)
			}
		}
		st.count = count
	}
	page := st.list[min(st.offset, len(st.list)):min(st.offset+st.count, len(st.list))]
	next := st.offset + len(page)
	num := func(v int) string {
		if f.strings {
			return strconv.Quote(strconv.Itoa(v))
		}
		return strconv.Itoa(v)
	}
	newCursor := func() string {
		f.seq++
		c := fmt.Sprintf("c+/ %d=", f.seq) // needs escaping
		f.cursors[c] = v2state{list: st.list, offset: next, count: st.count}
		return strconv.Quote(c)
	}
	var fields []string
	if !f.noTotal {
		fields = append(fields, `"total":`+num(len(st.list)))
	}
	countField := `"count":` + num(len(page))
	switch {
	case next < len(st.list):
		fields = append(fields, `"cursor":`+newCursor())
	case f.end == "null":
		fields = append(fields, `"cursor":null`)
	case f.end == "empty":
		fields = append(fields, `"cursor":""`)
	case f.end == "emptyPage":
		fields = append(fields, `"cursor":`+newCursor())
	case f.end == "count0":
		fields = append(fields, `"cursor":`+newCursor())
		countField = `"count":` + num(0)
	}
	fields = append(fields, countField, `"messages":[`+strings.Join(page, ",")+`]`)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	io.WriteString(w, "{"+strings.Join(fields, ", ")+"}")
}

// v2harness is a v2 client wired to a fake API with an injected clock, sleep,
// jitter and logger.
type v2harness struct {
	api    *fakeV2
	client *Client
	clock  *testkit.Clock
	log    *testkit.Buffer
	clientCalls
}

func newV2Harness(t *testing.T, msgs []string, mod func(*Config)) *v2harness {
	t.Helper()
	h := &v2harness{api: newFakeV2(t, msgs), log: new(testkit.Buffer), clock: testkit.NewClock(testNow)}
	h.client = newTestClient(t, h.api.srv.URL, &h.clientCalls, h.log, h.clock.Now, mod)
	if h.client.APIVersion() != "v2" {
		t.Fatalf("APIVersion() = %q, want v2 by default", h.client.APIVersion())
	}
	return h
}

func (h *v2harness) snapshot() (sleeps []time.Duration, retried []error, restarts []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sleeps), slices.Clone(h.retried), slices.Clone(h.restarts)
}

// fetch runs Fetch, calling each (if set) with every page before recording it.
func (h *v2harness) fetch(t *testing.T, s Stream, w Window, each func(Page)) fetched {
	t.Helper()
	return fetchAll(t, context.Background(), h.client, s, w, each)
}

// fetchOK fetches s over testWindow and fails the test on an error.
func (h *v2harness) fetchOK(t *testing.T, s Stream) fetched {
	t.Helper()
	got := h.fetch(t, s, testWindow, nil)
	if got.err != nil {
		t.Fatal(got.err)
	}
	return got
}

// isFirst reports whether r is a first request (not a cursor request).
func isFirst(r request) bool { return !r.Query.Has("cursor") }

// kindsOf summarises requests as "F" (first) and "C" (cursor).
func kindsOf(reqs []request) string {
	var b strings.Builder
	for _, r := range reqs {
		if isFirst(r) {
			b.WriteByte('F')
		} else {
			b.WriteByte('C')
		}
	}
	return b.String()
}

// distinct returns the messages in first-seen order, without repeats.
func distinct(msgs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range msgs {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}
