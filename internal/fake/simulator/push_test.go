package simulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestPusherFaults: every message not lost is answered 200 once at least;
// lost ones never arrive; duplicates, rejects and lost answers send more
// requests, each as the vendor would.
func TestPusherFaults(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	msgs := Generate(GenSpec{Seed: 4, Start: now.Add(-2 * time.Second), End: now, Count: 400})
	var mu sync.Mutex
	arrived := map[int64]int{}
	fail := map[int64]bool{} // answer 500 once to these
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pwd, ok := r.BasicAuth()
		if !ok || user != DefaultAppKey || pwd != DefaultMasterSecret || r.Method != http.MethodPost ||
			r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("request %s %v", r.Method, r.Header)
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		var body struct {
			Total    int               `json:"total"`
			Messages []json.RawMessage `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Total != 1 || len(body.Messages) != 1 {
			t.Errorf("body %+v: %v", body, err)
		}
		var m struct {
			MsgID json.Number `json:"msgid"`
		}
		_ = json.Unmarshal(body.Messages[0], &m)
		id, _ := m.MsgID.Int64()
		mu.Lock()
		defer mu.Unlock()
		arrived[id]++
		if id%17 == 0 && !fail[id] {
			fail[id] = true
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
	}))
	defer ts.Close()
	p := NewPusher(PushConfig{URL: ts.URL, RetryMax: 10 * time.Millisecond,
		Faults: PushFaults{Seed: 1, Lost: 0.1, Duplicate: 0.1, Reject: 0.05, AckLost: 0.05, Reorder: 0.1, ReorderMax: 50 * time.Millisecond}})
	if err := p.Run(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	acked := p.Acked()
	t.Logf("%v", s)
	if s.Messages != int64(len(msgs)) || s.Lost == 0 || s.Duplicates == 0 || s.Rejected == 0 || s.AckLost == 0 || s.Reordered == 0 || s.Failures == 0 {
		t.Fatalf("stats %v: want some of every fault", s)
	}
	if int64(len(acked)) != s.Messages-s.Lost || s.Acked != int64(len(acked)) {
		t.Errorf("%d acked, want %d (all but the lost)", len(acked), s.Messages-s.Lost)
	}
	mu.Lock()
	defer mu.Unlock()
	var requests int64
	for _, m := range msgs {
		n := arrived[m.MsgID]
		requests += int64(n)
		if _, ok := acked[m.MsgID]; ok != (n > 0) {
			t.Errorf("msgid %d: acked %v but arrived %d times", m.MsgID, ok, n)
		}
	}
	// Every attempt but the rejected ones reached the server.
	if want := s.Attempts - s.Rejected + s.Duplicates; requests != want {
		t.Errorf("%d requests arrived, want %d (attempts %d - rejected %d + duplicates %d)", requests, want, s.Attempts, s.Rejected, s.Duplicates)
	}
}
