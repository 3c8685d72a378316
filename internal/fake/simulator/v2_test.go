package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

type v2page struct {
	Total    int               `json:"total"`
	Cursor   *string           `json:"cursor"`
	Count    int               `json:"count"`
	Messages []json.RawMessage `json:"messages"`
}

func getV2(t *testing.T, s *Server, target string) v2page {
	t.Helper()
	w := do(t, s, http.MethodGet, target, basic(s.AppKey(), s.MasterSecret()))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	var p v2page
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("GET %s: %v: %.300s", target, err, w.Body)
	}
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(w.Body.Bytes(), &keys)
	if _, ok := keys["start"]; ok {
		t.Fatalf("v2 page with start: %.200s", w.Body)
	}
	if p.Count != len(p.Messages) {
		t.Fatalf("count %d but %d messages", p.Count, len(p.Messages))
	}
	return p
}

func v2first(path string, begin, end int64, count int) string {
	return fmt.Sprintf("%s?count=%d&begin_time=%s&end_time=%s", path, count, ts(begin, shanghai), ts(end, shanghai))
}

type walkResult struct {
	ids    []int64
	pages  []v2page
	totals []int
}

// walkV2 walks a v2 endpoint to its end, whatever the last-page signal.
func walkV2(t *testing.T, s *Server, path string, begin, end int64, count int) walkResult {
	t.Helper()
	var res walkResult
	target := v2first(path, begin, end, count)
	for range 100000 {
		p := getV2(t, s, target)
		res.pages = append(res.pages, p)
		res.totals = append(res.totals, p.Total)
		res.ids = append(res.ids, pageIDs(t, page{Messages: p.Messages})...)
		if len(p.Messages) > count {
			t.Fatalf("%d messages for count %d", len(p.Messages), count)
		}
		if p.Cursor == nil || *p.Cursor == "" {
			return res
		}
		target = path + "?cursor=" + *p.Cursor
	}
	t.Fatal("walk does not end")
	return res
}

// inRange applies inclusive or strict bounds.
func inRange(ct, begin, end int64, strict bool) bool {
	if strict {
		return ct > begin && ct < end
	}
	return ct >= begin && ct <= end
}

func TestV2WalkEveryEndpoint(t *testing.T) {
	spec := recentSpec()
	spec.AppKey = "appkey0001"
	msgs := Generate(spec)
	user := "user0007"
	var group, room string
	for _, m := range msgs {
		if m.TargetType == "group" && group == "" {
			group = m.TargetID
		}
		if m.TargetType == "chatroom" && room == "" {
			room = m.TargetID
		}
	}
	type endpoint struct {
		path   string
		scope  Scope
		id     string
		member func(*Message) bool
		count  int
	}
	eps := []endpoint{
		{"/v2/messages", ScopeMessages, "", func(*Message) bool { return true }, 1000},
		{"/v2/users/" + user + "/messages", ScopeUsers, user, func(m *Message) bool { return involves(m, user, "appkey0001") }, 7},
		{"/v2/groups/" + group + "/messages", ScopeGroups, group, func(m *Message) bool { return m.TargetType == "group" && m.TargetID == group }, 5},
		{"/v2/chatrooms/" + room + "/messages", ScopeChatrooms, room, func(m *Message) bool { return m.TargetType == "chatroom" && m.TargetID == room }, 33},
	}
	for _, strictEntities := range []bool{false, true} {
		s := New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: newClock(testNow).Now, V2EntityStrict: strictEntities}, msgs)
		for _, ep := range eps {
			var mine []Message
			for i := range msgs {
				if ep.member(&msgs[i]) {
					mine = append(mine, msgs[i])
				}
			}
			if len(mine) < 30 {
				t.Fatalf("%s: only %d messages", ep.path, len(mine))
			}
			strict := strictEntities && ep.scope != ScopeMessages
			// Bounds on the create_time of messages of the stream, so that
			// strict and inclusive readings differ; and the whole range.
			for _, r := range [][2]int64{
				{mine[len(mine)/5].CreateTime, mine[4*len(mine)/5].CreateTime},
				{testNow.Add(-4 * time.Hour).Unix(), testNow.Unix()},
			} {
				name := fmt.Sprintf("%s strict=%v [%d,%d]", ep.path, strictEntities, r[0], r[1])
				var want []int64
				for _, m := range mine {
					if inRange(m.CreateTime, r[0], r[1], strict) {
						want = append(want, m.MsgID)
					}
				}
				res := walkV2(t, s, ep.path, r[0], r[1], ep.count)
				equalIDs(t, name, res.ids, want)
				for _, tot := range res.totals {
					if tot != len(want) {
						t.Fatalf("%s: total %d, want %d", name, tot, len(want))
					}
				}
				if len(res.pages) < 2 {
					t.Fatalf("%s: one page only", name)
				}
				got, err := s.MatchingV2(ep.scope, ep.id, time.Unix(r[0], 0), time.Unix(r[1], 0))
				if err != nil {
					t.Fatal(err)
				}
				equalIDs(t, name+" MatchingV2", ids(got), want)
				// Served bytes: JSON, or UserJSON for users.
				k := 0
				for _, p := range res.pages {
					for _, raw := range p.Messages {
						wantJSON := got[k].JSON
						if ep.scope == ScopeUsers {
							wantJSON = s.UserJSON(got[k])
						}
						if string(raw) != string(wantJSON) {
							t.Fatalf("%s: message %d served as %s, want %s", name, k, raw, wantJSON)
						}
						k++
					}
				}
			}
		}
	}
}

