package harness

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
)

// The app key and master secret the simulator of a History accepts.
const (
	AppKey = simulator.DefaultAppKey
	Secret = "s3cr3t-master-Secret-value"
)

// History is a simulated Report API over a generated dataset.
type History struct {
	Srv        *simulator.Server
	URL        string
	Msgs       []simulator.Message
	Start, End time.Time
	// onRequest, if set, is called after each API request is served (n is 1-based).
	mu        sync.Mutex
	onRequest func(n int64)
}

func NewHistory(t testing.TB, spec simulator.GenSpec) *History {
	t.Helper()
	return NewHistoryWith(t, spec, simulator.Config{})
}

// NewHistoryWith is NewHistory with a simulator configuration (its app key
// and secret are the tests').
func NewHistoryWith(t testing.TB, spec simulator.GenSpec, cfg simulator.Config) *History {
	t.Helper()
	msgs := simulator.Generate(spec)
	cfg.AppKey, cfg.MasterSecret = AppKey, Secret
	h := &History{Srv: simulator.New(cfg, msgs), Msgs: msgs, Start: spec.Start, End: spec.End}
	var n int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.Srv.ServeHTTP(w, r)
		h.mu.Lock()
		n++
		cb, k := h.onRequest, n
		h.mu.Unlock()
		if cb != nil {
			cb(k)
		}
	}))
	t.Cleanup(ts.Close)
	h.URL = ts.URL
	return h
}

func (h *History) SetOnRequest(f func(int64)) {
	h.mu.Lock()
	h.onRequest = f
	h.mu.Unlock()
}
