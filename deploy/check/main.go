// Command check strictly decodes rendered Kubernetes manifests (helm
// template, kustomize build) into the Kubernetes API types: a field the
// API does not know, a wrong type or a kind this project does not expect
// fails. With --vars it also fails on any IMREPORT_* name that is not a
// configuration variable. It is its own module so that the Kubernetes
// packages stay out of imreport's.
//
// Usage: check [--vars FILE] MANIFEST...   (MANIFEST "-" = stdin)
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// kinds are the objects imreport's manifests may hold.
var kinds = map[string]func() any{
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1/PersistentVolumeClaim":                func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                            func() any { return &batchv1.Job{} },
	"batch/v1/CronJob":                        func() any { return &batchv1.CronJob{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":            func() any { return &networkingv1.Ingress{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

func main() {
	varsFile := flag.String("vars", "", "file listing the configuration variables, one per line")
	flag.Parse()
	var vars map[string]bool
	if *varsFile != "" {
		var err error
		if vars, err = readVars(*varsFile); err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			os.Exit(2)
		}
	}
	failed := false
	for _, path := range flag.Args() {
		data, err := readFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			os.Exit(2)
		}
		n, problems := Check(data, vars)
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "%s: %s\n", path, p)
		}
		if len(problems) > 0 || n == 0 {
			failed = true
			if n == 0 {
				fmt.Fprintf(os.Stderr, "%s: no objects\n", path)
			}
			continue
		}
		fmt.Printf("ok %s: %d objects\n", path, n)
	}
	if failed || flag.NArg() == 0 {
		os.Exit(1)
	}
}

func readFile(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// readVars reads IMREPORT_* names: every one found in the file (e.g. the
// output of `imreport run --help`, where each variable starts a line).
func readVars(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]bool{}
	sc := bufio.NewScanner(f)
	start := regexp.MustCompile(`^\s*(IMREPORT_[A-Z0-9_]+)\b`)
	for sc.Scan() {
		if m := start.FindStringSubmatch(sc.Text()); m != nil {
			vars[m[1]] = true
		}
	}
	if len(vars) == 0 {
		return nil, fmt.Errorf("%s lists no IMREPORT_* variable", path)
	}
	return vars, sc.Err()
}

var varName = regexp.MustCompile(`IMREPORT_[A-Z0-9_]*[A-Z0-9]`)

// Check decodes every document of a multi-document YAML stream strictly and
// returns how many objects it held and every problem found.
func Check(data []byte, vars map[string]bool) (int, []string) {
	var problems []string
	n := 0
	for i, doc := range split(data) {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			problems = append(problems, fmt.Sprintf("document %d: not YAML: %v", i+1, err))
			continue
		}
		if meta.Kind == "" && meta.APIVersion == "" {
			continue // an empty document
		}
		id := fmt.Sprintf("%s %s", meta.Kind, meta.Metadata.Name)
		newObj, ok := kinds[meta.APIVersion+"/"+meta.Kind]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: unexpected kind %s/%s", id, meta.APIVersion, meta.Kind))
			continue
		}
		n++
		if err := yaml.UnmarshalStrict(doc, newObj()); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", id, err))
		}
		if meta.Metadata.Name == "" {
			problems = append(problems, fmt.Sprintf("%s: no metadata.name", id))
		}
		if vars != nil {
			for _, name := range varName.FindAllString(string(doc), -1) {
				if !vars[name] {
					problems = append(problems, fmt.Sprintf("%s: %s is not a configuration variable", id, name))
				}
			}
		}
	}
	return n, problems
}

// split cuts a YAML stream at its document separators.
func split(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, cur.Bytes())
}