// A burst second holds more messages than a page: the keyset walks through it.
func TestV2BurstSecond(t *testing.T) {
	s, msgs := newServer(t, recentSpec(), newClock(testNow))
	perSecond := map[int64]int{}
	for _, m := range msgs {
		perSecond[m.CreateTime]++
	}
	for sec, n := range perSecond {
		if n <= 1000 {
			continue
		}
		var want []int64
		for _, m := range msgs {
			if m.CreateTime == sec {
				want = append(want, m.MsgID)
			}
		}
		for _, count := range []int{1000, 999, 1} {
			res := walkV2(t, s, "/v2/messages", sec, sec, count)
			equalIDs(t, fmt.Sprintf("burst count %d", count), res.ids, want)
		}
	}
}

func TestV2ParameterErrors(t *testing.T) {
	c := newClock(testNow)
	s, msgs := newServer(t, recentSpec(), c)
	auth := basic("appkey0001", "secret0001")
	now := testNow.Unix()
	b, e := ts(now-3600, shanghai), ts(now, shanghai)
	week := int64(7 * 24 * 3600)
	var group string
	for _, m := range msgs {
		if m.TargetType == "group" {
			group = m.TargetID
		}
	}
	first := getV2(t, s, "/v2/messages?count=10&begin_time="+b+"&end_time="+e)
	if first.Cursor == nil || *first.Cursor == "" {
		t.Fatal("no cursor")
	}
	cur := *first.Cursor
	for _, c := range []struct {
		target string
		status int
		code   int
		msg    string
	}{
		{"/v2/messages", 400, CodeInvalidParam, "count"},
		{"/v2/messages?begin_time=" + b + "&end_time=" + e, 400, CodeInvalidParam, "count"},
		{"/v2/messages?count=0&begin_time=" + b + "&end_time=" + e, 400, CodeInvalidParam, "count"},
		{"/v2/messages?count=1001&begin_time=" + b + "&end_time=" + e, 400, CodeInvalidParam, "count"},
		{"/v2/messages?count=10&end_time=" + e, 400, CodeInvalidParam, "begin_time"},
		{"/v2/messages?count=10&begin_time=&end_time=" + e, 400, CodeInvalidParam, "begin_time"},
		{"/v2/messages?count=10&begin_time=" + b, 400, CodeInvalidParam, "end_time"},
		{"/v2/messages?count=10&begin_time=2025-03-10T10:00:00&end_time=" + e, 400, CodeInvalidParam, "begin_time"},
		{"/v2/messages?count=10&begin_time=" + e + "&end_time=" + b, 400, CodeInvalidParam, "begin_time must not be after end_time"},
		{"/v2/messages?count=10&begin_time=" + ts(now-week-1, shanghai) + "&end_time=" + e, 400, CodeInvalidParam, "7 days"},
		{"/v2/users/user0001/messages?count=10&begin_time=" + ts(now-30*24*3600, shanghai) + "&end_time=" + e, 400, CodeInvalidParam, "7 days"},
		{"/v2/messages?cursor=" + cur + "&count=10", 400, CodeInvalidParam, "cursor"},
		{"/v2/messages?cursor=" + cur + "&begin_time=" + b, 400, CodeInvalidParam, "begin_time"},
		{"/v2/messages?cursor=nonsense", 400, CodeInvalidParam, "cursor invalid"},
		{"/v2/users/user0001/messages?cursor=" + cur, 400, CodeInvalidParam, "cursor invalid"},
		{"/v2/users/nobody/messages?count=10&begin_time=" + b + "&end_time=" + e, 400, CodeNoSuchUser, "user not exist"},
		{"/v2/groups/999/messages?count=10&begin_time=" + b + "&end_time=" + e, 400, CodeInvalidGroup, "group id invalid"},
		{"/v2/groups/abc/messages?count=10&begin_time=" + b + "&end_time=" + e, 400, CodeInvalidGroup, "group id invalid"},
		{"/v2/groups/" + group + "/messages?count=10&begin_time=" + b, 400, CodeInvalidParam, "end_time"},
		{"/v2/chatrooms/1/messages?count=10&begin_time=" + b + "&end_time=" + e, 400, CodeNoSuchChatroom, "chatroom does not exist"},
	} {
		code, eb := getErr(t, s, c.target, auth)
		if code != c.status || eb.Error.Code != c.code || !strings.Contains(eb.Error.Message, c.msg) {
			t.Errorf("%s: %d %+v, want %d %d %q", c.target, code, eb, c.status, c.code, c.msg)
		}
	}
	// Exactly 7 days is allowed; begin == end is one second.
	getV2(t, s, "/v2/messages?count=10&begin_time="+ts(now-week, shanghai)+"&end_time="+e)
	getV2(t, s, "/v2/messages?count=10&begin_time="+e+"&end_time="+e)
	// Known entities without messages answer 200 with nothing.
	s2 := New(Config{Now: c.Now, Users: []string{"quiet"}, Groups: []string{"42"}, Chatrooms: []string{"7"}}, nil)
	for _, p := range []string{"/v2/users/quiet/messages", "/v2/groups/42/messages", "/v2/chatrooms/7/messages", "/v2/messages"} {
		if pg := getV2(t, s2, "/"+strings.TrimPrefix(p, "/")+"?count=10&begin_time="+b+"&end_time="+e); pg.Total != 0 || pg.Cursor != nil {
			t.Errorf("%s: %+v", p, pg)
		}
	}
	if g := s2.Groups(); !slices.Equal(g, []string{"42"}) {
		t.Errorf("Groups() = %v", g)
	}
	if _, err := s2.MatchingV2(ScopeGroups, "1", time.Time{}, time.Time{}); err != ErrUnknownGroup {
		t.Errorf("MatchingV2 unknown group: %v", err)
	}
	if _, err := s2.MatchingV2(ScopeChatrooms, "1", time.Time{}, time.Time{}); err != ErrUnknownChatroom {
		t.Errorf("MatchingV2 unknown chatroom: %v", err)
	}
	if _, err := s2.MatchingV2(ScopeUsers, "nobody", time.Time{}, time.Time{}); err != ErrUnknownUser {
		t.Errorf("MatchingV2 unknown user: %v", err)
	}
	// v1 has no groups or chatrooms.
	if code, _ := getErr(t, s, "/v1/groups/"+group+"/messages?start=0&count=1", auth); code != 404 {
		t.Errorf("/v1/groups: %d", code)
	}
}

