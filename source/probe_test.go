package source

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
)

func simClient(t *testing.T, cfg simulator.Config, msgs []simulator.Message) *Client {
	t.Helper()
	_, url := testkit.Simulator(t, cfg, msgs)
	c, err := New(Config{BaseURL: url, AppKey: simulator.DefaultAppKey, MasterSecret: simulator.DefaultMasterSecret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestProbeBounds: one request tells a strict reading from an inclusive one.
func TestProbeBounds(t *testing.T) {
	end := time.Now().Add(-time.Hour).Truncate(time.Hour)
	msgs := simulator.Generate(simulator.GenSpec{Seed: 3, Start: end.Add(-time.Hour), End: end, Count: 300, Users: 5})
	sec := time.Unix(msgs[100].CreateTime, 0)
	for _, strict := range []bool{false, true} {
		c := simClient(t, simulator.Config{V2EntityStrict: strict}, msgs)
		want := map[bool]Bounds{false: Inclusive, true: Strict}[strict]
		user := User(msgs[100].FromID)
		if got, err := c.ProbeBounds(context.Background(), user, sec); err != nil || got != want {
			t.Errorf("strict=%v: users probe = %v, %v; want %v", strict, got, err, want)
		}
		if got, err := c.ProbeBounds(context.Background(), Messages, sec); err != nil || got != Inclusive {
			t.Errorf("strict=%v: messages probe = %v, %v; want inclusive", strict, got, err)
		}
	}
}

// TestMessageStatistics: buckets parsed in the API's zone, numbers as
// strings accepted, a 403 is ErrStatisticsUnavailable, bad arguments are
// refused without a request.
func TestMessageStatistics(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.URL.Query().Get("time_unit") == "MONTH" {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":{"code":899043,"message":"VIP only"}}`))
			return
		}
		if r.URL.Path != "/v2/statistic/messages" || r.URL.Query().Get("start") != "2026-11-30" || r.URL.Query().Get("duration") != "2" {
			t.Errorf("request %s", r.URL)
		}
		w.Write([]byte(`{"send_msg_stat":[{"time":"2026-11-30","group_send_msg":"89","single_send_msg":170916},{"time":"2026-12-01","group_send_msg":1}],"group_msg_stat":{}}`))
	}))
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, AppKey: "k", MasterSecret: "s", Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.MessageStatistics(context.Background(), StatDay, time.Date(2026, 11, 29, 16, 0, 0, 0, time.UTC), 2)
	if err != nil || len(got) != 2 || got[0].Single != 170916 || got[0].Group != 89 || got[1].Single != 0 ||
		!got[0].Start.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, loc)) {
		t.Fatalf("MessageStatistics = %+v, %v", got, err)
	}
	_, err = c.MessageStatistics(context.Background(), StatMonth, time.Now(), 1)
	var api *APIError
	if !errors.Is(err, ErrStatisticsUnavailable) || !errors.As(err, &api) || api.Status != 403 {
		t.Errorf("403: %v", err)
	}
	before := calls
	for _, bad := range []struct {
		unit string
		n    int
	}{{"WEEK", 1}, {StatDay, 61}, {StatHour, 25}, {StatMonth, 3}, {StatDay, -1}} {
		if _, err := c.MessageStatistics(context.Background(), bad.unit, time.Now(), bad.n); err == nil {
			t.Errorf("%s x%d: no error", bad.unit, bad.n)
		}
	}
	if calls != before {
		t.Errorf("bad arguments made %d requests", calls-before)
	}
}
