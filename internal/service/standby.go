package service

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// standbyCallbacks answers the vendor's callbacks while this member stands
// by: 503 with Retry-After, never 200, since only the owner can put a
// message in Kafka exactly once (the vendor retries, and a Service sends
// the retry to a pod at random, the owner among them).
type standbyCallbacks struct {
	addr   string
	logger interface {
		Warn(msg string, args ...any)
	}
	mu  sync.Mutex
	srv *http.Server
}

// start listens on addr, unless it does already. The owner's receiver may
// still hold the port for a moment after it lost the ownership: start
// tries for a few seconds.
func (s *standbyCallbacks) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil || s.addr == "" {
		return
	}
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.logger.Warn("standby: cannot listen for callbacks (they are refused until this member owns the app)", "addr", s.addr, "error", err)
		return
	}
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "standby: another instance owns this app", http.StatusServiceUnavailable)
	})}
	srv := s.srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Warn("standby callback listener failed", "error", err)
		}
	}()
}

// stop closes the listener, so that the owner's receiver can take the port.
func (s *standbyCallbacks) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.srv = nil
}
