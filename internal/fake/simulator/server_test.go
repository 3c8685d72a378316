package simulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// testNow is the injected "now" of most tests.
var testNow = time.Date(2025, 3, 10, 12, 0, 0, 0, shanghai)

type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.Set(t); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()) }
func (c *clock) Set(t time.Time)  { c.ns.Store(t.UnixNano()) }

type page struct {
	Total    int               `json:"total"`
	Start    int64             `json:"start"`
	Count    int               `json:"count"`
	Messages []json.RawMessage `json:"messages"`
}

type errBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func basic(key, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"+secret))
}

// do serves one request; authHeader "" sends no Authorization header.
func do(t *testing.T, h http.Handler, method, target, authHeader string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if authHeader != "" {
		r.Header.Set("Authorization", authHeader)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func getPage(t *testing.T, s *Server, target string) page {
	t.Helper()
	w := do(t, s, http.MethodGet, target, basic(s.AppKey(), s.MasterSecret()))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	var p page
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("GET %s: %v: %.300s", target, err, w.Body)
	}
	if p.Count != len(p.Messages) {
		t.Fatalf("count %d but %d messages", p.Count, len(p.Messages))
	}
	return p
}

func getErr(t *testing.T, h http.Handler, target, authHeader string) (int, errBody) {
	t.Helper()
	w := do(t, h, http.MethodGet, target, authHeader)
	var e errBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("GET %s: error body %q: %v", target, w.Body, err)
	}
	return w.Code, e
}

// ts formats a Unix second as the API's time parameter, URL-encoded with %20.
func ts(sec int64, loc *time.Location) string {
	return strings.ReplaceAll(time.Unix(sec, 0).In(loc).Format(TimeLayout), " ", "%20")
}

func ids(ms []Message) []int64 {
	out := make([]int64, len(ms))
	for i := range ms {
		out[i] = ms[i].MsgID
	}
	return out
}

func pageIDs(t *testing.T, p page) []int64 {
	t.Helper()
	out := make([]int64, len(p.Messages))
	for i, raw := range p.Messages {
		id, ok := msgID(raw)
		if !ok {
			t.Fatalf("no msgid in %s", raw)
		}
		out[i] = id
	}
	return out
}

func msgID(raw []byte) (int64, bool) {
	var w struct {
		ID json.RawMessage `json:"msgid"`
	}
	if json.Unmarshal(raw, &w) != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.Trim(string(w.ID), `"`), 10, 64)
	return v, err == nil
}

func equalIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d messages, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: message %d is %d, want %d", what, i, got[i], want[i])
		}
	}
}

// fetchAll pages through target (which must end with start= and count omitted)
// and returns the messages in order, checking total stays constant.
func fetchAll(t *testing.T, s *Server, path, query string, count int) ([]json.RawMessage, int) {
	t.Helper()
	var all []json.RawMessage
	total := -1
	for start := 0; ; start += count {
		p := getPage(t, s, fmt.Sprintf("%s?start=%d&count=%d%s", path, start, count, query))
		if total >= 0 && p.Total != total {
			t.Fatalf("total changed from %d to %d", total, p.Total)
		}
		total = p.Total
		if p.Start != int64(start) {
			t.Fatalf("start %d echoed as %d", start, p.Start)
		}
		all = append(all, p.Messages...)
		if len(p.Messages) < count {
			if start+len(p.Messages) != total && !(len(p.Messages) == 0 && start >= total) {
				t.Fatalf("short page at %d of %d", start, total)
			}
			break
		}
	}
	return all, total
}

// recentSpec: all messages visible at testNow, two bursts of 1500.
func recentSpec() GenSpec {
	return GenSpec{Seed: 9, Start: testNow.Add(-3 * time.Hour), End: testNow.Add(-time.Minute), Count: 6000, Bursts: 2, BurstSize: 1500, Users: 50}
}

func newServer(t *testing.T, spec GenSpec, c *clock) (*Server, []Message) {
	t.Helper()
	msgs := Generate(spec)
	return New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: c.Now}, msgs), msgs
}

