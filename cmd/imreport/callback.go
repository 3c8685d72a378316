package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/simulator"
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
	fs.Float64Var(&f.lost, "callback-lost", 0, "fraction of callbacks never sent (0..1)")
	fs.Float64Var(&f.dup, "callback-duplicate", 0, "fraction of callbacks sent twice (0..1)")
	fs.Float64Var(&f.errors, "callback-5xx", 0, "fraction of callbacks answered 503 once, then retried (0..1)")
	fs.Float64Var(&f.reorder, "callback-reorder", 0, "fraction of callbacks sent up to 2s late (0..1)")
	return f
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
	return simulator.NewPusher(simulator.PushConfig{URL: f.url, AppKey: appKey, MasterSecret: secret,
		Faults: simulator.PushFaults{Seed: seed, Lost: f.lost, Duplicate: f.dup, Reject: f.errors / 2, AckLost: f.errors / 2, Reorder: f.reorder}})
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
