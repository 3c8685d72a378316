package metrics

import "github.com/prometheus/client_golang/prometheus"

// stateSeries are the series of the state topic, registered on first use.
type stateSeries struct {
	restores prometheus.Counter
	written  prometheus.Gauge
}

// state returns the state topic's series, registering them once.
func (m *Metrics) state() *stateSeries {
	m.stateOnce.Do(func() {
		m.st = &stateSeries{
			restores: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "imreport_state_restores_total", Help: "Checkpoints restored from the state topic's snapshot (missing, empty, corrupt or superseded file).",
			}),
			written: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "imreport_state_snapshot_sequence", Help: "Commit sequence of the newest snapshot written to the state topic.",
			}),
		}
		m.reg.MustRegister(m.st.restores, m.st.written)
	})
	return m.st
}

// Restored counts a restore from the state topic.
func (m *Metrics) Restored() { m.state().restores.Inc() }

// SnapshotWritten records the sequence of a snapshot written to the state
// topic.
func (m *Metrics) SnapshotWritten(seq uint64) { m.state().written.Set(float64(seq)) }