func TestV2CursorExpiry(t *testing.T) {
	c := newClock(testNow)
	s, _ := newServer(t, recentSpec(), c)
	now := testNow.Unix()
	p := getV2(t, s, v2first("/v2/messages", now-3*3600, now, 100))
	cur1 := *p.Cursor
	// Just within the lifetime: served, and a new cursor issued now.
	c.Set(testNow.Add(CursorLifetime))
	p2 := getV2(t, s, "/v2/messages?cursor="+cur1)
	cur2 := *p2.Cursor
	if cur2 == cur1 {
		t.Fatal("cursor not renewed")
	}
	// Asking cur1 again (still within 120 s of its issue) replays the same page.
	p2b := getV2(t, s, "/v2/messages?cursor="+cur1)
	equalIDs(t, "replay", pageIDs(t, page{Messages: p2b.Messages}), pageIDs(t, page{Messages: p2.Messages}))

	c.Set(testNow.Add(CursorLifetime + time.Second))
	for _, cur := range []string{cur1} {
		code, e := getErr(t, s, "/v2/messages?cursor="+cur, basic("appkey0001", "secret0001"))
		if code != 400 || e.Error.Code != CodeInvalidParam || e.Error.Message != "cursor expired" {
			t.Fatalf("expired cursor: %d %+v", code, e)
		}
	}
	// cur2 was issued at +120 s: still alive until +240 s.
	getV2(t, s, "/v2/messages?cursor="+cur2)
	c.Set(testNow.Add(2*CursorLifetime + time.Second))
	if code, e := getErr(t, s, "/v2/messages?cursor="+cur2, basic("appkey0001", "secret0001")); code != 400 || e.Error.Message != "cursor expired" {
		t.Fatalf("expired cursor 2: %d %+v", code, e)
	}
	// A walk whose pages come faster than 120 s apart never expires.
	res := walkV2(t, s, "/v2/messages", now-3*3600, now, 1000)
	if len(res.ids) == 0 {
		t.Fatal("empty walk")
	}
}