func TestPagingCoversEachMessageOnce(t *testing.T) {
	spec := recentSpec()
	spec.AppKey = "appkey0001"
	s, msgs := newServer(t, spec, newClock(testNow))
	vis := s.Visible(time.Time{}, time.Time{})
	if len(vis) != len(msgs) {
		t.Fatalf("visible %d of %d", len(vis), len(msgs))
	}
	for _, count := range []int{1000, 333} {
		all, total := fetchAll(t, s, "/v1/messages", "", count)
		if total != len(msgs) {
			t.Fatalf("total %d, want %d", total, len(msgs))
		}
		for i, raw := range all {
			if !bytes.Equal(raw, msgs[i].JSON) {
				t.Fatalf("message %d served as\n%s\nwant\n%s", i, raw, msgs[i].JSON)
			}
		}
	}

	// A burst second holds more than one page; inclusive bounds on that second.
	perSecond := map[int64]int{}
	for _, m := range msgs {
		perSecond[m.CreateTime]++
	}
	var burst int64
	for sec, n := range perSecond {
		if n > 1000 {
			burst = sec
		}
	}
	if burst == 0 {
		t.Fatal("no burst second")
	}
	q := "&begin_time=" + ts(burst, shanghai) + "&end_time=" + ts(burst, shanghai)
	all, total := fetchAll(t, s, "/v1/messages", q, 1000)
	if total != perSecond[burst] || total <= 1000 {
		t.Fatalf("burst second: total %d, want %d", total, perSecond[burst])
	}
	seen := map[int64]bool{}
	for _, raw := range all {
		id, _ := msgID(raw)
		if seen[id] {
			t.Fatalf("msgid %d served twice", id)
		}
		seen[id] = true
	}
	if len(seen) != total {
		t.Fatalf("%d distinct of %d", len(seen), total)
	}

	// start past the end: empty page, total kept.
	p := getPage(t, s, fmt.Sprintf("/v1/messages?start=%d&count=10", len(msgs)+5))
	if p.Total != len(msgs) || p.Count != 0 || p.Messages == nil {
		t.Fatalf("past the end: %+v", p)
	}
	p = getPage(t, s, "/v1/messages?start=9223372036854775807&count=1000")
	if p.Count != 0 {
		t.Fatalf("huge start: %+v", p)
	}
}

func TestMessagesBoundsInclusive(t *testing.T) {
	s, msgs := newServer(t, recentSpec(), newClock(testNow))
	mid := msgs[len(msgs)/2].CreateTime
	cases := []struct {
		name     string
		q        string
		from, to int64 // expected create_time in [from, to]
	}{
		{"same second", "&begin_time=" + ts(mid, shanghai) + "&end_time=" + ts(mid, shanghai), mid, mid},
		{"a minute", "&begin_time=" + ts(mid, shanghai) + "&end_time=" + ts(mid+60, shanghai), mid, mid + 60},
		{"begin only", "&begin_time=" + ts(mid, shanghai), mid, 1 << 62},
		{"end only", "&end_time=" + ts(mid, shanghai), 0, mid},
		{"empty values are absent", "&begin_time=&end_time=", 0, 1 << 62},
		{"begin after end", "&begin_time=" + ts(mid+1, shanghai) + "&end_time=" + ts(mid, shanghai), 1, 0},
	}
	for _, c := range cases {
		var want []Message
		for _, m := range msgs {
			if m.CreateTime >= c.from && m.CreateTime <= c.to {
				want = append(want, m)
			}
		}
		all, total := fetchAll(t, s, "/v1/messages", c.q, 1000)
		if total != len(want) {
			t.Fatalf("%s: total %d, want %d", c.name, total, len(want))
		}
		equalIDs(t, c.name, pageIDs(t, page{Messages: all}), ids(want))
	}
	// Matching agrees for whole-second bounds.
	got, err := s.Matching("", time.Unix(mid, 0), time.Unix(mid+60, 0))
	if err != nil {
		t.Fatal(err)
	}
	var want []Message
	for _, m := range msgs {
		if m.CreateTime >= mid && m.CreateTime <= mid+60 {
			want = append(want, m)
		}
	}
	equalIDs(t, "Matching", ids(got), ids(want))
}

// involves is the /users membership rule, written independently of the server.
func involves(m *Message, u, appKey string) bool {
	senderLocal := m.MsgLevel == 0 || m.FromAppKey == appKey
	if senderLocal && m.FromID == u {
		return true
	}
	if m.TargetType != "single" || m.TargetID != u {
		return false
	}
	return m.MsgLevel == 0 || m.TargetAppKey == appKey || (m.TargetAppKey == "" && !senderLocal)
}

