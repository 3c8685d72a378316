package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/imreport/imreport/pipeline"
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
