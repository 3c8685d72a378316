package source

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

func TestCount(t *testing.T) {
	t.Run("v1", func(t *testing.T) {
		h := newHarness(t, testMsgs(7), nil)
		h.api.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
			if n == 0 {
				w.WriteHeader(503)
				return true
			}
			return false
		}
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
