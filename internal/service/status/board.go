package status

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/internal/service/progress"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/source"
)

// Config configures a Board.
type Config struct {
	Version  string
	Kafka    Kafka    // brokers and topics; state fields are the Board's
	Registry Registry // as configured and registered
	// Endpoints maps a Report API path (as in source.APIError.Endpoint) to
	// the stream it serves, to file API errors under their stream.
	Endpoints map[string]string
	Now       func() time.Time // nil = time.Now
}

// Kafka is the state of the Kafka cluster as last seen.
type Kafka struct {
	Brokers      []string  `json:"brokers"`
	Topic        string    `json:"topic"`
	DLQTopic     string    `json:"dlq_topic"`
	State        string    `json:"state"` // "unknown" (not used yet), "ok" or "failing"
	LastOK       time.Time `json:"last_ok,omitzero"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
}

// Registry is the Schema Registry as configured.
type Registry struct {
	State       string   `json:"state"` // "not configured" or "registered"
	URLs        []string `json:"urls,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	SchemaID    int      `json:"schema_id,omitempty"`
	ValueFormat string   `json:"value_format"`
}

// Stream is one stream's state.
type Stream struct {
	Stream           string    `json:"stream"`
	Cursor           time.Time `json:"cursor,omitzero"`
	LagSeconds       float64   `json:"lag_seconds"`
	RemainingSeconds *float64  `json:"remaining_seconds,omitempty"`
	ETASeconds       *float64  `json:"eta_seconds,omitempty"` // absent = unknown
	DonePct          *float64  `json:"done_pct,omitempty"`
	Published        int64     `json:"published"`
	LastError        string    `json:"last_error,omitempty"`
	LastErrorAt      time.Time `json:"last_error_at,omitzero"`
}

// Status is what GET /status answers.
type Status struct {
	Ready          bool      `json:"ready"`
	NotReadyReason string    `json:"not_ready_reason,omitempty"`
	Version        string    `json:"version"`
	Now            time.Time `json:"now"`
	Streams        []Stream  `json:"streams"`
	Kafka          Kafka     `json:"kafka"`
	Registry       Registry  `json:"registry"`
	// LastAPIError is the last Report API error not tied to one stream.
	LastAPIError   string    `json:"last_api_error,omitempty"`
	LastAPIErrorAt time.Time `json:"last_api_error_at,omitzero"`
	// Owner is this member's role in the owner group; absent without one.
	Owner *Owner `json:"owner,omitempty"`
}

// Board collects the state. Its methods are safe for concurrent use.
type Board struct {
	cfg      Config
	running  atomic.Bool
	stopping atomic.Bool

	mu       sync.Mutex
	kafka    Kafka
	streams  func() []pipeline.StreamProgress
	progress map[string]progress.Status
	errors   map[string]stampedError // by stream
	lastAPI  stampedError
	owner    *Owner // nil without an owner group
}

type stampedError struct {
	msg string
	at  time.Time
}

// New returns a Board, not running yet.
func New(cfg Config) *Board {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Registry.State == "" {
		cfg.Registry.State = "not configured"
	}
	k := cfg.Kafka
	k.State = "unknown"
	return &Board{cfg: cfg, kafka: k, progress: map[string]progress.Status{}, errors: map[string]stampedError{}}
}

// Running says the pipeline runs (checkpoint open, topics ready), with its
// per-stream progress.
func (b *Board) Running(streams func() []pipeline.StreamProgress) {
	b.mu.Lock()
	b.streams = streams
	b.mu.Unlock()
	b.running.Store(true)
}

// SetRegistry replaces the registry's description (once the value schema is
// registered).
func (b *Board) SetRegistry(r Registry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cfg.Registry = r
}

// Stopping says a shutdown began: not ready from now on.
func (b *Board) Stopping() { b.stopping.Store(true) }

// KafkaResult records the outcome of a Kafka request: nil = it answered.
func (b *Board) KafkaResult(err error) {
	if errors.Is(err, context.Canceled) {
		return // ours, not Kafka's
	}
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		b.kafka.State, b.kafka.LastOK, b.kafka.FailingSince = "ok", now, time.Time{}
		return
	}
	if b.kafka.State != "failing" {
		b.kafka.FailingSince = now
	}
	b.kafka.State, b.kafka.LastError = "failing", err.Error()
}

