package simulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type statAnswer struct {
	Stat []struct {
		Time   string `json:"time"`
		Group  int    `json:"group_send_msg"`
		Single int    `json:"single_send_msg"`
	} `json:"send_msg_stat"`
	GroupTypes  map[string]int `json:"group_msg_stat"`
	SingleTypes map[string]int `json:"single_msg_stat"`
}

// TestStatisticMessagesCounts: every bucket's single and group counts are
// those of the dataset, in the server's zone, hour, day and month alike.
func TestStatisticMessagesCounts(t *testing.T) {
	now := testNow // 2025-03-10 12:00 Shanghai
	msgs := Generate(GenSpec{Seed: 5, Start: now.AddDate(0, 0, -40), End: now, Count: 20000})
	s := New(Config{AppKey: DefaultAppKey, Now: newClock(now).Now}, msgs)
	count := func(from, to time.Time) (single, group int) {
		for _, m := range msgs {
			if m.CreateTime >= from.Unix() && m.CreateTime < to.Unix() {
				switch m.TargetType {
				case "single":
					single++
				case "group":
					group++
				}
			}
		}
		return single, group
	}
	for _, c := range []struct {
		unit, start string
		duration    int
		first       time.Time
		next        func(time.Time) time.Time
	}{
		{"HOUR", "2025-03-10 00", 12, time.Date(2025, 3, 10, 0, 0, 0, 0, shanghai), func(t time.Time) time.Time { return t.Add(time.Hour) }},
		{"DAY", "2025-02-01", 38, time.Date(2025, 2, 1, 0, 0, 0, 0, shanghai), func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"MONTH", "2025-02", 1, time.Date(2025, 2, 1, 0, 0, 0, 0, shanghai), func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
	} {
		var a statAnswer
		getJSON(t, s, "/v2/statistic/messages?time_unit="+c.unit+"&start="+url.QueryEscape(c.start)+"&duration="+itoa(c.duration), &a)
		if len(a.Stat) != c.duration {
			t.Fatalf("%s: %d buckets, want %d", c.unit, len(a.Stat), c.duration)
		}
		var total, typed int
		b := c.first
		for _, got := range a.Stat {
			single, group := count(b, c.next(b))
			if got.Single != single || got.Group != group {
				t.Errorf("%s %s: single %d group %d, want %d and %d", c.unit, got.Time, got.Single, got.Group, single, group)
			}
			total += single + group
			b = c.next(b)
		}
		for _, m := range []map[string]int{a.GroupTypes, a.SingleTypes} {
			for _, n := range m {
				typed += n
			}
		}
		if total == 0 || typed != total {
			t.Errorf("%s: %d messages in buckets, %d in the by-type breakdown", c.unit, total, typed)
		}
	}
	// Users and groups, by day.
	var users []map[string]any
	getJSON(t, s, "/v2/statistic/users?time_unit=DAY&start=2025-03-01&duration=2", &users)
	if len(users) != 2 || users[0]["date"] != "2025-03-01" || users[0]["active_users"].(float64) == 0 {
		t.Errorf("users: %v", users)
	}
	var groups []map[string]any
	getJSON(t, s, "/v2/statistic/groups?time_unit=DAY&start=2025-03-01&duration=1", &groups)
	if len(groups) != 1 || groups[0]["active_group"].(float64) == 0 {
		t.Errorf("groups: %v", groups)
	}
}

// TestStatisticLimits: the vendor's limits, with its error bodies; 403
// for an app without the VIP plan.
func TestStatisticLimits(t *testing.T) {
	s := New(Config{AppKey: DefaultAppKey, Now: newClock(testNow).Now}, nil)
	auth := basic(DefaultAppKey, DefaultMasterSecret)
	for _, q := range []string{
		"time_unit=WEEK&start=2025-03-10&duration=1",
		"start=2025-03-10&duration=1",
		"time_unit=DAY&start=2025-03-10%2012&duration=1",
		"time_unit=DAY&start=2025-03-10&duration=61",
		"time_unit=DAY&start=2025-03-10&duration=-1",
		"time_unit=DAY&start=2025-03-10",
		"time_unit=MONTH&start=2025-01&duration=3",
		"time_unit=HOUR&start=2025-03-09%2023&duration=1",  // not today
		"time_unit=HOUR&start=2025-03-10%2020&duration=10", // past the end of today
	} {
		code, e := getErr(t, s, "/v2/statistic/messages?"+q, auth)
		if code != http.StatusBadRequest || e.Error.Code != CodeInvalidParam || e.Error.Message == "" {
			t.Errorf("%s: %d %+v, want 400 %d", q, code, e, CodeInvalidParam)
		}
	}
	if code, e := getErr(t, s, "/v2/statistic/users?time_unit=HOUR&start=2025-03-10%2001&duration=1", auth); code != 400 || !strings.Contains(e.Error.Message, "DAY only") {
		t.Errorf("users by hour: %d %+v", code, e)
	}
	if code, e := getErr(t, s, "/v2/statistic/messages?time_unit=DAY&start=2025-03-10&duration=1", basic(DefaultAppKey, "wrong")); code != 401 || e.Error.Code != CodeAuthFailed {
		t.Errorf("wrong secret: %d %+v", code, e)
	}
	var ok statAnswer
	getJSON(t, s, "/v2/statistic/messages?time_unit=HOUR&start=2025-03-10%2000&duration=24", &ok)
	if len(ok.Stat) != 24 {
		t.Errorf("24 hours of today: %d buckets", len(ok.Stat))
	}

	forbidden := New(Config{AppKey: DefaultAppKey, Now: newClock(testNow).Now, StatisticsForbidden: true}, nil)
	for _, what := range []string{"messages", "users", "groups"} {
		code, e := getErr(t, forbidden, "/v2/statistic/"+what+"?time_unit=DAY&start=2025-03-10&duration=1", auth)
		if code != http.StatusForbidden || e.Error.Code != CodeStatisticsForbidden {
			t.Errorf("%s without VIP: %d %+v, want 403 %d", what, code, e, CodeStatisticsForbidden)
		}
	}
	// The Report API itself still answers.
	getPage(t, forbidden, "/v1/messages?start=0&count=1")
}

func getJSON(t *testing.T, s *Server, target string, into any) {
	t.Helper()
	w := do(t, s, http.MethodGet, target, basic(s.AppKey(), s.MasterSecret()))
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), into); err != nil {
		t.Fatalf("GET %s: %v: %.300s", target, err, w.Body)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
