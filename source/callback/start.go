package callback

import (
	"context"
	"fmt"
	"net"
)

// Start listens on addr and serves rc in the background until ctx ends (a
// shutdown: requests in flight get their answer or a 503) or stop is
// called, which also waits for it. onListen, if set, is called with the
// bound address before Start returns. The error is the listen's.
func (rc *Receiver) Start(ctx context.Context, addr string, onListen func(addr string)) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("callback listen %s: %w", addr, err)
	}
	rc.cfg.Logger.Info("serving message routing callbacks", "addr", ln.Addr().String(), "path", rc.Path())
	if onListen != nil {
		onListen(ln.Addr().String())
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := rc.Serve(sctx, ln); err != nil {
			rc.cfg.Logger.Error("callback receiver stopped", "error", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
