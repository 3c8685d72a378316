package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/simulator"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source/callback"
)

// serveCallback starts the message routing receiver on its own listener
// when IMREPORT_CALLBACK_ADDR is set. It stops accepting when ctx ends (a
// shutdown: requests in flight get their answer or a 503) or when stop is
// called, which also waits for it.
func serveCallback(ctx context.Context, cfg Config, p *pipeline.Pipeline, m *metrics, logger *slog.Logger, onListen func(string)) (stop func(), err error) {
	if cfg.CallbackAddr == "" {
		return func() {}, nil
	}
	rc, err := callback.New(callback.Config{
		AppKey:       cfg.AppKey,
		MasterSecret: cfg.MasterSecret,
		Path:         cfg.CallbackPath,
		MaxBody:      int64(cfg.CallbackMaxBody),
		ReadTimeout:  cfg.CallbackReadTimeout,
		AckTimeout:   cfg.CallbackAckTimeout,
		Logger:       logger,
		OnRequest:    m.observeCallback,
	}, p)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.CallbackAddr)
	if err != nil {
		return nil, fmt.Errorf("callback listen %s: %w", cfg.CallbackAddr, err)
	}
	logger.Info("serving message routing callbacks", "addr", ln.Addr().String(), "path", rc.Path())
	if onListen != nil {
		onListen(ln.Addr().String())
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := rc.Serve(sctx, ln); err != nil {
			logger.Error("callback receiver stopped", "error", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// pushFlags are the simulated vendor's message routing switches of
// simulate and demo.
type pushFlags struct {
	url                        string
	lost, dup, errors, reorder float64
}

func callbackFlags(fs *flag.FlagSet) *pushFlags {
	f := &pushFlags{}
	fs.StringVar(&f.url, "callback", "", "push live messages to this receiver URL as the vendor's message routing would")
	f.faultFlags(fs, 0, 0, 0, 0)
	return f
}

func (f *pushFlags) faultFlags(fs *flag.FlagSet, lost, dup, errs, reorder float64) {
	fs.Float64Var(&f.lost, "callback-lost", lost, "fraction of callbacks never sent (0..1)")
	fs.Float64Var(&f.dup, "callback-duplicate", dup, "fraction of callbacks sent twice (0..1)")
	fs.Float64Var(&f.errors, "callback-5xx", errs, "fraction of callbacks answered 503 once, then retried (0..1)")
	fs.Float64Var(&f.reorder, "callback-reorder", reorder, "fraction of callbacks sent up to 2s late (0..1)")
}

func (f *pushFlags) check() error {
	for _, v := range []float64{f.lost, f.dup, f.errors, f.reorder} {
		if v < 0 || v > 1 {
			return errors.New("--callback-* fractions must be within 0..1")
		}
	}
	if f.url == "" {
		return nil
	}
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--callback %q is not an http(s) URL", f.url)
	}
	return nil
}

func (f *pushFlags) String() string {
	return fmt.Sprintf("lost %.0f%%, duplicated %.0f%%, 503 then retried %.0f%%, reordered %.0f%%", 100*f.lost, 100*f.dup, 100*f.errors, 100*f.reorder)
}

// pusher is the simulated vendor: the 5xx fraction is split between
// answers lost before and after the receiver saw the callback.
func (f *pushFlags) pusher(appKey, secret string, seed uint64) *simulator.Pusher {
	return simulator.NewPusher(simulator.PushConfig{URL: f.url, AppKey: appKey, MasterSecret: secret, RetryMax: 500 * time.Millisecond,
		Faults: simulator.PushFaults{Seed: seed, Lost: f.lost, Duplicate: f.dup, Reject: f.errors / 2, AckLost: f.errors / 2,
			Reorder: f.reorder, ReorderMax: 500 * time.Millisecond}})
}

// demoLive is demo --callback: live traffic the simulated vendor pushes to
// the receiver while the run tails the API, then the freshness of each path.
type demoLive struct {
	on     bool
	dur    time.Duration
	faults pushFlags

	from, end time.Time
	msgs      []simulator.Message
	pusher    *simulator.Pusher
	stop      func()

	mu    sync.Mutex
	fresh map[string][]time.Duration // path -> Kafka ack - msg_ctime of live messages
}

func demoLiveFlags(fs *flag.FlagSet) *demoLive {
	d := &demoLive{}
	fs.BoolVar(&d.on, "callback", false, "also receive message routing callbacks: the simulated vendor pushes live traffic while the run polls")
	fs.DurationVar(&d.dur, "callback-live", 10*time.Second, "with --callback: seconds of live traffic (100 messages a second)")
	d.faults.faultFlags(fs, 0.10, 0.10, 0.05, 0.10)
	return d
}

func (d *demoLive) check() error {
	if d.dur < time.Second || d.dur > 10*time.Minute {
		return errors.New("--callback-live must be within 1s..10m")
	}
	return d.faults.check()
}

// generate returns the live traffic, from shortly after now.
func (d *demoLive) generate(seed uint64, now time.Time) []simulator.Message {
	d.from = now.UTC().Truncate(time.Second).Add(2 * time.Second)
	d.end = d.from.Add(d.dur)
	d.msgs = simulator.Generate(simulator.GenSpec{Seed: seed + 1000, Start: d.from, End: d.end, Count: int(100 * d.dur.Seconds())})
	return d.msgs
}

// configure makes the run a short tail to the end of the traffic, with the
// receiver on.
func (d *demoLive) configure(env map[string]string) {
	env["IMREPORT_END"] = d.end.Format(time.RFC3339)
	env["IMREPORT_SETTLE"] = "2s"
	env["IMREPORT_LOOKBACK"] = "3s"
	env["IMREPORT_POLL_INTERVAL"] = "500ms"
	env["IMREPORT_CALLBACK_ADDR"] = "127.0.0.1:0"
}

// hook starts the vendor once the receiver listens and records freshness.
func (d *demoLive) hook(ctx context.Context, h *runHooks, appKey, secret string, seed uint64) {
	d.fresh = map[string][]time.Duration{}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	d.stop = func() { cancel(); <-done }
	h.onCallback = func(addr string) {
		d.faults.url = "http://" + addr + "/callback"
		d.pusher = d.faults.pusher(appKey, secret, seed)
		go func() { defer close(done); _ = d.pusher.Run(pctx, d.msgs) }()
	}
	h.onPublished = func(path string, r sink.Record, at time.Time) {
		if r.DeadLetter == nil && !r.Time.Before(d.from) {
			d.mu.Lock()
			d.fresh[path] = append(d.fresh[path], at.Sub(r.Time))
			d.mu.Unlock()
		}
	}
}

func (d *demoLive) finish() {
	if d.pusher == nil {
		d.stop = func() {}
	}
	d.stop()
}

func (d *demoLive) summary(w io.Writer, s pipeline.Stats) {
	fmt.Fprintf(w, "  live traffic          %d messages pushed by the simulated vendor over %s (%s)\n", len(d.msgs), d.dur, &d.faults)
	if d.pusher != nil {
		fmt.Fprintf(w, "  vendor                %v\n", d.pusher.Stats())
	}
	fmt.Fprintf(w, "  by path               %d by callback, %d by polling; %d callback messages skipped as already published\n",
		s.CallbackPublished, s.Published-s.CallbackPublished, s.CallbackDuplicates)
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(w, "  freshness, callback   %s (Kafka ack - msg_ctime)\n", quantiles(d.fresh[pipeline.PathCallback]))
	fmt.Fprintf(w, "  freshness, polling    %s (settle 2s, poll 500ms)\n", quantiles(d.fresh[pipeline.PathPoll]))
}

// quantiles formats p50/p90/p99/max of ds (sorted in place).
func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	q := func(p float64) time.Duration { return percentile(ds, p).Round(time.Millisecond) }
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v max=%v", len(ds), q(0.5), q(0.9), q(0.99), ds[len(ds)-1].Round(time.Millisecond))
}

// percentile returns the p quantile of ds (sorted in place).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

// liveOnly returns the messages sent at or after from: the ones the vendor
// pushes while the pipeline runs.
func liveOnly(msgs []simulator.Message, from time.Time) []simulator.Message {
	var out []simulator.Message
	for _, m := range msgs {
		if m.MsgCtime >= from.UnixMilli() {
			out = append(out, m)
		}
	}
	return out
}
