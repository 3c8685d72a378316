package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imreport/imreport/internal/service/status"
)

// Serve serves /metrics (reg), /healthz (the process is alive), /readyz (it
// can do its work now; see package status) and /status on addr, until the
// returned server is shut down. It returns the bound address, or an error
// when addr cannot be listened on.
func Serve(addr string, reg *prometheus.Registry, board *status.Board, logger *slog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("http listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", board.ServeReady)
	mux.HandleFunc("GET /status", board.ServeStatus)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "error", err)
		}
	}()
	logger.Info("serving metrics and health", "addr", ln.Addr().String())
	return srv, ln.Addr().String(), nil
}
