package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

func TestFetchV2Endpoints(t *testing.T) {
	for _, c := range []struct {
		s          Stream
		path       string // as sent
		begin, end string
		kind       string
	}{
		// /v2/messages is inclusive: [From, To-1s].
		{Messages, "/v2/messages", "2015-11-02 10:10:10", "2015-11-02 10:10:11", "messages"},
		// The others are queried as strict: (From-1s, To).
		{User("a b"), "/v2/users/a%20b/messages", "2015-11-02 10:10:09", "2015-11-02 10:10:12", "users"},
		{Group("g/1"), "/v2/groups/g%2F1/messages", "2015-11-02 10:10:09", "2015-11-02 10:10:12", "groups"},
		{Chatroom("房间?1"), "/v2/chatrooms/" + url.PathEscape("房间?1") + "/messages", "2015-11-02 10:10:09", "2015-11-02 10:10:12", "chatrooms"},
	} {
		t.Run(c.s.String(), func(t *testing.T) {
			msgs := testMsgs(7)
			h := newV2Harness(t, msgs, nil)
			got := h.fetchOK(t, c.s)
			reqs := h.api.requests()
			if kindsOf(reqs) != "FCC" {
				t.Fatalf("requests %s, want FCC", kindsOf(reqs))
			}
			for i, r := range reqs {
				if p, _, _ := strings.Cut(r.EscapedURI, "?"); r.Method != http.MethodGet || p != c.path {
					t.Errorf("request %d: %s %s, want GET %s", i, r.Method, p, c.path)
				}
				if r.Header.Get("Authorization") != testAuth {
					t.Errorf("request %d: Authorization %q", i, r.Header.Get("Authorization"))
				}
			}
			want := "count=3&begin_time=" + strings.ReplaceAll(c.begin, " ", "%20") + "&end_time=" + strings.ReplaceAll(c.end, " ", "%20")
			want = strings.ReplaceAll(want, ":", "%3A")
			if reqs[0].RawQuery != want {
				t.Errorf("first RawQuery %q\n                want %q", reqs[0].RawQuery, want)
			}
			// Cursor requests carry the cursor only, escaped (it holds '+',
			// '/', ' ' and '='), with %20 for the space.
			for i, r := range reqs[1:] {
				wantCursor := fmt.Sprintf("c+/ %d=", i+1)
				if len(r.Query) != 1 || r.Query.Get("cursor") != wantCursor {
					t.Errorf("cursor request %d: query %v, want only cursor=%q", i+1, r.Query, wantCursor)
				}
				if r.RawQuery != "cursor="+strings.ReplaceAll(url.QueryEscape(wantCursor), "+", "%20") || strings.Contains(r.RawQuery, "+") {
					t.Errorf("cursor request %d: RawQuery %q", i+1, r.RawQuery)
				}
			}
			if !slices.Equal(messagesOf(got.pages), msgs) {
				t.Errorf("messages not byte-exact:\n got %q\nwant %q", messagesOf(got.pages), msgs)
			}
			for i, p := range got.pages {
				escaped, _, _ := strings.Cut(reqs[i].EscapedURI, "?")
				if p.Stream != c.s || p.Window != testWindow || p.Part != testWindow || p.Endpoint != escaped ||
					p.Start != 3*i || p.Total != 7 || p.Walk != 0 || !p.FetchedAt.Equal(testNow) {
					t.Errorf("page %d = %+v", i, p)
				}
			}
			h.mu.Lock()
			kinds := slices.Clone(h.kinds)
			h.mu.Unlock()
			if !slices.Equal(kinds, []string{c.kind, c.kind, c.kind}) {
				t.Errorf("OnResponse kinds %v", kinds)
			}
		})
	}
}

