package audit

import "github.com/prometheus/client_golang/prometheus"

// Collectors registers the series of `imreport audit --http` and returns
// the progress hook (Config.OnProgress) that sets them.
func Collectors(reg *prometheus.Registry) func(Progress) {
	done := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "imreport_audit_done", Help: "Audit progress: records read (phase kafka) or API requests made (phase api)."}, []string{"phase"})
	total := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "imreport_audit_total", Help: "Audit progress: records or requests expected, per phase."}, []string{"phase"})
	eta := prometheus.NewGauge(prometheus.GaugeOpts{Name: "imreport_audit_eta_seconds", Help: "Estimated time left in the current audit phase."})
	bad := prometheus.NewGauge(prometheus.GaugeOpts{Name: "imreport_audit_buckets_differing", Help: "Buckets found not to match, once imreport_audit_done{phase=\"done\"} is 1."})
	reg.MustRegister(done, total, eta, bad)
	return func(p Progress) {
		if p.Phase == "done" {
			p.Done, p.Total = 1, 1
		}
		done.WithLabelValues(p.Phase).Set(float64(p.Done))
		total.WithLabelValues(p.Phase).Set(float64(p.Total))
		eta.Set(p.ETA.Seconds())
		bad.Set(float64(p.BucketsBad))
	}
}