func TestUsersBoundsStrictAndAppKeys(t *testing.T) {
	spec := recentSpec()
	spec.AppKey = "appkey0001"
	spec.Users = 5 // many messages per user, including cross-app ones
	s, msgs := newServer(t, spec, newClock(testNow))
	user := "user0003"
	var mine []Message
	cross := 0
	for i := range msgs {
		if involves(&msgs[i], user, s.AppKey()) {
			mine = append(mine, msgs[i])
			if msgs[i].MsgLevel == 1 {
				cross++
			}
		}
	}
	if len(mine) < 100 || cross == 0 {
		t.Fatalf("user has %d messages, %d cross-app", len(mine), cross)
	}
	mid := mine[len(mine)/2].CreateTime
	cases := []struct {
		name     string
		q        string
		from, to int64 // expected create_time in [from, to]
	}{
		{"no bounds", "", 0, 1 << 62},
		{"same second is empty", "&begin_time=" + ts(mid, shanghai) + "&end_time=" + ts(mid, shanghai), 1, 0},
		{"one second", "&begin_time=" + ts(mid-1, shanghai) + "&end_time=" + ts(mid+1, shanghai), mid, mid},
		{"begin strict", "&begin_time=" + ts(mid, shanghai), mid + 1, 1 << 62},
		{"end strict", "&end_time=" + ts(mid, shanghai), 0, mid - 1},
		{"ten minutes", "&begin_time=" + ts(mid-300, shanghai) + "&end_time=" + ts(mid+300, shanghai), mid - 299, mid + 299},
	}
	for _, c := range cases {
		var want []Message
		for _, m := range mine {
			if m.CreateTime >= c.from && m.CreateTime <= c.to {
				want = append(want, m)
			}
		}
		all, total := fetchAll(t, s, "/v1/users/"+user+"/messages", c.q, 97)
		if total != len(want) {
			t.Fatalf("%s: total %d, want %d", c.name, total, len(want))
		}
		equalIDs(t, c.name, pageIDs(t, page{Messages: all}), ids(want))
		for i, raw := range all {
			if !bytes.Equal(raw, s.UserJSON(want[i])) {
				t.Fatalf("%s: served %s\nwant %s", c.name, raw, s.UserJSON(want[i]))
			}
			var env map[string]json.RawMessage
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatalf("%s: %v: %s", c.name, err, raw)
			}
			fa, ta := jsonString(t, env["from_appkey"]), jsonString(t, env["target_appkey"])
			if _, ok := env["from_appkey"]; !ok {
				t.Fatalf("no from_appkey: %s", raw)
			}
			if _, ok := env["target_appkey"]; !ok {
				t.Fatalf("no target_appkey: %s", raw)
			}
			m := want[i]
			switch {
			case m.MsgLevel == 0 && (fa != s.AppKey() || ta != s.AppKey()):
				t.Fatalf("in-app message with app keys %q %q", fa, ta)
			case m.FromAppKey != "" && fa != m.FromAppKey:
				t.Fatalf("from_appkey %q, want %q", fa, m.FromAppKey)
			case m.TargetAppKeyEmpty && ta != "":
				t.Fatalf("empty target_appkey served as %q", ta)
			}
		}
	}
	got, err := s.Matching(user, time.Unix(mid-300, 0), time.Unix(mid+300, 0))
	if err != nil {
		t.Fatal(err)
	}
	var want []Message
	for _, m := range mine {
		if m.CreateTime > mid-300 && m.CreateTime < mid+300 {
			want = append(want, m)
		}
	}
	equalIDs(t, "Matching", ids(got), ids(want))
	if _, err := s.Matching("nobody", time.Time{}, time.Time{}); err != ErrUnknownUser {
		t.Fatalf("Matching(nobody): %v", err)
	}
	// A foreign user is not a user of this app.
	if code, e := getErr(t, s, "/v1/users/ext_1000/messages?start=0&count=10", basic("appkey0001", "secret0001")); code != 400 || e.Error.Code != CodeNoSuchUser {
		t.Fatalf("foreign user: %d %+v", code, e)
	}
}

