package metrics

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imreport/imreport/internal/service/status"
	"github.com/imreport/imreport/internal/tools/audit"
)

// ServeAudit serves the series of `imreport audit --http` (Audit) on addr
// with Serve, ready while the audit runs, until the returned server is
// closed; it returns the progress hook that sets them.
func ServeAudit(addr, version string, logger *slog.Logger) (func(audit.Progress), *http.Server, error) {
	reg := prometheus.NewRegistry()
	onProgress := Audit(reg)
	board := status.New(status.Config{Version: version})
	board.Running(nil) // ready while it runs
	srv, _, err := Serve(addr, reg, board, logger)
	if err != nil {
		return nil, nil, err
	}
	return onProgress, srv, nil
}

// Audit registers the series of `imreport audit --http` and returns
// the progress hook that sets them.
func Audit(reg *prometheus.Registry) func(audit.Progress) {
	done := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "imreport_audit_done", Help: "Audit progress: records read (phase kafka) or API requests made (phase api)."}, []string{"phase"})
	total := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "imreport_audit_total", Help: "Audit progress: records or requests expected, per phase."}, []string{"phase"})
	eta := prometheus.NewGauge(prometheus.GaugeOpts{Name: "imreport_audit_eta_seconds", Help: "Estimated time left in the current audit phase."})
	bad := prometheus.NewGauge(prometheus.GaugeOpts{Name: "imreport_audit_buckets_differing", Help: "Buckets found not to match, once imreport_audit_done{phase=\"done\"} is 1."})
	reg.MustRegister(done, total, eta, bad)
	return func(p audit.Progress) {
		if p.Phase == "done" {
			p.Done, p.Total = 1, 1
		}
		done.WithLabelValues(p.Phase).Set(float64(p.Done))
		total.WithLabelValues(p.Phase).Set(float64(p.Total))
		eta.Set(p.ETA.Seconds())
		bad.Set(float64(p.BucketsBad))
	}
}
