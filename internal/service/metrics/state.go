package metrics

import "github.com/prometheus/client_golang/prometheus"

// stateSeries are the series of the state topic, registered on first use.
type stateSeries struct {
	restores prometheus.Counter
	written  prometheus.Gauge
	owner    prometheus.Gauge
	changes  prometheus.Counter
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
		m.st.owner = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "imreport_owner", Help: "1 while this member owns the app in the owner group (IMREPORT_OWNER_GROUP) and runs the pipeline, 0 while it stands by.",
		})
		m.st.changes = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "imreport_ownership_changes_total", Help: "Times this member became the owner of the app or stopped being it.",
		})
		m.reg.MustRegister(m.st.restores, m.st.written, m.st.owner, m.st.changes)
	})
	return m.st
}

// Restored counts a restore from the state topic.
func (m *Metrics) Restored() { m.state().restores.Inc() }

// SnapshotWritten records the sequence of a snapshot written to the state
// topic.
func (m *Metrics) SnapshotWritten(seq uint64) { m.state().written.Set(float64(seq)) }

// Owner records that this member became the owner (true) or stopped being
// it.
func (m *Metrics) Owner(owner bool) {
	st := m.state()
	st.changes.Inc()
	if owner {
		st.owner.Set(1)
	} else {
		st.owner.Set(0)
	}
}