func TestRetentionAndFuture(t *testing.T) {
	c := newClock(testNow)
	spec := GenSpec{Seed: 3, Start: testNow.Add(-70 * 24 * time.Hour), End: testNow.Add(2 * time.Hour), Count: 30000, Users: 20}
	s, msgs := newServer(t, spec, c)
	count := func(lo, hi int64) int { // create_time in [lo, hi]
		n := 0
		for _, m := range msgs {
			if m.CreateTime >= lo && m.CreateTime <= hi {
				n++
			}
		}
		return n
	}
	now := testNow.Unix()
	cut := testNow.Add(-60 * 24 * time.Hour).Unix()
	if count(0, cut-1) == 0 || count(now+1, 1<<62) == 0 {
		t.Fatal("dataset should reach past both edges")
	}
	vis := s.Visible(time.Time{}, time.Time{})
	if len(vis) != count(cut, now) {
		t.Fatalf("visible %d, want %d", len(vis), count(cut, now))
	}
	for _, m := range vis {
		if m.CreateTime < cut || m.CreateTime > now {
			t.Fatalf("visible message at %d outside [%d, %d]", m.CreateTime, cut, now)
		}
	}
	p := getPage(t, s, "/v1/messages?start=0&count=1")
	if p.Total != len(vis) {
		t.Fatalf("total %d, want %d", p.Total, len(vis))
	}
	// Visible's own bounds are [from, to).
	if got := s.Visible(time.Unix(now-3600, 0), time.Unix(now-60, 0)); len(got) != count(now-3600, now-61) {
		t.Fatalf("Visible window: %d, want %d", len(got), count(now-3600, now-61))
	}
	// An end_time in the future does not reveal future messages.
	p = getPage(t, s, "/v1/messages?start=0&count=1&begin_time="+ts(now-600, shanghai)+"&end_time="+ts(now+3600, shanghai))
	if p.Total != count(now-600, now) {
		t.Fatalf("future end_time: total %d, want %d", p.Total, count(now-600, now))
	}

	// The clock advances: future messages become live traffic, old ones expire.
	c.Set(testNow.Add(90 * time.Minute))
	now2, cut2 := now+90*60, cut+90*60
	p = getPage(t, s, "/v1/messages?start=0&count=1")
	if p.Total != count(cut2, now2) || p.Total == len(vis) {
		t.Fatalf("after 90 min: total %d, want %d (was %d)", p.Total, count(cut2, now2), len(vis))
	}
	// The last page now ends with the newest message.
	p = getPage(t, s, fmt.Sprintf("/v1/messages?start=%d&count=1000", p.Total-1))
	var last Message
	for _, m := range msgs {
		if m.CreateTime <= now2 {
			last = m
		}
	}
	if len(p.Messages) != 1 || !bytes.Equal(p.Messages[0], last.JSON) {
		t.Fatalf("last message %s, want %s", p.Messages, last.JSON)
	}

	// A user path obeys the same window.
	user := "user0001"
	var want int
	for i := range msgs {
		if m := &msgs[i]; involves(m, user, s.AppKey()) && m.CreateTime >= cut2 && m.CreateTime <= now2 {
			want++
		}
	}
	if p := getPage(t, s, "/v1/users/"+user+"/messages?start=0&count=1"); p.Total != want {
		t.Fatalf("user total %d, want %d", p.Total, want)
	}

	// A custom retention.
	s2 := New(Config{Now: c.Now, Retention: time.Hour}, msgs)
	if p := getPage(t, s2, "/v1/messages?start=0&count=1"); p.Total != count(now2-3600, now2) {
		t.Fatalf("1h retention: total %d, want %d", p.Total, count(now2-3600, now2))
	}
}

func TestAuth(t *testing.T) {
	s, _ := newServer(t, recentSpec(), newClock(testNow))
	const target = "/v1/messages?start=0&count=1"
	for _, c := range []struct {
		header string
		status int
		code   int
	}{
		{"", 401, CodeMissingAuth},
		{basic("appkey0001", "wrong"), 401, CodeAuthFailed},
		{basic("wrong", "secret0001"), 401, CodeAuthFailed},
		{basic("appkey0001", ""), 401, CodeAuthFailed},
		{"Bearer abc", 401, CodeAuthFailed},
		{"Basic !!!not-base64", 401, CodeAuthFailed},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("appkey0001secret0001")), 401, CodeAuthFailed},
	} {
		code, e := getErr(t, s, target, c.header)
		if code != c.status || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("header %q: %d %+v, want %d %d", c.header, code, e, c.status, c.code)
		}
	}
	if w := do(t, s, "GET", target, basic("appkey0001", "secret0001")); w.Code != 200 {
		t.Fatalf("good credentials: %d %s", w.Code, w.Body)
	}
	// Defaults.
	d := New(Config{Now: newClock(testNow).Now}, nil)
	if w := do(t, d, "GET", target, basic(DefaultAppKey, DefaultMasterSecret)); w.Code != 200 {
		t.Fatalf("default credentials: %d %s", w.Code, w.Body)
	}
}