func TestFetchV2EndSignals(t *testing.T) {
	for _, c := range []struct {
		name    string
		end     string
		n       int    // messages
		strs    bool   // numbers as strings
		noTotal bool   // no total field
		want    string // request kinds
	}{
		{"cursor missing", "missing", 7, false, false, "FCC"},
		{"cursor missing, numbers as strings", "missing", 7, true, false, "FCC"},
		{"cursor missing, no total", "missing", 7, false, true, "FCC"},
		{"cursor null", "null", 7, false, false, "FCC"},
		{"cursor empty", "empty", 7, false, false, "FCC"},
		{"empty page with a cursor", "emptyPage", 7, false, false, "FCCC"},
		{"empty page with a cursor, exact multiple", "emptyPage", 6, false, false, "FCC"},
		{"count 0 with a cursor", "count0", 7, false, false, "FCC"},
		{"count \"0\" with a cursor", "count0", 7, true, false, "FCC"},
		{"no messages at all: cursor missing", "missing", 0, false, false, "F"},
		{"no messages at all: empty page with a cursor", "emptyPage", 0, false, false, "F"},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(c.n)
			h := newV2Harness(t, msgs, nil)
			h.api.end, h.api.strings, h.api.noTotal = c.end, c.strs, c.noTotal
			got := h.fetchOK(t, Group("g1"))
			if k := kindsOf(h.api.requests()); k != c.want {
				t.Errorf("requests %s, want %s", k, c.want)
			}
			if !slices.Equal(messagesOf(got.pages), msgs) {
				t.Errorf("messages %q, want %q", messagesOf(got.pages), msgs)
			}
			for _, p := range got.pages {
				if len(p.Messages) == 0 {
					t.Errorf("an empty page was delivered: %+v", p)
				}
				if wantTotal := c.n; c.noTotal {
					if p.Total != int(^uint(0)>>1) {
						t.Errorf("Total %d without a total field, want math.MaxInt", p.Total)
					}
				} else if p.Total != wantTotal {
					t.Errorf("Total %d, want %d", p.Total, wantTotal)
				}
			}
		})
	}
}

func TestFetchV2SplitsLongWindows(t *testing.T) {
	sh := mustLoad(t, "Asia/Shanghai")
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, sh)
	w := Window{from, from.Add(30 * 24 * time.Hour)}
	// 40 messages 18 hours apart, from the window's first second.
	var msgs []string
	for i := range 40 {
		ct := from.Add(time.Duration(i) * 18 * time.Hour).Unix()
		msgs = append(msgs, fmt.Sprintf(`{"msgid":%d,"msg_type":"text","target_type":"group","target_id":"g1","from_id":"u","create_time":%d,"msg_ctime":%d,"msg_body":{"text":"x"}}`, 5000+i, ct, ct*1000))
	}
	for _, s := range []Stream{Messages, Group("g1")} {
		t.Run(s.String(), func(t *testing.T) {
			h := newV2Harness(t, msgs, nil)
			got := h.fetch(t, s, w, nil)
			if got.err != nil {
				t.Fatal(got.err)
			}
			parts := splitWindow(w, sh, s.bounds(), MaxQuerySpan)
			if len(parts) != 5 {
				t.Fatalf("%d parts, want 5", len(parts))
			}
			// One first request per part, in order, with the part's bounds;
			// every query within 7 days.
			var firsts []request
			for _, r := range h.api.requests() {
				if isFirst(r) {
					firsts = append(firsts, r)
				}
			}
			if len(firsts) != len(parts) {
				t.Fatalf("%d first requests, want %d", len(firsts), len(parts))
			}
			for i, r := range firsts {
				begin, end := QueryBounds(parts[i], sh, s.bounds())
				if r.Query.Get("begin_time") != begin || r.Query.Get("end_time") != end || r.Query.Get("count") != "3" {
					t.Errorf("part %d: query %v, want %q .. %q", i, r.Query, begin, end)
				}
				b, _ := time.Parse(TimeLayout, begin)
				e, _ := time.Parse(TimeLayout, end)
				if e.Sub(b) > MaxQuerySpan {
					t.Errorf("part %d spans %v", i, e.Sub(b))
				}
			}
			// Every message once, in order (no message sits on a part's
			// boundary second).
			if !slices.Equal(messagesOf(got.pages), msgs) {
				t.Errorf("got %d messages, want the %d in order", len(messagesOf(got.pages)), len(msgs))
			}
			// Pages name their part; Start counts within the part's walk.
			part, start := 0, 0
			for _, p := range got.pages {
				if p.Window != w {
					t.Errorf("page Window %v, want %v", p.Window, w)
				}
				for p.Part != parts[part] {
					part, start = part+1, 0
					if part == len(parts) {
						t.Fatalf("page Part %v is not a part, or out of order", p.Part)
					}
				}
				if p.Start != start {
					t.Errorf("page Start %d, want %d", p.Start, start)
				}
				start += len(p.Messages)
			}
		})
	}
}

