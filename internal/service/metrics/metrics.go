package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imreport/imreport/internal/service/progress"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source/callback"
)

// Metrics are the Prometheus series of one run.
type Metrics struct {
	reg         *prometheus.Registry
	now         func() time.Time
	apiRequests *prometheus.CounterVec
	apiLatency  *prometheus.HistogramVec
	apiRetries  prometheus.Counter
	apiRestarts *prometheus.CounterVec
	cursor      *prometheus.GaugeVec
	remaining   *prometheus.GaugeVec
	eta         *prometheus.GaugeVec

	callbackRequests *prometheus.CounterVec         // by outcome
	freshness        *prometheus.HistogramVec       // by path
	freshnessOf      map[string]prometheus.Observer // freshness of pipeline.PathPoll and PathCallback, looked up once

	stateOnce sync.Once
	st        *stateSeries // state.go

	watched atomic.Pointer[pipeline.Pipeline] // the pipeline Watch reads
}

// watched reads the pipeline Watch was given last.
type watched struct {
	p *atomic.Pointer[pipeline.Pipeline]
}

func (w watched) Stats() pipeline.Stats         { return w.p.Load().Stats() }
func (w watched) Cursors() map[string]time.Time { return w.p.Load().Cursors() }

// New registers the series of one run at reg: ready says whether /readyz
// answers 200 (imreport_ready), now is the clock of imreport_lag_seconds.
func New(reg *prometheus.Registry, ready func() bool, now func() time.Time) *Metrics {
	m := &Metrics{
		reg: reg,
		now: now,
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imreport_api_requests_total", Help: "Report API requests by endpoint kind and HTTP status (0 = no response).",
		}, []string{"endpoint", "status"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "imreport_api_request_duration_seconds", Help: "Report API request latency.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}, []string{"endpoint"}),
		apiRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "imreport_api_retries_total", Help: "Report API requests retried after a temporary failure.",
		}),
		apiRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imreport_api_walk_restarts_total", Help: "Windows walked again from their first page, by endpoint kind and reason (total changed, cursor stale, rejected or repeated).",
		}, []string{"endpoint", "reason"}),
		cursor: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imreport_cursor_timestamp_seconds", Help: "Committed cursor per stream: everything sent before it is in Kafka.",
		}, []string{"stream"}),
		remaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imreport_remaining_seconds", Help: "Range of send time a stream still has to cover: its target (the end of a bounded run, else now minus the settle time) minus its cursor.",
		}, []string{"stream"}),
		eta: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imreport_eta_seconds", Help: "Estimated time until a stream reaches its target at the pace of the last minute; -1 when it is not closing in.",
		}, []string{"stream"}),
	}
	m.callbackRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imreport_callback_requests_total", Help: "Message routing callback requests received, by outcome: accepted, or the reason they were refused (unauthorized, method, content_type, too_large, malformed, slow, busy, unavailable, not_found).",
	}, []string{"outcome"})
	m.freshness = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "imreport_freshness_seconds", Help: "Kafka acknowledgement time minus msg_ctime of each published message, by path (callback, poll).",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 45, 60, 120, 300, 600, 1800, 3600, 6 * 3600, 24 * 3600},
	}, []string{"path"})
	for _, o := range []string{callback.OutcomeAccepted, callback.OutcomeUnauthorized, callback.OutcomeMethod, callback.OutcomeContentType,
		callback.OutcomeTooLarge, callback.OutcomeMalformed, callback.OutcomeSlow, callback.OutcomeBusy, callback.OutcomeUnavailable} {
		m.callbackRequests.WithLabelValues(o)
	}
	reg.MustRegister(m.callbackRequests, m.freshness)
	m.state()
	m.freshnessOf = map[string]prometheus.Observer{}
	for _, path := range []string{pipeline.PathPoll, pipeline.PathCallback} {
		m.freshnessOf[path] = m.freshness.WithLabelValues(path)
	}
	reg.MustRegister(m.apiRequests, m.apiLatency, m.apiRetries, m.apiRestarts, m.cursor, m.remaining, m.eta,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imreport_ready", Help: "1 while /readyz is 200: the pipeline runs, no shutdown began, and Kafka answered the last request."},
			func() float64 {
				if ready() {
					return 1
				}
				return 0
			}))
	return m
}

// ObserveAPI counts a Report API request and its latency (status 0: no
// response).
func (m *Metrics) ObserveAPI(kind string, status int, elapsed time.Duration) {
	m.apiRequests.WithLabelValues(kind, strconv.Itoa(status)).Inc()
	m.apiLatency.WithLabelValues(kind).Observe(elapsed.Seconds())
}

// ObserveCallback counts a callback request by its outcome.
func (m *Metrics) ObserveCallback(outcome string) {
	m.callbackRequests.WithLabelValues(outcome).Inc()
}

// ObservePublished records a message's freshness: acknowledged minus
// msg_ctime.
func (m *Metrics) ObservePublished(path string, r sink.Record, at time.Time) {
	if r.DeadLetter != nil || r.Time.IsZero() {
		return
	}
	o, ok := m.freshnessOf[path] // read only after New: safe from any goroutine
	if !ok {
		o = m.freshness.WithLabelValues(path)
	}
	o.Observe(at.Sub(r.Time).Seconds())
}

