package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

func TestFetchRequestShape(t *testing.T) {
	msgs := testMsgs(2)
	h := newHarness(t, msgs, nil)
	got := h.fetchOK(t, Messages)
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
			got := h.fetchOK(t, Messages)
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

// TestFetchV1TotalChanged: a message appearing inside an already-paged range
// changes the total; the walk restarts at start=0 so that nothing shifted out
// of reach is skipped.
func TestFetchV1TotalChanged(t *testing.T) {
	msgs := testMsgs(8)
	inserted := msgs[1]
	var mu sync.Mutex
	served := append([]string{msgs[0]}, msgs[2:]...) // without the late message
	var restarts []string
	h := newHarness(t, nil, func(c *Config) {
		c.OnRestart = func(kind, reason string) { restarts = append(restarts, kind+" "+reason) }
	})
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		mu.Lock()
		defer mu.Unlock()
		if n == 1 {
			served = msgs // the late message appears at offset 1
		}
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		count, _ := strconv.Atoi(r.URL.Query().Get("count"))
		writePage(w, served, start, count, 0, nil)
		return true
	}
	got := h.fetch(t, context.Background(), Messages, testWindow)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if s := starts(h.api.requests()); !slices.Equal(s, []string{"0", "3", "0", "3", "6"}) {
		t.Errorf("starts %v", s)
	}
	if !slices.Contains(messagesOf(got.pages), inserted) || !slices.Equal(distinct(messagesOf(got.pages)), append([]string{msgs[0], msgs[2], msgs[3]}, msgs[1], msgs[4], msgs[5], msgs[6], msgs[7])) {
		t.Errorf("messages %q", distinct(messagesOf(got.pages)))
	}
	var walks []int
	for _, p := range got.pages {
		walks = append(walks, p.Walk)
	}
	if !slices.Equal(walks, []int{0, 1, 1, 1}) {
		t.Errorf("walks %v, want [0 1 1 1] (the page with the new total is not delivered)", walks)
	}
	if !slices.Equal(restarts, []string{"messages total_changed"}) {
		t.Errorf("OnRestart %v", restarts)
	}
}

