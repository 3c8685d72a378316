package simulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

// PushFaults are the ways the vendor's message routing may misbehave, each a
// probability per message, decided from Seed in message order (so a seed
// gives the same decisions every run).
type PushFaults struct {
	Seed uint64
	// Lost: the callback is never sent; polling must fill the gap.
	Lost float64
	// Duplicate: after its 200, the callback is sent once more.
	Duplicate float64
	// Reject: the first attempt is answered 503 before it reaches the
	// receiver (a proxy in between), and the vendor sends it again.
	Reject float64
	// AckLost: the first attempt reaches the receiver, but the vendor sees a
	// 503 instead of its answer (a gateway timing out), and sends it again.
	AckLost float64
	// Reorder: the callback is sent up to ReorderMax late, after callbacks
	// of messages sent after it.
	Reorder    float64
	ReorderMax time.Duration // 0 = 2s
}

// PushConfig configures a Pusher.
type PushConfig struct {
	URL                  string // the receiver, e.g. http://127.0.0.1:8090/callback
	AppKey, MasterSecret string // Basic auth ("" = DefaultAppKey / DefaultMasterSecret)
	Faults               PushFaults
	Timeout              time.Duration // per attempt; 0 = 5s
	RetryMax             time.Duration // longest wait between attempts; 0 = 1s (the first wait is 50 ms)
	InFlight             int           // callbacks sent at once; 0 = 64
	Client               *http.Client  // nil = a client with Timeout
}

// PushStats counts what a Pusher did.
type PushStats struct {
	Messages   int64 // messages given to Run
	Lost       int64 // never sent (PushFaults.Lost)
	Acked      int64 // messages whose callback was answered 200
	Attempts   int64 // requests sent (or rejected by the simulated proxy)
	Retries    int64 // attempts after a failed one
	Duplicates int64 // extra sends after a 200 (PushFaults.Duplicate)
	Rejected   int64 // first attempts answered 503 by the simulated proxy
	AckLost    int64 // first attempts whose 200 became a 503
	Reordered  int64 // callbacks sent late (PushFaults.Reorder)
	Failures   int64 // attempts that failed otherwise (connection refused, 5xx, timeouts)
}

// Pusher plays the vendor's real-time message routing: it POSTs each message
// to a receiver when it is sent (at its msg_ctime), one message per request
// as the vendor documents ({"total":1,"messages":[...]}, the message exactly
// as the Report API serves it), with `Authorization: Basic
// base64(appKey:masterSecret)` and `Content-Type: application/json;
// charset=utf-8`, retrying every answer but 200 until it gets one (or Run's
// context ends). Faults lose, repeat, reject and reorder callbacks.
type Pusher struct {
	cfg    PushConfig
	client *http.Client

	mu    sync.Mutex
	acked map[int64]time.Time // msgid -> first 200
	lost  []int64

	stats struct {
		messages, lost, acked, attempts, retries, duplicates, rejected, ackLost, reordered, failures atomic.Int64
	}
}

// NewPusher returns a Pusher for cfg.
func NewPusher(cfg PushConfig) *Pusher {
	if cfg.AppKey == "" {
		cfg.AppKey = DefaultAppKey
	}
	if cfg.MasterSecret == "" {
		cfg.MasterSecret = DefaultMasterSecret
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Second
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 64
	}
	if cfg.Faults.ReorderMax <= 0 {
		cfg.Faults.ReorderMax = 2 * time.Second
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{Timeout: cfg.Timeout}
	}
	return &Pusher{cfg: cfg, client: c, acked: map[int64]time.Time{}}
}

// pushPlan is what the fault draws decided for one message.
type pushPlan struct {
	m                          *Message
	due                        time.Time
	dup, reject, ackLost, late bool
}

