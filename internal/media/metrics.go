package media

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the media archiver's Prometheus series, plus totals for the
// progress lines.
type Metrics struct {
	records  *prometheus.CounterVec // by status
	bytes    prometheus.Counter
	failures *prometheus.CounterVec // attempts failed, by reason
	lag      *prometheus.GaugeVec   // by partition
	assigned prometheus.Gauge

	Archived, Missing, TooLarge, Failed, Bytes, Published atomic.Int64
}

// NewMetrics registers the series in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		records:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imreport_media_records_total", Help: "Media records published to the media topic, by status (archived, missing_at_source, too_large, failed)."}, []string{"status"}),
		bytes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "imreport_media_archived_bytes_total", Help: "Bytes of media archived to the store."}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "imreport_media_attempt_failures_total", Help: "Failed attempts (resolution, download, check, store), by reason; an item may still be archived on a later attempt."}, []string{"reason"}),
		lag:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "imreport_media_lag_records", Help: "Records of the messages topic not yet read, per assigned partition."}, []string{"partition"}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "imreport_media_partitions_assigned", Help: "Partitions of the messages topic this process holds."}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.bytes, m.failures, m.lag, m.assigned)
	}
	return m
}

// Observe counts an attempt's failure, or (failure "") a decided outcome.
func (m *Metrics) Observe(r Result, failure string) {
	if failure != "" {
		m.failures.WithLabelValues(failure).Inc()
	}
}

// published counts a record once it is in the media topic.
func (m *Metrics) published(r Result) {
	m.records.WithLabelValues(r.Status).Inc()
	m.Published.Add(1)
	switch r.Status {
	case StatusArchived:
		m.Archived.Add(1)
		m.Bytes.Add(r.Size)
		m.bytes.Add(float64(r.Size))
	case StatusMissing:
		m.Missing.Add(1)
	case StatusTooLarge:
		m.TooLarge.Add(1)
	default:
		m.Failed.Add(1)
	}
}

func (m *Metrics) setLag(p int, lag int64) { m.lag.WithLabelValues(strconv.Itoa(p)).Set(float64(lag)) }