// TestSplitWindow checks the 7-day split on the query strings: consecutive
// parts that cover the window, each of whose queries spans at most 7 days
// under every reading of its strings (wall clock, and each valid offset of
// either string), and, away from offset changes, as few parts as possible.
func TestSplitWindow(t *testing.T) {
	const day = 24 * time.Hour
	sh := mustLoad(t, "Asia/Shanghai")
	ny := mustLoad(t, "America/New_York")
	type start struct {
		name string
		loc  *time.Location
		from time.Time
	}
	starts := []start{
		{"shanghai", sh, time.Date(2025, 5, 1, 10, 0, 0, 0, sh)},
		// Each window contains an offset change.
		{"new york fall back", ny, time.Date(2025, 10, 27, 1, 30, 0, 0, ny)},
		{"new york spring forward", ny, time.Date(2025, 3, 3, 2, 30, 0, 0, ny)},
		// The end falls in the repeated hour 01:00-02:00 of 2025-11-02.
		{"new york ending in the repeated hour", ny, time.Date(2025, 10, 26, 1, 30, 0, 0, ny)},
	}
	lengths := []struct {
		name string
		d    time.Duration
		// parts in Shanghai, inclusive and strict
		inclusive, strict int
	}{
		{"7d-1s", 7*day - time.Second, 1, 1},
		{"7d", 7 * day, 1, 2},
		{"7d+1s", 7*day + time.Second, 1, 2},
		{"7d+2s", 7*day + 2*time.Second, 2, 2},
		{"30d", 30 * day, 5, 5},
	}
	for _, st := range starts {
		for _, l := range lengths {
			for _, b := range []Bounds{Inclusive, Strict} {
				name := fmt.Sprintf("%s/%s/%s", st.name, l.name, map[Bounds]string{Inclusive: "inclusive", Strict: "strict"}[b])
				t.Run(name, func(t *testing.T) {
					w := Window{st.from, st.from.Add(l.d)}
					parts := splitWindow(w, st.loc, b, MaxQuerySpan)
					if len(parts) == 0 || !parts[0].From.Equal(w.From) || !parts[len(parts)-1].To.Equal(w.To) {
						t.Fatalf("parts %v do not cover %v", parts, w)
					}
					offs := zoneOffsets(w, st.loc)
					for i, p := range parts {
						if err := p.Valid(); err != nil {
							t.Errorf("part %d: %v", i, err)
						}
						if i > 0 && !p.From.Equal(parts[i-1].To) {
							t.Errorf("part %d starts at %v, not where part %d ended (%v)", i, p.From, i-1, parts[i-1].To)
						}
						begin, end := QueryBounds(p, st.loc, b)
						wb, _ := time.Parse(TimeLayout, begin)
						we, _ := time.Parse(TimeLayout, end)
						if we.Sub(wb) > MaxQuerySpan {
							t.Errorf("part %d: %q .. %q spans %v on the wall clock", i, begin, end, we.Sub(wb))
						}
						for _, rb := range readings(t, begin, st.loc, offs, false) {
							for _, re := range readings(t, end, st.loc, offs, false) {
								if re.Sub(rb) > MaxQuerySpan {
									t.Errorf("part %d: %q .. %q read as %v .. %v spans %v", i, begin, end, rb.UTC(), re.UTC(), re.Sub(rb))
								}
							}
						}
						// Each part's query still covers the part.
						checkCovers(t, p, st.loc, b, begin, end, false)
						// No part but the last could be a second longer.
						if i < len(parts)-1 && st.loc == sh {
							longer := Window{p.From, p.To.Add(time.Second)}
							lb, le := QueryBounds(longer, st.loc, b)
							if querySpan(lb, le, st.loc) <= MaxQuerySpan {
								t.Errorf("part %d %v could be a second longer", i, p)
							}
						}
					}
					if st.loc == sh {
						want := l.inclusive
						if b == Strict {
							want = l.strict
						}
						if len(parts) != want {
							t.Errorf("%d parts, want %d: %v", len(parts), want, parts)
						}
					} else if len(parts) > l.strict+1 {
						t.Errorf("%d parts: %v", len(parts), parts)
					}
					t.Logf("%d parts", len(parts))
				})
			}
		}
	}
}