// ObserveCommit sets the committed cursor of each stream.
func (m *Metrics) ObserveCommit(p pipeline.Progress) {
	for s, c := range p.Cursors {
		m.cursor.WithLabelValues(s).Set(float64(c.Unix()))
	}
}

// ObserveProgress sets the progress gauges.
func (m *Metrics) ObserveProgress(st []progress.Status) {
	for _, s := range st {
		m.remaining.WithLabelValues(s.Name).Set(s.Remaining.Seconds())
		eta := -1.0
		if s.ETA >= 0 {
			eta = s.ETA.Seconds()
		}
		m.eta.WithLabelValues(s.Name).Set(eta)
	}
}

// Watch exposes the pipeline's own counters. A later Watch (the owner
// group gave this member the app again) replaces the pipeline they read:
// its counters start from zero, which Prometheus takes for a reset.
func (m *Metrics) Watch(pl *pipeline.Pipeline) {
	if m.watched.Swap(pl) != nil {
		return
	}
	p := watched{&m.watched}
	counter := func(name, help string, f func(pipeline.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(p.Stats())) })
	}
	byPath := func(path string, f func(pipeline.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "imreport_messages_published_by_path_total",
			Help: "Messages acknowledged by Kafka (main topic), by the path they came by: callback or poll.", ConstLabels: prometheus.Labels{"path": path}},
			func() float64 { return float64(f(p.Stats())) })
	}
	m.reg.MustRegister(
		counter("imreport_pages_fetched_total", "Report API pages received.", func(s pipeline.Stats) int64 { return s.Pages }),
		counter("imreport_messages_fetched_total", "Messages received from the Report API, before deduplication.", func(s pipeline.Stats) int64 { return s.Fetched }),
		counter("imreport_messages_published_total", "Messages acknowledged by Kafka.", func(s pipeline.Stats) int64 { return s.Published }),
		counter("imreport_messages_duplicate_total", "Messages skipped because their msgid was already published.", func(s pipeline.Stats) int64 { return s.Duplicates }),
		counter("imreport_windows_published_total", "Windows fully published.", func(s pipeline.Stats) int64 { return s.Windows }),
		counter("imreport_rescans_published_total", "Lookback windows re-scanned for late arrivals.", func(s pipeline.Stats) int64 { return s.Rescans }),
		counter("imreport_checkpoint_commits_total", "Checkpoint commits.", func(s pipeline.Stats) int64 { return s.Commits }),
		counter("imreport_kafka_publish_retries_total", "Kafka publishes and read-backs retried after a temporary failure.", func(s pipeline.Stats) int64 { return s.Retries }),
		counter("imreport_rescan_checks_total", "Lookback windows whose total was asked for (one small API request each).", func(s pipeline.Stats) int64 { return s.RescanChecks }),
		counter("imreport_rescan_skips_total", "Lookback windows not fetched because the API's total matched what was already fetched.", func(s pipeline.Stats) int64 { return s.RescanSkips }),
		counter("imreport_messages_dead_lettered_total", "Messages sent to the dead-letter topic because they could not be decoded, transformed or encoded.", func(s pipeline.Stats) int64 { return s.DeadLettered }),
		counter("imreport_kafka_read_backs_total", "Read-backs of Kafka: at start and after a failed write.", func(s pipeline.Stats) int64 { return s.ReadBacks }),
		counter("imreport_callback_writes_total", "Kafka writes that carried callbacks (concurrent callbacks are coalesced into one write).", func(s pipeline.Stats) int64 { return s.CallbackWrites }),
		counter("imreport_callback_messages_total", "Messages received in accepted callback requests.", func(s pipeline.Stats) int64 { return s.CallbackMessages }),
		counter("imreport_callback_duplicates_total", "Messages of callbacks skipped as already published (by either path, or twice in one write).", func(s pipeline.Stats) int64 { return s.CallbackDuplicates }),
		counter("imreport_callback_outside_streams_total", "Messages of callbacks skipped because no configured stream (IMREPORT_USERS, IMREPORT_GROUPS, IMREPORT_CHATROOMS) serves them.", func(s pipeline.Stats) int64 { return s.CallbackOutside }),
		counter("imreport_callback_stale_total", "Messages of callbacks skipped because the poller's cursor had passed them by more than the lookback (polling published them).", func(s pipeline.Stats) int64 { return s.CallbackStale }),
		byPath(pipeline.PathCallback, func(s pipeline.Stats) int64 { return s.CallbackPublished }),
		byPath(pipeline.PathPoll, func(s pipeline.Stats) int64 { return s.Published - s.CallbackPublished }),
		counter("imreport_kafka_recovered_total", "msgids found in Kafka by a read-back that the checkpoint did not know (a crash or a failed write that landed).", func(s pipeline.Stats) int64 { return s.Recovered }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imreport_dedupe_entries", Help: "msgids held for deduplication."},
			func() float64 { return float64(p.Stats().Seen) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imreport_lag_seconds", Help: "Now minus the oldest committed cursor."},
			func() float64 {
				o := pipeline.Oldest(p.Cursors())
				if o.IsZero() {
					return 0
				}
				return m.now().Sub(o).Seconds()
			}),
	)
}

// APIRetry counts a Report API request retried after a temporary failure.
func (m *Metrics) APIRetry() { m.apiRetries.Inc() }

// APIRestart counts a window walked again from its first page.
func (m *Metrics) APIRestart(kind, reason string) { m.apiRestarts.WithLabelValues(kind, reason).Inc() }
