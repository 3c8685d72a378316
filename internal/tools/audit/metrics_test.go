package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestAuditMetrics: the progress hook sets the imreport_audit_* series.
func TestAuditMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	hook := Collectors(reg)
	hook(Progress{Phase: "api", Done: 3, Total: 12, ETA: 9 * time.Second, BucketsBad: 2})
	hook(Progress{Phase: "done", BucketsBad: 2, BucketsTotal: 12})
	for name, want := range map[string]float64{
		`imreport_audit_done{phase="api"}`:  3,
		`imreport_audit_total{phase="api"}`: 12,
		`imreport_audit_done{phase="done"}`: 1,
		`imreport_audit_buckets_differing`:  2,
	} {
		metric, labels, _ := strings.Cut(strings.TrimSuffix(name, "}"), "{")
		if got := gaugeValue(t, reg, metric, labels); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			if strings.Join(ls, ",") == labels {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", name, labels)
	return 0
}
