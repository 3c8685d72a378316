package simulator_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/source"
)

// Every poisoned message is rejected by the consumer's decoder with a
// *source.FieldError (not ErrNoMsgID: the msgid stays readable), and every other
// message decodes and transforms, as served by every endpoint.
func TestPoisonRejectedByConsumer(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	msgs := simulator.Generate(simulator.GenSpec{Seed: 5, Start: now.Add(-2 * time.Hour), End: now.Add(-time.Minute),
		Count: 6000, Users: 20, Poison: 0.05})
	want := simulator.Poisoned(msgs)
	if len(want) < 150 {
		t.Fatalf("%d poisoned messages", len(want))
	}
	poisoned := map[int64]bool{}
	for _, id := range want {
		poisoned[id] = true
	}
	check := func(where string, raw []byte) (id int64, bad bool) {
		t.Helper()
		m, err := source.DecodeMessage(raw)
		var fe *source.FieldError
		switch {
		case errors.Is(err, source.ErrNoMsgID):
			t.Fatalf("%s: msgid unreadable: %v: %s", where, err, raw)
		case err != nil && !errors.As(err, &fe):
			t.Fatalf("%s: %T %v", where, err, err)
		case err != nil:
			if !poisoned[fe.MsgID] || fe.MsgID != m.MsgID || !slices.Contains(simulator.PoisonFields, fe.Field) {
				t.Fatalf("%s: unexpected field error %v: %s", where, err, raw)
			}
			return fe.MsgID, true
		}
		if poisoned[m.MsgID] {
			t.Fatalf("%s: poisoned message %d decoded: %s", where, m.MsgID, raw)
		}
		if _, err := schema.Native(m, schema.Source{AppKey: "k", Endpoint: where, APIVersion: "v1", FetchedAt: now}); err != nil {
			t.Fatalf("%s: Native: %v", where, err)
		}
		return m.MsgID, false
	}

	fields := map[string]int{}
	var got []int64
	for _, m := range msgs {
		if _, bad := check("Message.JSON", m.JSON); bad {
			got = append(got, m.MsgID)
			_, err := source.DecodeMessage(m.JSON)
			var fe *source.FieldError
			errors.As(err, &fe)
			fields[fe.Field]++
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rejected %d messages, Poisoned lists %d", len(got), len(want))
	}
	for _, f := range simulator.PoisonFields {
		if fields[f] == 0 {
			t.Errorf("no poisoned %s: %v", f, fields)
		}
	}

	// As served: pages stay valid JSON; the same messages are rejected.
	s := simulator.New(simulator.Config{Now: func() time.Time { return now }}, msgs)
	loc := s.Location()
	begin, end := now.Add(-3*time.Hour), now
	v2q := "&begin_time=" + escape(begin.In(loc).Format(simulator.TimeLayout)) + "&end_time=" + escape(end.In(loc).Format(simulator.TimeLayout))
	get := func(target string) (msgs []json.RawMessage, cursor string) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s.AppKey()+":"+s.MasterSecret())))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		var p struct {
			Cursor   string            `json:"cursor"`
			Messages []json.RawMessage `json:"messages"`
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &p) != nil {
			t.Fatalf("%s: %d %.200s", target, w.Code, w.Body)
		}
		return p.Messages, p.Cursor
	}
	user, group, room := "user0003", s.Groups()[0], s.Chatrooms()[0]
	for _, c := range []struct {
		path  string
		v2    bool
		scope simulator.Scope
		id    string
	}{
		{"/v1/messages", false, simulator.ScopeMessages, ""},
		{"/v1/users/" + user + "/messages", false, simulator.ScopeUsers, user},
		{"/v2/messages", true, simulator.ScopeMessages, ""},
		{"/v2/users/" + user + "/messages", true, simulator.ScopeUsers, user},
		{"/v2/groups/" + group + "/messages", true, simulator.ScopeGroups, group},
		{"/v2/chatrooms/" + room + "/messages", true, simulator.ScopeChatrooms, room},
	} {
		expect, err := s.MatchingV2(c.scope, c.id, begin, end)
		if err != nil {
			t.Fatal(err)
		}
		var rejected []int64
		n := 0
		serve := func(page []json.RawMessage) {
			for _, raw := range page {
				n++
				if id, bad := check(c.path, raw); bad {
					rejected = append(rejected, id)
				}
			}
		}
		if c.v2 {
			page, cur := get(c.path + "?count=1000" + v2q)
			for serve(page); cur != ""; serve(page) {
				page, cur = get(c.path + "?cursor=" + cur)
			}
		} else {
			for start := 0; ; start += 1000 {
				page, _ := get(c.path + "?count=1000&start=" + strconv.Itoa(start))
				if serve(page); len(page) < 1000 {
					break
				}
			}
		}
		if n != len(expect) || !slices.Equal(rejected, simulator.Poisoned(expect)) {
			t.Fatalf("%s: %d served, %d rejected; want %d and %d", c.path, n, len(rejected), len(expect), len(simulator.Poisoned(expect)))
		}
	}
}

func escape(s string) string {
	b := []byte(s)
	out := make([]byte, 0, len(b)+2)
	for _, c := range b {
		if c == ' ' {
			out = append(out, "%20"...)
		} else {
			out = append(out, c)
		}
	}
	return string(out)
}
