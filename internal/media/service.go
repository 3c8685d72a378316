package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/imreport/imreport/internal/media/store"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
)

// Options configure Serve: imreport media as a service.
type Options struct {
	Kafka          sink.Config // the messages topic
	MediaTopic     string
	Group          string
	SessionTimeout time.Duration
	Decoder        Decoder
	Codec          *schema.MediaCodec

	APIURL, AppKey, MasterSecret string
	APITimeout                   time.Duration
	StoreURL                     string
	RateLimit                    float64
	Concurrency                  int
	MaxSize                      int64
	MaxAttempts                  int
	DownloadTimeout              time.Duration
	SpoolDir                     string

	// OnMetrics, when set, is given the process's metrics once they exist
	// (the demo watches its totals).
	OnMetrics func(*Metrics)

	HTTPAddr      string        // /metrics, /healthz, /readyz; "" = none
	ProgressEvery time.Duration // progress lines
	Logger        *slog.Logger
}

// Serve runs imreport media until ctx ends: it checks the store, creates
// the media topic if needed, serves health and metrics, and runs the
// consumer.
func Serve(ctx context.Context, o Options) error {
	st, err := store.Open(o.StoreURL)
	if err != nil {
		return err
	}
	if err := st.Check(ctx); err != nil {
		return fmt.Errorf("media store check: %w", err)
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if o.OnMetrics != nil {
		o.OnMetrics(m)
	}
	arch := &Archiver{
		Resolver: &Resolver{BaseURL: o.APIURL, AppKey: o.AppKey, MasterSecret: o.MasterSecret, HTTP: &http.Client{Timeout: o.APITimeout}},
		HTTP:     &http.Client{Timeout: o.DownloadTimeout},
		Store:    st, Limiter: rate.NewLimiter(rate.Limit(o.RateLimit), 1),
		MaxSize: o.MaxSize, MaxAttempts: o.MaxAttempts, Backoff: time.Second, SpoolDir: o.SpoolDir,
		Now: time.Now, Logger: o.Logger, Observe: m.Observe,
	}
	c, err := New(Config{Kafka: o.Kafka, MediaTopic: o.MediaTopic, Group: o.Group, SessionTimeout: o.SessionTimeout,
		Decoder: o.Decoder, Codec: o.Codec, Archiver: arch, Concurrency: o.Concurrency, Metrics: m, Logger: o.Logger})
	if err != nil {
		return err
	}
	if o.Kafka.CreateTopic {
		if _, err := c.Writer().EnsureTopic(ctx); err != nil {
			return fmt.Errorf("media topic %s: %w", o.MediaTopic, err)
		}
	}
	if o.HTTPAddr != "" {
		srv, err := serveHTTP(o.HTTPAddr, reg, c, o.Logger)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if o.ProgressEvery > 0 {
		go progress(ctx, m, o.ProgressEvery, o.Logger)
	}
	o.Logger.Info("imreport media started", "topic", o.Kafka.Topic, "media_topic", o.MediaTopic, "group", o.Group)
	err = c.Run(ctx)
	o.Logger.Info("imreport media stopped", "published", m.Published.Load(), "archived", m.Archived.Load(), "bytes", m.Bytes.Load(),
		"missing_at_source", m.Missing.Load(), "too_large", m.TooLarge.Load(), "failed", m.Failed.Load())
	return err
}

func serveHTTP(addr string, reg *prometheus.Registry, c *Consumer, logger *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !c.Joined.Load() {
			http.Error(w, "not in the consumer group yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok: %d partition(s)\n", c.Assigned.Load())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "error", err)
		}
	}()
	logger.Info("serving metrics and health", "addr", ln.Addr().String())
	return srv, nil
}

func progress(ctx context.Context, m *Metrics, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			logger.Info("media progress", "published", m.Published.Load(), "archived", m.Archived.Load(), "bytes", m.Bytes.Load(),
				"missing_at_source", m.Missing.Load(), "too_large", m.TooLarge.Load(), "failed", m.Failed.Load())
		}
	}
}
