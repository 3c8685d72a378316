package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  replicas: 1
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
          env:
            - {name: IMREPORT_LOG_LEVEL, value: info}
`

// Strict decoding: a valid object passes; an unknown field, a wrong type,
// an unexpected kind and an unknown IMREPORT_* name each fail.
func TestCheck(t *testing.T) {
	vars := map[string]bool{"IMREPORT_LOG_LEVEL": true}
	if n, p := Check([]byte("---\n"+deployment+"---\n"), vars); n != 1 || len(p) != 0 {
		t.Fatalf("valid: %d objects, %v", n, p)
	}
	for name, doc := range map[string]string{
		"unknown field": strings.Replace(deployment, "replicas: 1", "replicas: 1\n  replica: 1", 1),
		"wrong type":    strings.Replace(deployment, "replicas: 1", "replicas: one", 1),
		"unknown kind":  strings.Replace(deployment, "kind: Deployment", "kind: DaemonSet", 1),
		"unknown var":   strings.Replace(deployment, "IMREPORT_LOG_LEVEL", "IMREPORT_LOGLEVEL", 1),
		"nested field":  strings.Replace(deployment, "image: i", "image: i\n          imagePolicy: x", 1),
	} {
		if _, p := Check([]byte(doc), vars); len(p) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The chart's alert rules and the kustomize component's are the same.
func TestRulesInStep(t *testing.T) {
	var spec monitoringv1.PrometheusRuleSpec
	readStrict(t, "../helm/imreport/files/rules.yaml", &spec)
	var rule monitoringv1.PrometheusRule
	readStrict(t, "../components/monitoring/prometheusrule.yaml", &rule)
	if !reflect.DeepEqual(spec, rule.Spec) {
		t.Errorf("deploy/components/monitoring/prometheusrule.yaml differs from the chart's files/rules.yaml")
	}
	if len(spec.Groups) == 0 || len(spec.Groups[0].Rules) < 6 {
		t.Errorf("rules: %+v", spec.Groups)
	}
}

// readStrict decodes the YAML file at path into v, strictly.
func readStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