func TestParameterErrors(t *testing.T) {
	s, _ := newServer(t, recentSpec(), newClock(testNow))
	auth := basic("appkey0001", "secret0001")
	for _, c := range []struct{ query, param string }{
		{"", "start"},
		{"count=10", "start"},
		{"start=&count=10", "start"},
		{"start=-1&count=10", "start"},
		{"start=abc&count=10", "start"},
		{"start=1.5&count=10", "start"},
		{"start=0", "count"},
		{"start=0&count=0", "count"},
		{"start=0&count=1001", "count"},
		{"start=0&count=-5", "count"},
		{"start=0&count=ten", "count"},
		{"start=0&count=10&begin_time=2015-11-02T10:10:10", "begin_time"},
		{"start=0&count=10&begin_time=2015-11-02%2010:10:10.5", "begin_time"},
		{"start=0&count=10&begin_time=2015/11/02%2010:10:10", "begin_time"},
		{"start=0&count=10&begin_time=2015-11-02", "begin_time"},
		{"start=0&count=10&begin_time=2015-13-02%2010:10:10", "begin_time"},
		{"start=0&count=10&end_time=2015-11-02%2025:10:10", "end_time"},
		{"start=0&count=10&end_time=1446016259", "end_time"},
		{"start=0;count=10", "query"},
		{"start=0&count=10&begin_time=%zz", "query"},
	} {
		for _, path := range []string{"/v1/messages", "/v1/users/user0001/messages"} {
			code, e := getErr(t, s, path+"?"+c.query, auth)
			if code != 400 || e.Error.Code != CodeInvalidParam || !strings.Contains(e.Error.Message, c.param) {
				t.Errorf("%s?%s: %d %+v, want 400 %d naming %s", path, c.query, code, e, CodeInvalidParam, c.param)
			}
		}
	}
	// Valid edge values, and the leading "&" of the vendor's example.
	for _, q := range []string{"start=0&count=1", "start=0&count=1000", "&start=0&count=500", "start=0&count=1&unknown=x"} {
		getPage(t, s, "/v1/messages?"+q)
	}
}

func TestRoutingAndUsers(t *testing.T) {
	s := New(Config{AppKey: "k", MasterSecret: "s", Now: newClock(testNow).Now, Users: []string{"quiet_user", "odd name/ü"}},
		Generate(GenSpec{Seed: 1, Start: testNow.Add(-time.Hour), End: testNow, Count: 500, Users: 10, AppKey: "k"}))
	auth := basic("k", "s")
	for _, target := range []string{"/", "/v1", "/v1/messages/", "/v3/messages", "/v2/statistic/nothing", "/v2/groups//x/messages", "/messages", "/v1/users/messages", "/v1/chatrooms/1/messages",
		"/v1/users//x/messages", "/v1/users/user0001/messages/x", "/v1/users/user0001", "/v1/groups/1/messages"} {
		code, e := getErr(t, s, target+"?start=0&count=1", auth)
		if code != 404 || e.Error.Code != CodeInternal {
			t.Errorf("%s: %d %+v, want 404", target, code, e)
		}
	}
	for _, method := range []string{"POST", "PUT", "DELETE", "HEAD"} {
		w := do(t, s, method, "/v1/messages?start=0&count=1", auth)
		if w.Code != 405 || w.Header().Get("Allow") != "GET" {
			t.Errorf("%s: %d", method, w.Code)
		}
	}
	for _, u := range []string{"nobody", "", "user9999", "USER0001"} {
		code, e := getErr(t, s, "/v1/users/"+url.PathEscape(u)+"/messages?start=0&count=1", auth)
		if code != 400 || e.Error.Code != CodeNoSuchUser || e.Error.Message != "user not exist" {
			t.Errorf("user %q: %d %+v", u, code, e)
		}
	}
	// Known users without messages answer 200 with nothing; escaped usernames work.
	for _, u := range []string{"quiet_user", "odd name/ü"} {
		p := getPage(t, s, "/v1/users/"+url.PathEscape(u)+"/messages?start=0&count=1")
		if p.Total != 0 || p.Count != 0 {
			t.Errorf("%q: %+v", u, p)
		}
	}
	users := s.Users()
	for _, u := range []string{"admin", "quiet_user", "user0001"} {
		found := false
		for _, v := range users {
			found = found || v == u
		}
		if !found {
			t.Errorf("Users() lacks %q: %v", u, users)
		}
	}
	for _, u := range users {
		if strings.HasPrefix(u, "ext_") {
			t.Errorf("foreign user %q known", u)
		}
	}
	if got := getPage(t, s, "/v1/users/admin/messages?start=0&count=1000"); got.Total == 0 {
		t.Error("admin has no messages")
	}
}