func TestFetchV2CallbackErrorStops(t *testing.T) {
	h := newV2Harness(t, testMsgs(9), nil)
	stop := errors.New("stop here")
	calls := 0
	err := h.client.Fetch(context.Background(), Messages, testWindow, func(Page) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 || len(h.api.requests()) != 2 {
		t.Errorf("Fetch = %v after %d calls and %d requests, want the callback's error after 2 and 2", err, calls, len(h.api.requests()))
	}
}

func TestFetchUnsupportedStream(t *testing.T) {
	h := newHarness(t, testMsgs(1), nil) // v1
	for _, s := range []Stream{Group("g1"), Chatroom("c1"), {Kind: "statistic"}, User(""), {Kind: KindMessages, Name: "x"}} {
		err := h.fetch(t, context.Background(), s, testWindow).err
		if err == nil || retry.Temporary(err) {
			t.Errorf("Fetch(%v) = %v, want a permanent error", s, err)
		}
		if _, cerr := h.client.Count(context.Background(), s, testWindow); cerr == nil || retry.Temporary(cerr) {
			t.Errorf("Count(%v) = %v, want a permanent error", s, cerr)
		}
		if s.Kind == KindGroups || s.Kind == KindChatrooms {
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "v1 has no "+string(s.Kind)) {
				t.Errorf("Fetch(%v) = %v, want ErrUnsupported", s, err)
			}
		}
	}
	if n := len(h.api.requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

func TestStreamSupported(t *testing.T) {
	for _, c := range []struct {
		s       Stream
		version string
		ok      bool
	}{
		{Messages, "v1", true}, {Messages, "v2", true}, {Messages, "", true},
		{User("u"), "v1", true}, {User("u"), "v2", true},
		{Group("g"), "v2", true}, {Group("g"), "", true}, {Group("g"), "v1", false},
		{Chatroom("c"), "v2", true}, {Chatroom("c"), "v1", false},
		{Messages, "v3", false}, {Group(""), "v2", false}, {User(""), "v1", false},
		{Stream{Kind: "things", Name: "x"}, "v2", false},
	} {
		err := c.s.Supported(c.version)
		if (err == nil) != c.ok {
			t.Errorf("%v.Supported(%q) = %v", c.s, c.version, err)
		}
		if c.ok == false && err != nil && (c.s.Kind == KindGroups || c.s.Kind == KindChatrooms) && c.s.Name != "" && c.version == "v1" && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v.Supported(v1) = %v, want ErrUnsupported", c.s, err)
		}
	}
}

func TestNewV2Options(t *testing.T) {
	base := Config{BaseURL: "http://127.0.0.1:1", AppKey: testAppKey, MasterSecret: testSecret}
	for _, c := range []struct {
		mod     func(*Config)
		version string
		ttl     time.Duration
		err     string
	}{
		{func(*Config) {}, "v2", DefaultCursorTTL, ""},
		{func(c *Config) { c.APIVersion = "v1" }, "v1", DefaultCursorTTL, ""},
		{func(c *Config) { c.APIVersion = "v2"; c.CursorTTL = time.Minute }, "v2", time.Minute, ""},
		{func(c *Config) { c.APIVersion = "V2" }, "", 0, `api version "V2" is not v1 or v2`},
		{func(c *Config) { c.APIVersion = "v3" }, "", 0, `api version "v3" is not v1 or v2`},
		{func(c *Config) { c.CursorTTL = -time.Second }, "", 0, "cursor TTL -1s is negative"},
	} {
		cfg := base
		c.mod(&cfg)
		client, err := New(cfg)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("New(%+v) = %v, want %q", cfg.APIVersion, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("New: %v", err)
			continue
		}
		if client.APIVersion() != c.version || client.cfg.CursorTTL != c.ttl {
			t.Errorf("APIVersion %q, CursorTTL %v; want %q, %v", client.APIVersion(), client.cfg.CursorTTL, c.version, c.ttl)
		}
	}
}

// The cursor walk: cursors rejected, forgotten or repeated, requests retried
// mid-walk, and stalls (a cursor whose page never moves on).

// TestFetchV2CursorRejected: a cursor request answered as if the cursor
// expired (or is unknown) restarts the walk from the first request; every
// message is delivered at least once, the pages after the restart with Walk 1.
func TestFetchV2CursorRejected(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
	}{
		{"400 vendor body", 400, `{"error":{"code":899003,"message":"cursor expired"}}`},
		{"400 empty", 400, ``},
		{"404", 404, `{"error":{"code":899000,"message":"not found"}}`},
		{"410", 410, `gone`},
		{"200 with a permanent vendor error", 200, `{"error":{"code":899003,"message":"cursor invalid"}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(10)
			h := newV2Harness(t, msgs, nil)
			h.api.hook = answerRequests(2, 2, func(w http.ResponseWriter) { // the second cursor request
				w.WriteHeader(c.status)
				io.WriteString(w, c.body)
			})
			got := h.fetchOK(t, Messages)
			if k := kindsOf(h.api.requests()); k != "FCCFCCC" {
				t.Errorf("requests %s, want FCC (rejected) then FCCC", k)
			}
			if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
				t.Errorf("messages not all delivered: %q", distinct(messagesOf(got.pages)))
			}
			var walks []int
			for _, p := range got.pages {
				walks = append(walks, p.Walk)
			}
			if !slices.Equal(walks, []int{0, 0, 1, 1, 1, 1}) {
				t.Errorf("page walks %v", walks)
			}
			sleeps, _, restarts := h.snapshot()
			if len(sleeps) != 0 {
				t.Errorf("a rejected cursor was retried: sleeps %v", sleeps)
			}
			if !slices.Equal(restarts, []string{"messages cursor_rejected"}) {
				t.Errorf("OnRestart %v", restarts)
			}
		})
	}
}

// TestFetchV2CursorForgotten: the server forgets every cursor while fn
// runs (the real cursor expired); the walk restarts, more than once.
func TestFetchV2CursorForgotten(t *testing.T) {
	msgs := testMsgs(10)
	h := newV2Harness(t, msgs, nil)
	calls := 0
	got := h.fetch(t, Group("g1"), testWindow, func(p Page) {
		calls++
		if calls == 2 || calls == 4 {
			h.api.forget()
		}
	})
	if got.err != nil {
		t.Fatal(got.err)
	}
	if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
		t.Errorf("messages not all delivered")
	}
	if k := kindsOf(h.api.requests()); k != "FCCFCCFCCC" {
		t.Errorf("requests %s", k)
	}
	if _, _, restarts := h.snapshot(); len(restarts) != 2 {
		t.Errorf("OnRestart %v, want two", restarts)
	}
}

// TestFetchV2CursorRequestRetried: temporary failures of a cursor request
// (5xx, 429, the vendor's timeout code in a 400, a cut body) are retried with
// the same cursor, without restarting the walk.
func TestFetchV2CursorRequestRetried(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(w http.ResponseWriter)
		te    bool // the retried error is a *TransportError
	}{
		{"503", func(w http.ResponseWriter) { w.WriteHeader(503) }, false},
		{"500 vendor 899000", func(w http.ResponseWriter) {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"code":899000,"message":"Server Error"}}`)
		}, false},
		{"429 Retry-After", func(w http.ResponseWriter) { w.Header().Set("Retry-After", "3"); w.WriteHeader(429) }, false},
		{"400 vendor 899030 (server timeout)", func(w http.ResponseWriter) {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":899030,"message":"server timeout"}}`)
		}, false},
		{"200 JSON cut short", func(w http.ResponseWriter) { io.WriteString(w, `{"total":7,"cursor":"x","messages":[{"msgid":1`) }, true},
		{"200 HTML", func(w http.ResponseWriter) { io.WriteString(w, `<html>gateway</html>`) }, true},
		{"200 cursor an object", func(w http.ResponseWriter) { io.WriteString(w, `{"total":7,"cursor":{},"messages":[]}`) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(7)
			h := newV2Harness(t, msgs, nil)
			h.api.hook = answerRequests(1, 2, c.write)
			got := h.fetchOK(t, User("u1"))
			reqs := h.api.requests()
			if k := kindsOf(reqs); k != "FCCCC" {
				t.Fatalf("requests %s, want FCCCC", k)
			}
			if reqs[1].RawQuery != reqs[3].RawQuery || reqs[2].RawQuery != reqs[3].RawQuery {
				t.Errorf("retries changed the cursor: %q %q %q", reqs[1].RawQuery, reqs[2].RawQuery, reqs[3].RawQuery)
			}
			sleeps, retried, restarts := h.snapshot()
			if len(sleeps) != 2 || len(retried) != 2 || len(restarts) != 0 {
				t.Errorf("sleeps %v, retried %v, restarts %v", sleeps, retried, restarts)
			}
			for _, err := range retried {
				var te *TransportError
				if !retry.Temporary(err) || errors.As(err, &te) != c.te {
					t.Errorf("retried after %T %v", err, err)
				}
			}
			if !slices.Equal(messagesOf(got.pages), msgs) {
				t.Errorf("messages %q", messagesOf(got.pages))
			}
		})
	}
}

