package simulator

import (
	"fmt"
	"testing"
	"time"
)

// A late message is invisible everywhere until Config.Now() reaches VisibleAt,
// then appears and the totals grow by one.
func TestLateVisibilityOnFakeClock(t *testing.T) {
	c := newClock(testNow)
	spec := recentSpec()
	spec.AppKey = "appkey0001"
	msgs := Generate(spec)
	now := testNow.Unix()
	late := Message{MsgID: 1 << 44, MsgType: "text", Version: 1, TargetType: "group", TargetID: "777", FromType: "user",
		FromID: "user0003", CreateTime: now - 600, MsgCtime: (now-600)*1000 + 5, VisibleAt: now + 300}
	s := New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: c.Now, Groups: []string{"777"}}, append(msgs, late))
	b, e := now-3600, now
	type probe struct {
		name   string
		total  func() int
		served func() bool
	}
	served := func(ids []int64) bool {
		for _, id := range ids {
			if id == late.MsgID {
				return true
			}
		}
		return false
	}
	v1 := func(path string) probe {
		return probe{path,
			func() int { return getPage(t, s, path+"?start=0&count=1").Total },
			func() bool {
				all, _ := fetchAll(t, s, path, "&begin_time="+ts(b-1, shanghai)+"&end_time="+ts(e, shanghai), 1000)
				return served(pageIDs(t, page{Messages: all}))
			}}
	}
	v2 := func(path string) probe {
		return probe{path,
			func() int { return getV2(t, s, v2first(path, b, e, 1)).Total },
			func() bool { return served(walkV2(t, s, path, b, e, 1000).ids) }}
	}
	matching := func(name string, f func() ([]Message, error)) probe {
		list := func() []Message {
			l, err := f()
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		return probe{name, func() int { return len(list()) }, func() bool { return served(ids(list())) }}
	}
	probes := []probe{
		v1("/v1/messages"), v1("/v1/users/user0003/messages"),
		v2("/v2/messages"), v2("/v2/users/user0003/messages"), v2("/v2/groups/777/messages"),
		matching("Visible", func() ([]Message, error) { return s.Visible(time.Time{}, time.Time{}), nil }),
		matching("Matching", func() ([]Message, error) { return s.Matching("user0003", time.Unix(b-1, 0), time.Unix(e, 0)) }),
		matching("MatchingV2", func() ([]Message, error) { return s.MatchingV2(ScopeGroups, "777", time.Unix(b, 0), time.Unix(e, 0)) }),
	}
	before := make([]int, len(probes))
	for i, p := range probes {
		before[i] = p.total()
		if p.served() {
			t.Fatalf("%s: late message served before VisibleAt", p.name)
		}
	}
	// One second short: still hidden.
	c.Set(time.Unix(late.VisibleAt-1, 999e6))
	for i, p := range probes {
		if p.served() || p.total() != before[i] {
			t.Fatalf("%s: visible a second early", p.name)
		}
	}
	c.Set(time.Unix(late.VisibleAt, 0))
	for i, p := range probes {
		if !p.served() {
			t.Fatalf("%s: late message not served at VisibleAt", p.name)
		}
		// The end bounds of the v2 probes and Visible are fixed; only the late
		// message changes them (the clock moved by 5 minutes, but no other
		// message was sent in between since the dataset ends a minute before
		// testNow).
		if got := p.total(); got != before[i]+1 {
			t.Fatalf("%s: total %d, was %d", p.name, got, before[i])
		}
	}
}

// Paging with many hidden messages serves exactly the visible ones, in order,
// with totals that count only them, on every endpoint.
func TestLatePagingSkipsHidden(t *testing.T) {
	spec := recentSpec()
	spec.AppKey = "appkey0001"
	spec.Late, spec.LateMin, spec.LateMax = 0.3, time.Minute, 90*time.Minute
	spec.Count, spec.Bursts = 3000, 1
	spec.Start = testNow.Add(-2 * time.Hour)
	spec.End = testNow.Add(30 * time.Minute)
	msgs := Generate(spec)
	c := newClock(testNow)
	s := New(Config{AppKey: "appkey0001", MasterSecret: "secret0001", Now: c.Now}, msgs)
	for _, at := range []time.Time{testNow, testNow.Add(20 * time.Minute), testNow.Add(3 * time.Hour)} {
		c.Set(at)
		now := at.Unix()
		var visible []Message
		hidden := 0
		for _, m := range msgs {
			if m.CreateTime <= now && m.VisibleAt <= now {
				visible = append(visible, m)
			} else if m.CreateTime <= now {
				hidden++
			}
		}
		if at.Before(testNow.Add(time.Hour)) && hidden < 100 {
			t.Fatalf("only %d hidden messages", hidden)
		}
		equalIDs(t, "Visible", ids(s.Visible(time.Time{}, time.Time{})), ids(visible))
		for _, count := range []int{1000, 297} {
			all, total := fetchAll(t, s, "/v1/messages", "", count)
			if total != len(visible) {
				t.Fatalf("total %d, want %d", total, len(visible))
			}
			equalIDs(t, fmt.Sprintf("v1 count %d", count), pageIDs(t, page{Messages: all}), ids(visible))
		}
		res := walkV2(t, s, "/v2/messages", spec.Start.Unix(), now, 333)
		equalIDs(t, "v2", res.ids, ids(visible))
		for _, user := range []string{"user0001", "user0002"} {
			var want []Message
			for i := range visible {
				if involves(&visible[i], user, "appkey0001") {
					want = append(want, visible[i])
				}
			}
			all, total := fetchAll(t, s, "/v1/users/"+user+"/messages", "", 7)
			if total != len(want) {
				t.Fatalf("%s: total %d, want %d", user, total, len(want))
			}
			equalIDs(t, user, pageIDs(t, page{Messages: all}), ids(want))
			res := walkV2(t, s, "/v2/users/"+user+"/messages", spec.Start.Unix(), now, 7)
			equalIDs(t, user+" v2", res.ids, ids(want))
		}
	}
}
