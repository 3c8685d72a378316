package source

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/internal/testkit"
)

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
	mux := http.NewServeMux()
	for _, p := range []string{"GET /v2/messages", "GET /v2/users/{name}/messages", "GET /v2/groups/{name}/messages", "GET /v2/chatrooms/{name}/messages"} {
		mux.HandleFunc(p, f.serve)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		http.Error(w, `{"error":{"code":899000,"message":"no route"}}`, http.StatusNotFound)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
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

	mu       sync.Mutex
	sleeps   []time.Duration
	retried  []error
	restarts []string // "kind reason"
	kinds    []string
	onSleep  func(d time.Duration) // runs in each retry sleep
}

func newV2Harness(t *testing.T, msgs []string, mod func(*Config)) *v2harness {
	t.Helper()
	h := &v2harness{api: newFakeV2(t, msgs), log: new(testkit.Buffer), clock: testkit.NewClock(testNow)}
	cfg := Config{
		BaseURL:      h.api.srv.URL,
		AppKey:       testAppKey,
		MasterSecret: testSecret,
		Location:     mustLoad(t, "Asia/Shanghai"),
		PageSize:     3,
		Timeout:      10 * time.Second,
		Retry: retry.Policy{
			Initial: 100 * time.Millisecond, Max: 5 * time.Second, MaxAttempts: 6,
			Sleep: func(ctx context.Context, d time.Duration) error {
				h.mu.Lock()
				h.sleeps = append(h.sleeps, d)
				f := h.onSleep
				h.mu.Unlock()
				if f != nil {
					f(d)
				}
				return ctx.Err()
			},
			Jitter: func() float64 { return 0.5 },
			OnRetry: func(_ int, err error, _ time.Duration) {
				h.mu.Lock()
				h.retried = append(h.retried, err)
				h.mu.Unlock()
			},
		},
		Logger: slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    h.clock.Now,
		OnResponse: func(kind string, _ int, _ time.Duration) {
			h.mu.Lock()
			h.kinds = append(h.kinds, kind)
			h.mu.Unlock()
		},
		OnRestart: func(kind, reason string) {
			h.mu.Lock()
			h.restarts = append(h.restarts, kind+" "+reason)
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
	if c.APIVersion() != "v2" {
		t.Fatalf("APIVersion() = %q, want v2 by default", c.APIVersion())
	}
	h.client = c
	t.Cleanup(func() { assertNoSecret(t, "log", h.log.String()) })
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
	var f fetched
	f.err = h.client.Fetch(context.Background(), s, w, func(p Page) error {
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