func TestV2EndModes(t *testing.T) {
	spec := recentSpec()
	spec.Bursts = 0
	msgs := Generate(spec)
	now := testNow.Unix()
	// About 250 messages in the range; count 0 below means exactly that many
	// (the last page is full).
	begin := msgs[0].CreateTime
	var end int64
	n := 0
	for _, m := range msgs {
		n++
		if n >= 250 && m.CreateTime != msgs[n].CreateTime {
			end = m.CreateTime
			break
		}
	}
	for _, c := range []struct {
		mode       V2End
		count      int
		wantPages  int
		lastCursor string // "absent", "empty"
	}{
		{"", 50, -1, "absent"},
		{V2EndOmit, 50, -1, "absent"},
		{V2EndEmpty, 50, -1, "empty"},
		{V2EndEmptyPage, 50, -1, "absent"},
		{V2EndOmit, 1000, 1, "absent"},
		{V2EndEmpty, 1000, 1, "empty"},
		{V2EndEmptyPage, 1000, 2, "absent"},
		{V2EndOmit, 0, 1, "absent"},
		{V2EndEmpty, 0, 1, "empty"},
		{V2EndEmptyPage, 0, 2, "absent"},
	} {
		if c.count == 0 {
			c.count = n
		}
		name := fmt.Sprintf("%q count %d", c.mode, c.count)
		s := New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: newClock(testNow).Now, V2End: c.mode}, msgs)
		res := walkV2(t, s, "/v2/messages", begin, end, c.count)
		if len(res.ids) != n {
			t.Fatalf("%s: %d messages, want %d", name, len(res.ids), n)
		}
		full := (n + c.count - 1) / c.count
		want := full
		if c.mode == V2EndEmptyPage {
			want++
		}
		if len(res.pages) != want || (c.wantPages > 0 && want != c.wantPages) {
			t.Fatalf("%s: %d pages, want %d (n %d)", name, len(res.pages), want, n)
		}
		for i, p := range res.pages[:len(res.pages)-1] {
			if p.Cursor == nil || *p.Cursor == "" {
				t.Fatalf("%s: page %d without cursor", name, i)
			}
		}
		last := res.pages[len(res.pages)-1]
		switch {
		case c.lastCursor == "absent" && last.Cursor != nil,
			c.lastCursor == "empty" && (last.Cursor == nil || *last.Cursor != ""):
			t.Fatalf("%s: last page cursor %v", name, last.Cursor)
		}
		if c.mode == V2EndEmptyPage && (len(last.Messages) != 0 || last.Total != n) {
			t.Fatalf("%s: last page %+v", name, last)
		}
		if c.mode != V2EndEmptyPage && len(last.Messages) == 0 {
			t.Fatalf("%s: empty last page", name)
		}
		// A range without messages.
		p := getV2(t, s, v2first("/v2/messages", now+10, now+20, 10))
		if p.Total != 0 || len(p.Messages) != 0 || (c.mode == V2EndEmpty) != (p.Cursor != nil) {
			t.Fatalf("%s: empty range: %+v", name, p)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted V2End \"bogus\"")
		}
	}()
	New(Config{V2End: "bogus"}, nil)
}