func TestTimeParamsEncodingAndZone(t *testing.T) {
	s, msgs := newServer(t, recentSpec(), newClock(testNow))
	sec := msgs[100].CreateTime
	var want []int64
	for _, m := range msgs {
		if m.CreateTime == sec {
			want = append(want, m.MsgID)
		}
	}
	local := time.Unix(sec, 0).In(shanghai).Format(TimeLayout)
	for name, enc := range map[string]string{
		"%20":            strings.ReplaceAll(local, " ", "%20"),
		"+":              strings.ReplaceAll(local, " ", "+"),
		"QueryEscape":    url.QueryEscape(local),
		"all escaped":    strings.ReplaceAll(strings.ReplaceAll(local, " ", "%20"), ":", "%3A"),
		"PathEscape %20": url.PathEscape(local),
	} {
		p := getPage(t, s, "/v1/messages?start=0&count=1000&begin_time="+enc+"&end_time="+enc)
		equalIDs(t, name, pageIDs(t, p), want)
	}
	// The same wall-clock string in UTC names another instant.
	utc := strings.ReplaceAll(time.Unix(sec, 0).UTC().Format(TimeLayout), " ", "+")
	p := getPage(t, s, "/v1/messages?start=0&count=1000&begin_time="+utc+"&end_time="+utc)
	if p.Total != 0 {
		t.Fatalf("UTC string on a Shanghai server matched %d messages", p.Total)
	}
	su := New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: newClock(testNow).Now, Location: time.UTC}, msgs)
	p = getPage(t, su, "/v1/messages?start=0&count=1000&begin_time="+utc+"&end_time="+utc)
	equalIDs(t, "UTC server", pageIDs(t, p), want)
	if s.Location().String() != "Asia/Shanghai" {
		t.Fatalf("default location %v", s.Location())
	}
}