// APIError records a Report API error (a retried or a fatal one), under
// its stream when the error names the stream's endpoint.
func (b *Board) APIError(err error) {
	e := stampedError{msg: err.Error(), at: b.cfg.Now()}
	var endpoint string
	var ae *source.APIError
	var te *source.TransportError
	switch {
	case errors.As(err, &ae):
		endpoint = ae.Endpoint
	case errors.As(err, &te):
		endpoint = te.Endpoint
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.cfg.Endpoints[endpoint]; ok {
		b.errors[s] = e
		return
	}
	b.lastAPI = e
}

// Progress records the latest progress of each stream (the reporter's).
func (b *Board) Progress(st []progress.Status) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range st {
		b.progress[s.Name] = s
	}
}

// Ready says whether the process can do its work now, and if not, why.
func (b *Board) Ready() (bool, string) {
	switch {
	case b.stopping.Load():
		return false, "shutting down"
	case !b.running.Load():
		b.mu.Lock()
		o := b.owner
		b.mu.Unlock()
		if o != nil && o.Role == "standby" {
			// Ready to take over: a rollout may go on, and the callbacks
			// a Service sends here are answered 503 (the vendor retries).
			return true, ""
		}
		return false, "starting: the checkpoint or the Kafka topics are not ready yet"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kafka.State == "failing" {
		return false, "kafka unreachable since " + b.kafka.FailingSince.UTC().Format(time.RFC3339) + ": " + b.kafka.LastError
	}
	return true, ""
}

// Snapshot is the status now.
func (b *Board) Snapshot() Status {
	ready, why := b.Ready()
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Status{Ready: ready, NotReadyReason: why, Version: b.cfg.Version, Now: now.UTC(),
		Kafka: b.kafka, Registry: b.cfg.Registry, LastAPIError: b.lastAPI.msg, LastAPIErrorAt: b.lastAPI.at,
		Streams: []Stream{}, Owner: b.ownerStatus()}
	if b.streams == nil {
		return st
	}
	for _, sp := range b.streams() {
		s := Stream{Stream: sp.Stream, Cursor: sp.Cursor.UTC(), Published: sp.Published}
		if !sp.Cursor.IsZero() {
			s.LagSeconds = now.Sub(sp.Cursor).Seconds()
		}
		if p, ok := b.progress[sp.Stream]; ok {
			rem, done := p.Remaining.Seconds(), 100*p.Done
			s.RemainingSeconds, s.DonePct = &rem, &done
			if p.ETA >= 0 {
				eta := p.ETA.Seconds()
				s.ETASeconds = &eta
			}
		}
		if e, ok := b.errors[sp.Stream]; ok {
			s.LastError, s.LastErrorAt = e.msg, e.at
		}
		st.Streams = append(st.Streams, s)
	}
	return st
}

// ServeStatus answers GET /status.
func (b *Board) ServeStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(b.Snapshot())
}

// ServeReady answers GET /readyz: 200 "ready", or 503 with the reason.
func (b *Board) ServeReady(w http.ResponseWriter, _ *http.Request) {
	if ok, why := b.Ready(); !ok {
		http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Probe asks Kafka with probe every interval until ctx ends, recording
// each outcome; each attempt may take up to timeout.
func (b *Board) Probe(ctx context.Context, interval, timeout time.Duration, probe func(context.Context) error,
	sleep func(context.Context, time.Duration) error) {
	for {
		if err := sleep(ctx, interval); err != nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		b.KafkaResult(err)
	}
}

// StartProbe runs Probe in its own goroutine until the returned stop is
// called; stop ends it and waits. sleep nil = a timer.
func (b *Board) StartProbe(ctx context.Context, interval, timeout time.Duration, probe func(context.Context) error,
	sleep func(context.Context, time.Duration) error) (stop func()) {
	if sleep == nil {
		sleep = retry.Sleep
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Probe(ctx, interval, timeout, probe, sleep)
	}()
	return func() {
		cancel()
		<-done
	}
}