// TestFetchV2FirstRequestMalformed: a truncated 200 body on a first request is
// a temporary *TransportError, retried.
func TestFetchV2FirstRequestMalformed(t *testing.T) {
	msgs := testMsgs(2)
	h := newV2Harness(t, msgs, nil)
	h.api.hook = answerRequests(0, 0, func(w http.ResponseWriter) {
		w.Header().Set("Content-Length", "500")
		io.WriteString(w, `{"total":2,"cursor":"a","mess`)
	})
	got := h.fetchOK(t, Messages)
	_, retried, _ := h.snapshot()
	var te *TransportError
	if len(retried) != 1 || !errors.As(retried[0], &te) || !te.Temporary() || te.Endpoint != "/v2/messages" {
		t.Fatalf("retried after %v, want one *TransportError", retried)
	}
	if k := kindsOf(h.api.requests()); k != "FF" || !slices.Equal(messagesOf(got.pages), msgs) {
		t.Errorf("requests %s, messages %q", k, messagesOf(got.pages))
	}
}

// TestFetchV2RepeatedCursor: a server sending back a cursor already seen in
// the walk makes the walk restart; the fourth time, Fetch fails with a
// permanent error naming the endpoint and the window.
func TestFetchV2RepeatedCursor(t *testing.T) {
	page := func(w http.ResponseWriter, cursor string) {
		io.WriteString(w, `{"total":10,"cursor":"`+cursor+`","count":3,"messages":[`+strings.Join(testMsgs(3), ",")+`]}`)
	}
	t.Run("forever", func(t *testing.T) {
		h := newV2Harness(t, nil, nil)
		h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
			page(w, "same")
			return true
		}
		got := h.fetch(t, Group("g1"), testWindow, nil)
		var re *RestartError
		if !errors.As(got.err, &re) || re.Reason != RestartCursorRepeated || re.Restarts != maxCursorLoops {
			t.Fatalf("Fetch = %v, want a *RestartError after %d loops", got.err, maxCursorLoops)
		}
		if retry.Temporary(got.err) {
			t.Error("a cursor loop is temporary")
		}
		for _, want := range []string{"/v2/groups/g1/messages", testWindow.String(), "repeating a cursor", "fetch groups/g1"} {
			if !strings.Contains(got.err.Error(), want) {
				t.Errorf("error %q lacks %q", got.err, want)
			}
		}
		if k := kindsOf(h.api.requests()); k != "FCFCFCFC" {
			t.Errorf("requests %s, want 4 walks of FC", k)
		}
		// The page that came with the repeated cursor is not delivered.
		if len(got.pages) != 4 {
			t.Errorf("%d pages, want 4 (one per walk)", len(got.pages))
		}
		if _, _, restarts := h.snapshot(); len(restarts) != maxCursorLoops {
			t.Errorf("OnRestart %v", restarts)
		}
		if !strings.Contains(h.log.String(), `"level":"WARN"`) {
			t.Error("no warning logged for a cursor loop")
		}
	})
	t.Run("once", func(t *testing.T) {
		msgs := testMsgs(7)
		h := newV2Harness(t, msgs, nil)
		h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 2 { // repeat the cursor the first page carried
				f := h.api.requests()[1].Query.Get("cursor")
				page(w, strings.ReplaceAll(f, "/", `\/`))
				return true
			}
			return false
		}
		got := h.fetchOK(t, Group("g1"))
		if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
			t.Errorf("messages not all delivered")
		}
		if k := kindsOf(h.api.requests()); k != "FCCFCC" {
			t.Errorf("requests %s", k)
		}
		if _, _, restarts := h.snapshot(); !slices.Equal(restarts, []string{"groups cursor_repeated"}) {
			t.Errorf("OnRestart %v", restarts)
		}
	})
}

