package testkit

import (
	"encoding/json"
	"strings"
	"testing"
)

// JSONLines decodes the lines of a JSON log that keep accepts (with keep
// nil, every line that is not empty), each as one object; a line that is
// not one fails the test.
func JSONLines(t testing.TB, log string, keep func(line string) bool) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(log, "\n") {
		if keep == nil && l == "" || keep != nil && !keep(l) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}