func TestV2EndMixed(t *testing.T) {
	msgs := Generate(recentSpec())
	now := testNow.Unix()
	walk := func(seed uint64) []string {
		s := New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: newClock(testNow).Now, V2EndMixed: true, Faults: Faults{Seed: seed}}, msgs)
		var modes []string
		for i := range 30 {
			from := now - 3*3600 + int64(i)*300
			res := walkV2(t, s, "/v2/messages", from, from+60, 1000)
			last := res.pages[len(res.pages)-1]
			switch {
			case len(last.Messages) == 0 && last.Cursor == nil && len(res.pages) > 1:
				modes = append(modes, string(V2EndEmptyPage))
			case last.Cursor == nil:
				modes = append(modes, string(V2EndOmit))
			default:
				modes = append(modes, string(V2EndEmpty))
			}
		}
		return modes
	}
	a, b, c := walk(1), walk(1), walk(2)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different modes:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatalf("another seed gave the same modes: %v", a)
	}
	for _, m := range v2EndModes {
		if !slices.Contains(a, string(m)) {
			t.Fatalf("mode %s never chosen: %v", m, a)
		}
	}
}

// The walk is keyset based: a message added behind the cursor is not served,
// one added ahead of it is; total counts both at once.
func TestV2KeysetAndAdd(t *testing.T) {
	c := newClock(testNow)
	s, msgs := newServer(t, recentSpec(), c)
	now := testNow.Unix()
	begin, end := now-3*3600, now
	p1 := getV2(t, s, v2first("/v2/messages", begin, end, 1000))
	ids1 := pageIDs(t, page{Messages: p1.Messages})
	behind := Message{MsgID: 1 << 45, MsgType: "text", Version: 1, TargetType: "group", TargetID: "1", FromType: "user",
		FromID: "user0001", CreateTime: msgs[5].CreateTime, MsgCtime: msgs[5].MsgCtime}
	ahead := behind
	ahead.MsgID, ahead.CreateTime, ahead.MsgCtime = 1<<45+1, msgs[len(msgs)-1].CreateTime, msgs[len(msgs)-1].MsgCtime+1
	s.Add(behind, ahead)
	var got []int64
	got = append(got, ids1...)
	cur := *p1.Cursor
	for {
		p := getV2(t, s, "/v2/messages?cursor="+cur)
		if p.Total != len(msgs)+2 {
			t.Fatalf("total %d, want %d", p.Total, len(msgs)+2)
		}
		got = append(got, pageIDs(t, page{Messages: p.Messages})...)
		if p.Cursor == nil {
			break
		}
		cur = *p.Cursor
	}
	want := append(ids(msgs), ahead.MsgID)
	equalIDs(t, "walk", got, want)
}

func TestV2Deterministic(t *testing.T) {
	msgs := Generate(recentSpec())
	now := testNow.Unix()
	run := func(seed uint64) string {
		s := New(Config{Now: newClock(testNow).Now, Faults: Faults{Seed: seed, ServerError: 0.2, TotalDrift: 0.2, CursorExpire: 0.1}}, msgs)
		var b strings.Builder
		target := v2first("/v2/messages", now-3*3600, now, 500)
		for range 60 {
			w := do(t, s, "GET", target, basic(DefaultAppKey, DefaultMasterSecret))
			var p v2page
			_ = json.Unmarshal(w.Body.Bytes(), &p)
			fmt.Fprintf(&b, "%d %d %d|", w.Code, p.Total, len(p.Messages))
			if p.Cursor != nil {
				b.WriteString(*p.Cursor)
			}
			switch {
			case w.Code == 200 && p.Cursor != nil:
				target = "/v2/messages?cursor=" + *p.Cursor
			case w.Code == 200 || strings.Contains(w.Body.String(), "cursor"):
				target = v2first("/v2/messages", now-3*3600, now, 500)
			}
		}
		return b.String()
	}
	a, b, c := run(3), run(3), run(4)
	if a != b {
		t.Fatalf("same seed, different responses")
	}
	if a == c {
		t.Fatalf("another seed, same responses")
	}
}