// TestFetchV2RejectedForever: a server that rejects every cursor request
// gets maxRestarts restarts without progress, then a permanent error that
// holds the last rejection.
func TestFetchV2RejectedForever(t *testing.T) {
	h := newV2Harness(t, testMsgs(10), nil)
	h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.URL.Query().Has("cursor") {
			badRequest(w, "cursor invalid")
			return true
		}
		return false
	}
	got := h.fetch(t, Messages, testWindow, nil)
	var re *RestartError
	var api *APIError
	if !errors.As(got.err, &re) || re.Reason != RestartCursorRejected || !errors.As(got.err, &api) || api.Status != 400 || retry.Temporary(got.err) {
		t.Fatalf("Fetch = %v, want a permanent *RestartError holding the 400", got.err)
	}
	if n := len(h.api.requests()); n != 2*(maxRestarts+2) {
		t.Errorf("%d requests, want %d", n, 2*(maxRestarts+2))
	}
}

// TestFetchV2AuthFailureOnCursor: an authentication failure on a cursor
// request is not a rejected cursor: Fetch stops with ErrAuth.
func TestFetchV2AuthFailureOnCursor(t *testing.T) {
	for _, status := range []int{401, 403} {
		h := newV2Harness(t, testMsgs(7), nil)
		h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 1 {
				w.WriteHeader(status)
				// A gateway echoing the request.
				io.WriteString(w, `{"error":{"code":899008,"message":"Basic authentication failed: `+r.Header.Get("Authorization")+`"}}`)
				return true
			}
			return false
		}
		got := h.fetch(t, Messages, testWindow, nil) // asserts no secret
		if !errors.Is(got.err, ErrAuth) || retry.Temporary(got.err) {
			t.Fatalf("%d: Fetch = %v, want ErrAuth", status, got.err)
		}
		if k := kindsOf(h.api.requests()); k != "FC" {
			t.Errorf("%d: requests %s, want FC", status, k)
		}
		if _, _, restarts := h.snapshot(); len(restarts) != 0 {
			t.Errorf("%d: OnRestart %v", status, restarts)
		}
	}
}