// TestFetchV1TotalKeepsChanging: restarts are bounded; after them the walk
// finishes with a warning.
func TestFetchV1TotalKeepsChanging(t *testing.T) {
	msgs := testMsgs(7)
	restarts := 0
	h := newHarness(t, msgs, func(c *Config) { c.OnRestart = func(string, string) { restarts++ } })
	var mu sync.Mutex
	calls := 0
	h.api.total = func() string {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return strconv.Itoa(6 + calls) // 7, 8, 9, ...: different on every page
	}
	got := h.fetch(t, context.Background(), Messages, testWindow)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if restarts != maxTotalRestarts {
		t.Errorf("%d restarts, want %d", restarts, maxTotalRestarts)
	}
	want := strings.Repeat("0 3 ", maxTotalRestarts) + "0 3 6 7" // the last short page is below its total
	if s := strings.Join(starts(h.api.requests()), " "); s != want {
		t.Errorf("starts %s\n  want %s", s, want)
	}
	if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
		t.Errorf("messages not all delivered")
	}
	if n := strings.Count(h.log.String(), `"level":"WARN"`); n != 1 || !strings.Contains(h.log.String(), "keeps changing") {
		t.Errorf("%d warnings, want one:\n%s", n, h.log.String())
	}
	if last := got.pages[len(got.pages)-1]; last.Walk != maxTotalRestarts {
		t.Errorf("last page Walk %d", last.Walk)
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
			got := h.fetchOK(t, User(name))
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

// TestCount: Count asks for one message and reads the total, on both API
// versions.
func TestCount(t *testing.T) {
	t.Run("v1", func(t *testing.T) {
		h := newHarness(t, testMsgs(7), nil)
		h.api.hook = answerRequests(0, 0, withStatus(503))
		n, err := h.client.Count(context.Background(), User("bob"), testWindow)
		if err != nil || n != 7 {
			t.Fatalf("Count = %d, %v; want 7", n, err)
		}
		reqs := h.api.requests()
		want := "start=0&count=1&begin_time=2015-11-02%2010%3A10%3A09&end_time=2015-11-02%2010%3A10%3A12"
		if len(reqs) != 2 || reqs[1].Path != "/v1/users/bob/messages" || reqs[1].RawQuery != want || reqs[0].RawQuery != want {
			t.Errorf("requests %+v, want the 503 retried as %q", reqs, want)
		}
	})
	t.Run("v1 no total", func(t *testing.T) {
		h := newHarness(t, testMsgs(7), nil)
		h.api.total = func() string { return "null" }
		if n, err := h.client.Count(context.Background(), Messages, testWindow); err == nil || !strings.Contains(err.Error(), "no total") {
			t.Errorf("Count = %d, %v; want a no-total error", n, err)
		}
	})
	t.Run("v2", func(t *testing.T) {
		h := newV2Harness(t, testMsgs(7), nil)
		h.api.strings = true
		n, err := h.client.Count(context.Background(), Group("g1"), testWindow)
		if err != nil || n != 7 {
			t.Fatalf("Count = %d, %v; want 7", n, err)
		}
		reqs := h.api.requests()
		want := "count=1&begin_time=2015-11-02%2010%3A10%3A09&end_time=2015-11-02%2010%3A10%3A12"
		if len(reqs) != 1 || reqs[0].Path != "/v2/groups/g1/messages" || reqs[0].RawQuery != want {
			t.Errorf("requests %+v, want one %q", reqs, want)
		}
	})
	t.Run("v2 no total", func(t *testing.T) {
		h := newV2Harness(t, testMsgs(7), nil)
		h.api.noTotal = true
		if n, err := h.client.Count(context.Background(), Messages, testWindow); err == nil || retry.Temporary(err) || !strings.Contains(err.Error(), "no total") {
			t.Errorf("Count = %d, %v; want a permanent no-total error", n, err)
		}
	})
	t.Run("v2 split window sums the parts", func(t *testing.T) {
		sh := mustLoad(t, "Asia/Shanghai")
		from := time.Date(2025, 3, 1, 0, 0, 0, 0, sh)
		var msgs []string
		for i := range 20 {
			ct := from.Add(time.Duration(i) * 36 * time.Hour).Unix()
			msgs = append(msgs, fmt.Sprintf(`{"msgid":%d,"msg_type":"text","target_type":"single","target_id":"b","from_id":"a","create_time":%d,"msg_ctime":%d}`, 1+i, ct, ct*1000))
		}
		h := newV2Harness(t, msgs, nil)
		n, err := h.client.Count(context.Background(), Messages, Window{from, from.Add(30 * 24 * time.Hour)})
		if err != nil || n != 20 {
			t.Fatalf("Count = %d, %v; want 20", n, err)
		}
		if reqs := h.api.requests(); len(reqs) != 5 {
			t.Errorf("%d requests, want 5", len(reqs))
		}
	})
	t.Run("invalid window", func(t *testing.T) {
		h := newV2Harness(t, nil, nil)
		if _, err := h.client.Count(context.Background(), Messages, Window{}); err == nil {
			t.Error("Count of an empty window succeeded")
		}
	})
}

// Retries: 429 with Retry-After, server errors and bad bodies are retried
// until the retry budget is spent; timeouts and refused connections too.

func TestFetch429RetryAfter(t *testing.T) {
	msgs := testMsgs(2)
	h, got := fetchAnswering(t, msgs, 0, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "rate limited")
	})
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
	h.api.hook = answerRequests(0, 0, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", testNow.Add(20*time.Second).Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	})
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
			h, got := fetchAnswering(t, msgs, 1, c.write)
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
			h, got := fetchAnswering(t, msgs, 0, c.write)
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
