package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/sink"
)

// Live is demo --callback: live traffic the simulated vendor pushes to
// the receiver while the run tails the API, then the freshness of each path.
type Live struct {
	On       bool               // receive callbacks at all
	Duration time.Duration      // of live traffic, 100 messages a second
	Push     simulator.PushSpec // the vendor's faults (its URL is set once the receiver listens)

	from, end time.Time
	msgs      []simulator.Message
	pusher    *simulator.Pusher
	stop      func()

	mu    sync.Mutex
	fresh map[string][]time.Duration // path -> Kafka ack - msg_ctime of live messages
}

// Check says what is wrong with the live traffic's settings.
func (d *Live) Check() error {
	if d.Duration < time.Second || d.Duration > 10*time.Minute {
		return errors.New("--callback-live must be within 1s..10m")
	}
	return d.Push.Check()
}

// generate returns the live traffic, from shortly after now.
func (d *Live) generate(seed uint64, now time.Time) []simulator.Message {
	d.from = now.UTC().Truncate(time.Second).Add(2 * time.Second)
	d.end = d.from.Add(d.Duration)
	d.msgs = simulator.Generate(simulator.GenSpec{Seed: seed + 1000, Start: d.from, End: d.end, Count: int(100 * d.Duration.Seconds()), MediaMaxSize: demoMediaMaxSize})
	return d.msgs
}

// configure makes the run a short tail to the end of the traffic, with the
// receiver on.
func (d *Live) configure(env map[string]string) {
	env["IMREPORT_END"] = d.end.Format(time.RFC3339)
	env["IMREPORT_SETTLE"] = "2s"
	env["IMREPORT_LOOKBACK"] = "3s"
	env["IMREPORT_POLL_INTERVAL"] = "500ms"
	env["IMREPORT_CALLBACK_ADDR"] = "127.0.0.1:0"
}

// hook starts the vendor once the receiver listens and records freshness.
func (d *Live) hook(ctx context.Context, h *Hooks, appKey, secret string, seed uint64) {
	d.fresh = map[string][]time.Duration{}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	d.stop = func() { cancel(); <-done }
	h.OnCallback = func(addr string) {
		d.Push.URL = "http://" + addr + "/callback"
		d.pusher = d.Push.Pusher(appKey, secret, seed)
		go func() { defer close(done); _ = d.pusher.Run(pctx, d.msgs) }()
	}
	h.OnPublished = func(path string, r sink.Record, at time.Time) {
		if r.DeadLetter == nil && !r.Time.Before(d.from) {
			d.mu.Lock()
			d.fresh[path] = append(d.fresh[path], at.Sub(r.Time))
			d.mu.Unlock()
		}
	}
}

func (d *Live) finish() {
	if d.pusher == nil {
		d.stop = func() {}
	}
	d.stop()
}

func (d *Live) summary(w io.Writer, s pipeline.Stats) {
	fmt.Fprintf(w, "  live traffic          %d messages pushed by the simulated vendor over %s (%s)\n", len(d.msgs), d.Duration, d.Push)
	if d.pusher != nil {
		fmt.Fprintf(w, "  vendor                %v\n", d.pusher.Stats())
	}
	fmt.Fprintf(w, "  by path               %d by callback, %d by polling; %d callback messages skipped as already published\n",
		s.CallbackPublished, s.Published-s.CallbackPublished, s.CallbackDuplicates)
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(w, "  freshness, callback   %s (Kafka ack - msg_ctime)\n", Quantiles(d.fresh[pipeline.PathCallback]))
	fmt.Fprintf(w, "  freshness, polling    %s (settle 2s, poll 500ms)\n", Quantiles(d.fresh[pipeline.PathPoll]))
}

// Quantiles formats p50/p90/p99/max of ds (sorted in place).
func Quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	q := func(p float64) time.Duration { return Percentile(ds, p).Round(time.Millisecond) }
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v max=%v", len(ds), q(0.5), q(0.9), q(0.99), ds[len(ds)-1].Round(time.Millisecond))
}

// Percentile returns the p quantile of ds (sorted in place).
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}