// TestFetchV2PermanentErrorOnCursor: a non-temporary answer other than the
// ones meaning "cursor no longer valid" fails the fetch.
func TestFetchV2PermanentErrorOnCursor(t *testing.T) {
	h := newV2Harness(t, testMsgs(7), nil)
	h.api.hook = answerRequests(1, 1, withStatus(405))
	got := h.fetch(t, Messages, testWindow, nil)
	var api *APIError
	if !errors.As(got.err, &api) || api.Status != 405 || retry.Temporary(got.err) {
		t.Fatalf("Fetch = %v", got.err)
	}
	for _, want := range []string{"fetch messages", "cursor request", "after 3 messages"} {
		if !strings.Contains(got.err.Error(), want) {
			t.Errorf("error %q lacks %q", got.err, want)
		}
	}
}

// TestFetchV2Stall: fn blocks (on the injected clock) while the cursor ages;
// once it is CursorTTL minus 10 s old the next request is a first request.
func TestFetchV2Stall(t *testing.T) {
	for _, c := range []struct {
		name  string
		ttl   time.Duration
		stall time.Duration
		want  string
	}{
		{"109s: the cursor is used", 0, 109 * time.Second, "FCCC"},
		{"110s: restart", 0, 110 * time.Second, "FFCCC"},
		{"121s: restart", 0, 121 * time.Second, "FFCCC"},
		{"10 minutes: restart", 0, 10 * time.Minute, "FFCCC"},
		{"TTL 60s, 49s: used", 60 * time.Second, 49 * time.Second, "FCCC"},
		{"TTL 60s, 50s: restart", 60 * time.Second, 50 * time.Second, "FFCCC"},
		{"TTL 8s (margin 2s), 5s: used", 8 * time.Second, 5 * time.Second, "FCCC"},
		{"TTL 8s (margin 2s), 6s: restart", 8 * time.Second, 6 * time.Second, "FFCCC"},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := testMsgs(10)
			h := newV2Harness(t, msgs, func(cfg *Config) { cfg.CursorTTL = c.ttl })
			first := true
			got := h.fetch(t, Chatroom("r1"), testWindow, func(Page) {
				if first { // stall on the very first page only
					first = false
					h.clock.Advance(c.stall)
				}
			})
			if got.err != nil {
				t.Fatal(got.err)
			}
			reqs := h.api.requests()
			if k := kindsOf(reqs); k != c.want {
				t.Errorf("requests %s, want %s", k, c.want)
			}
			if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
				t.Errorf("messages not all delivered")
			}
			_, _, restarts := h.snapshot()
			if strings.HasPrefix(c.want, "FF") {
				if !slices.Equal(restarts, []string{"chatrooms cursor_stale"}) {
					t.Errorf("OnRestart %v", restarts)
				}
				if reqs[0].RawQuery != reqs[1].RawQuery {
					t.Errorf("restart asked %q, want the first request %q again", reqs[1].RawQuery, reqs[0].RawQuery)
				}
			} else if len(restarts) != 0 {
				t.Errorf("OnRestart %v", restarts)
			}
		})
	}
}

