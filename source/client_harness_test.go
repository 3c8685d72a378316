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
