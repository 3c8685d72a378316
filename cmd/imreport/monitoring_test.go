package main

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// TestMonitoringNamesServedMetrics: every imreport_* metric the alert
// rules (the chart's and the kustomize component's) and the Grafana
// dashboard name is served by /metrics of a running imreport (tailing,
// caught up, one progress report done).
func TestMonitoringNamesServedMetrics(t *testing.T) {
	refs := map[string][]string{} // metric -> files naming it
	name := regexp.MustCompile(`imreport_[a-z0-9_]*[a-z0-9]`)
	for _, f := range []string{
		"../../deploy/helm/imreport/files/rules.yaml",
		"../../deploy/components/monitoring/prometheusrule.yaml",
		"../../deploy/monitoring/dashboard.json",
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllString(string(b), -1) {
			refs[m] = append(refs[m], filepath.Base(f))
		}
	}
	if len(refs) < 10 {
		t.Fatalf("only %d metric names found in the rules and the dashboard", len(refs))
	}

	now := time.Now().UTC()
	cfg := tailConfig(t, 61, testkit.Brokers(t), now)
	reports := newStepper()
	addr, stop := tailCaughtUp(t, cfg, runHooks{ProgressSleep: reports.sleep}, now.Add(-time.Minute), new(testkit.Buffer))
	<-reports.entered
	reports.step() // one progress report: the remaining and ETA gauges
	_, body := harness.Get(t, "http://"+addr+"/metrics")
	served := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		served[strings.FieldsFunc(l, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	var missing []string
	for m, files := range refs {
		if !served[m] {
			missing = append(missing, m+" (named in "+strings.Join(files, ", ")+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("not served by /metrics: %s", m)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