// TestFetchV2StallEveryNewPage: fn stalls past the cursor's life on every
// page it has not seen before (a Kafka outage per page, say). Each walk gets
// one page further, so the restarts, however many, do not exhaust a limit.
func TestFetchV2StallEveryNewPage(t *testing.T) {
	const pages = maxRestarts + 2 // more restarts than maxRestarts
	msgs := testMsgs(3 * pages)
	h := newV2Harness(t, msgs, nil)
	seen := map[string]bool{}
	got := h.fetch(t, Messages, testWindow, func(p Page) {
		if m := string(p.Messages[0]); !seen[m] {
			seen[m] = true
			h.clock.Advance(5 * time.Minute)
		}
	})
	if got.err != nil {
		t.Fatal(got.err)
	}
	if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
		t.Errorf("messages not all delivered")
	}
	if _, _, restarts := h.snapshot(); len(restarts) != pages-1 {
		t.Errorf("%d restarts, want %d (one per page but the last)", len(restarts), pages-1)
	}
}

// TestFetchV2StallEveryPage: fn stalls on every call, so no walk can get
// past its first page: the restarts that make no progress are bounded.
func TestFetchV2StallEveryPage(t *testing.T) {
	h := newV2Harness(t, testMsgs(10), nil)
	got := h.fetch(t, Messages, testWindow, func(Page) { h.clock.Advance(5 * time.Minute) })
	var re *RestartError
	if !errors.As(got.err, &re) || re.Reason != RestartCursorStale || re.Restarts != maxRestarts || retry.Temporary(got.err) {
		t.Fatalf("Fetch = %v, want a permanent *RestartError after %d counted restarts", got.err, maxRestarts)
	}
	// The first restart followed progress and is free.
	if n := len(h.api.requests()); n != maxRestarts+2 {
		t.Errorf("%d requests, want %d", n, maxRestarts+2)
	}
	for _, want := range []string{"/v2/messages", testWindow.String(), "restarted too often"} {
		if !strings.Contains(got.err.Error(), want) {
			t.Errorf("error %q lacks %q", got.err, want)
		}
	}
}

// TestFetchV2StaleDuringRetries: a cursor request failing temporarily is
// retried with the same cursor, until the retries' waits make the cursor too
// old; then the walk restarts.
func TestFetchV2StaleDuringRetries(t *testing.T) {
	msgs := testMsgs(7)
	h := newV2Harness(t, msgs, nil)
	h.onSleep = func(time.Duration) { h.clock.Advance(40 * time.Second) }
	h.api.hook = answerRequests(1, 3, withStatus(503))
	got := h.fetchOK(t, Messages)
	reqs := h.api.requests()
	// F, C 503 (+40s), C 503 (+80s), C 503 (+120s: stale), then F C C.
	if k := kindsOf(reqs); k != "FCCCFCC" {
		t.Errorf("requests %s, want FCCCFCC", k)
	}
	if reqs[1].RawQuery != reqs[2].RawQuery || reqs[2].RawQuery != reqs[3].RawQuery {
		t.Errorf("retries changed the cursor: %q %q %q", reqs[1].RawQuery, reqs[2].RawQuery, reqs[3].RawQuery)
	}
	if !slices.Equal(distinct(messagesOf(got.pages)), msgs) {
		t.Errorf("messages not all delivered")
	}
	if _, _, restarts := h.snapshot(); !slices.Equal(restarts, []string{"messages cursor_stale"}) {
		t.Errorf("OnRestart %v", restarts)
	}
}