func TestConcurrentRequests(t *testing.T) {
	s, msgs := newServer(t, recentSpec(), newClock(testNow))
	hs := httptest.NewServer(s)
	defer hs.Close()
	before := s.Requests()
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	// A writer adds future messages (not visible) while readers page.
	wg.Go(func() {
		for i := range 20 {
			s.Add(Message{MsgID: int64(1<<41 + i), MsgType: "text", Version: 1, TargetType: "single", TargetID: "user0001",
				FromType: "user", FromID: "user0002", CreateTime: testNow.Unix() + 3600, MsgCtime: (testNow.Unix() + 3600) * 1000})
		}
	})
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				start := (w*perWorker + i) * 37 % len(msgs)
				count := 1 + (w*31+i*17)%1000
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/messages?start=%d&count=%d", hs.URL, start, count), nil)
				req.SetBasicAuth("appkey0001", "secret0001")
				resp, err := hs.Client().Do(req)
				if err != nil {
					errs <- err
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var p page
				if err := json.Unmarshal(body, &p); err != nil {
					errs <- fmt.Errorf("%d: %v", resp.StatusCode, err)
					continue
				}
				end := min(len(msgs), start+count)
				if p.Total != len(msgs) || len(p.Messages) != end-start {
					errs <- fmt.Errorf("start %d count %d: total %d, %d messages", start, count, p.Total, len(p.Messages))
					continue
				}
				for k, raw := range p.Messages {
					if !bytes.Equal(raw, msgs[start+k].JSON) {
						errs <- fmt.Errorf("start %d: message %d differs", start, k)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Requests() - before; got != workers*perWorker {
		t.Fatalf("Requests() grew by %d, want %d", got, workers*perWorker)
	}
}

func TestAddLateArrivalShiftsOffsets(t *testing.T) {
	s, msgs := newServer(t, recentSpec(), newClock(testNow))
	p1 := getPage(t, s, "/v1/messages?start=0&count=1000")
	late := Message{MsgID: 1 << 45, MsgType: "text", Version: 1, TargetType: "group", TargetID: "10000001",
		FromType: "user", FromID: "user0007", FromPlatform: "a", CreateTime: msgs[10].CreateTime,
		MsgCtime: msgs[10].MsgCtime, Body: []byte(`{"text":"late"}`)}
	s.Add(late)
	p2 := getPage(t, s, "/v1/messages?start=1000&count=1000")
	if p2.Total != p1.Total+1 {
		t.Fatalf("total %d after add, was %d", p2.Total, p1.Total)
	}
	// The last message of page 1 is now the first of page 2.
	if !bytes.Equal(p2.Messages[0], p1.Messages[999]) {
		t.Fatalf("offsets did not shift: %s", p2.Messages[0])
	}
	var found bool
	for _, m := range s.Visible(time.Time{}, time.Time{}) {
		if m.MsgID == late.MsgID {
			found = json.Valid(m.JSON) && string(m.Body) == `{"text":"late"}`
		}
	}
	if !found {
		t.Fatal("late message not visible or badly encoded")
	}
	if _, err := s.Matching("user0007", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestFaultInjection(t *testing.T) {
	s := New(Config{Now: newClock(testNow).Now, Fault: func(n int64, r *http.Request) *Fault {
		switch n {
		case 1:
			return &Fault{Status: 429, Code: 899000, Message: "too many", Header: http.Header{"Retry-After": {"2"}}}
		case 2:
			return &Fault{Status: 502, Body: []byte("<html>bad gateway</html>"), Header: http.Header{"Content-Type": {"text/html"}}}
		}
		return nil
	}}, Generate(recentSpec()))
	auth := basic(DefaultAppKey, DefaultMasterSecret)
	w := do(t, s, "GET", "/v1/messages?start=0&count=1", auth)
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" || !strings.Contains(w.Body.String(), `"code":899000`) {
		t.Fatalf("fault 1: %d %v %s", w.Code, w.Header(), w.Body)
	}
	w = do(t, s, "GET", "/v1/messages?start=0&count=1", auth)
	if w.Code != 502 || w.Body.String() != "<html>bad gateway</html>" || w.Header().Get("Content-Type") != "text/html" {
		t.Fatalf("fault 2: %d %v %s", w.Code, w.Header(), w.Body)
	}
	getPage(t, s, "/v1/messages?start=0&count=1")
	if s.Requests() != 3 {
		t.Fatalf("Requests() = %d", s.Requests())
	}
}

func TestNewSortsAndEncodes(t *testing.T) {
	base := testNow.Unix() - 100
	in := []Message{
		{MsgID: 3, MsgType: "text", TargetType: "single", TargetID: "b", FromType: "user", FromID: "a", CreateTime: base + 1, MsgCtime: (base + 1) * 1000},
		{MsgID: 2, MsgType: "text", TargetType: "single", TargetID: "b", FromType: "user", FromID: "a", CreateTime: base, MsgCtime: base*1000 + 5},
		{MsgID: 1, MsgType: "text", TargetType: "single", TargetID: "b", FromType: "user", FromID: "a", CreateTime: base, MsgCtime: base*1000 + 5},
	}
	s := New(Config{Now: newClock(testNow).Now}, in)
	if in[0].JSON != nil || in[0].MsgID != 3 {
		t.Fatal("New modified its input")
	}
	p := getPage(t, s, "/v1/messages?start=0&count=10")
	equalIDs(t, "order", pageIDs(t, p), []int64{1, 2, 3})
	p = getPage(t, s, "/v1/users/b/messages?start=0&count=10")
	equalIDs(t, "target b", pageIDs(t, p), []int64{1, 2, 3})
}

func BenchmarkPage150k(b *testing.B) {
	start := testNow.Add(-48 * time.Hour)
	msgs := Generate(GenSpec{Seed: 1, Start: start, End: testNow, Count: 150000, Bursts: 3, BurstSize: 1500})
	s := New(Config{Now: func() time.Time { return testNow }}, msgs)
	mid := msgs[len(msgs)/2].CreateTime
	target := "/v1/users/user0042/messages?start=0&count=100&begin_time=" + ts(mid-3600, shanghai)
	auth := basic(DefaultAppKey, DefaultMasterSecret)
	for b.Loop() {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