// Run pushes every message of msgs at its msg_ctime (plus a reorder delay),
// on the real clock: messages due in the past are pushed at once, in order.
// It returns when every callback that is not lost was answered 200, or with
// ctx's error when ctx ends first.
func (p *Pusher) Run(ctx context.Context, msgs []Message) error {
	plans := p.plan(msgs)
	sem := make(chan struct{}, p.cfg.InFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, pl := range plans {
		if d := time.Until(pl.due); d > 0 {
			if err := retry.Sleep(ctx, d); err != nil {
				return err
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func(pl pushPlan) {
			defer wg.Done()
			defer func() { <-sem }()
			p.deliver(ctx, pl)
		}(pl)
	}
	wg.Wait()
	return ctx.Err()
}

// plan draws the faults, in message order, and sorts by due time.
func (p *Pusher) plan(msgs []Message) []pushPlan {
	f := p.cfg.Faults
	r := rand.New(rand.NewPCG(f.Seed, 0x70757368))
	plans := make([]pushPlan, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		p.stats.messages.Add(1)
		lost := r.Float64() < f.Lost
		pl := pushPlan{m: m, due: time.UnixMilli(m.MsgCtime),
			dup: r.Float64() < f.Duplicate, reject: r.Float64() < f.Reject, ackLost: r.Float64() < f.AckLost, late: r.Float64() < f.Reorder}
		delay := time.Duration(r.Int64N(int64(f.ReorderMax)))
		if lost {
			p.stats.lost.Add(1)
			p.mu.Lock()
			p.lost = append(p.lost, m.MsgID)
			p.mu.Unlock()
			continue
		}
		if pl.late {
			pl.due = pl.due.Add(delay)
			p.stats.reordered.Add(1)
		}
		plans = append(plans, pl)
	}
	slices.SortStableFunc(plans, func(a, b pushPlan) int { return a.due.Compare(b.due) })
	return plans
}

// deliver sends one callback until it is answered 200.
func (p *Pusher) deliver(ctx context.Context, pl pushPlan) {
	body := make([]byte, 0, len(pl.m.JSON)+32)
	body = append(body, `{"total":1,"messages":[`...)
	body = append(body, pl.m.JSON...)
	body = append(body, "]}"...)
	wait := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			p.stats.retries.Add(1)
			if retry.Sleep(ctx, wait) != nil {
				return
			}
			wait = min(2*wait, p.cfg.RetryMax)
		}
		p.stats.attempts.Add(1)
		if attempt == 0 && pl.reject {
			p.stats.rejected.Add(1)
			continue
		}
		status, err := p.send(ctx, body)
		if err != nil || status != http.StatusOK {
			if ctx.Err() != nil {
				return
			}
			p.stats.failures.Add(1)
			continue
		}
		if attempt == 0 && pl.ackLost {
			p.stats.ackLost.Add(1)
			continue
		}
		p.mu.Lock()
		if _, ok := p.acked[pl.m.MsgID]; !ok {
			p.acked[pl.m.MsgID] = time.Now()
			p.stats.acked.Add(1)
		}
		p.mu.Unlock()
		if pl.dup {
			pl.dup = false
			p.stats.duplicates.Add(1)
			if _, err := p.send(ctx, body); err != nil && ctx.Err() != nil {
				return
			}
		}
		return
	}
}

func (p *Pusher) send(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.SetBasicAuth(p.cfg.AppKey, p.cfg.MasterSecret)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Acked returns, for every message whose callback was answered 200, when
// the first 200 came.
func (p *Pusher) Acked() map[int64]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.acked)
}

// Lost returns the msgids whose callback was never sent (PushFaults.Lost).
func (p *Pusher) Lost() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lost)
}

// Stats returns the counters so far.
func (p *Pusher) Stats() PushStats {
	s := &p.stats
	return PushStats{Messages: s.messages.Load(), Lost: s.lost.Load(), Acked: s.acked.Load(), Attempts: s.attempts.Load(),
		Retries: s.retries.Load(), Duplicates: s.duplicates.Load(), Rejected: s.rejected.Load(), AckLost: s.ackLost.Load(),
		Reordered: s.reordered.Load(), Failures: s.failures.Load()}
}

// String summarises the stats on one line.
func (s PushStats) String() string {
	return fmt.Sprintf("messages=%d lost=%d acked=%d attempts=%d retries=%d duplicates=%d rejected=%d ack_lost=%d reordered=%d failures=%d",
		s.Messages, s.Lost, s.Acked, s.Attempts, s.Retries, s.Duplicates, s.Rejected, s.AckLost, s.Reordered, s.Failures)
}
