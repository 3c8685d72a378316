package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// TestRunWithOnlyRequiredVariables is what a new user does first (run.sh
// style): the real binary, in an empty directory, against a one-broker
// Kafka, with the three required variables, the API's address and the range
// of a bounded job, and nothing else: no replication factor, no partitions,
// no checkpoint path. It must succeed: the topics are created with the
// cluster's own replication default (1 here) and everything arrives once.
// (IMREPORT_HTTP_ADDR is the one other variable set: the default :8080 may
// be taken on a shared machine.)
func TestRunWithOnlyRequiredVariables(t *testing.T) {
	bin := harness.BuildBinary(t)
	// A bounded job must wait until END + LOOKBACK (10m by default): end the
	// range 11 minutes ago so the run does not wait.
	end := time.Now().UTC().Add(-11 * time.Minute).Truncate(time.Second)
	start := end.Add(-time.Hour)
	h := harness.NewHistory(t, simulator.GenSpec{Seed: 21, Start: start, End: end, Count: 3000})
	brokers := testkit.Brokers(t)

	dir := t.TempDir()
	cmd := exec.Command(bin, "run")
	cmd.Dir = dir
	cmd.Env = childEnv(map[string]string{
		"IMREPORT_APP_KEY":       harness.AppKey,
		"IMREPORT_MASTER_SECRET": harness.Secret,
		"IMREPORT_KAFKA_BROKERS": strings.Join(brokers, ","),
		"IMREPORT_API_URL":       h.URL,
		"IMREPORT_START":         start.Format(time.RFC3339),
		"IMREPORT_END":           end.Format(time.RFC3339),
		"IMREPORT_HTTP_ADDR":     "127.0.0.1:0",
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("imreport run: %v\n%s", err, out)
	}
	logs := string(out)
	harness.AssertExactlyOnce(t, harness.ReadTopic(t, brokers, "imreport.messages"), h.Srv.Visible(start, end), "/v2/messages")
	for _, topic := range []string{`"topic":"imreport.messages"`, `"topic":"imreport.messages.dlq"`} {
		if !strings.Contains(logs, `"msg":"created kafka topic",`+topic+`,"partitions":6,"replication_factor":1,"replication_factor_from":"the cluster's default.replication.factor"`) {
			t.Errorf("no log line says %s was created with the cluster's replication default:\n%s", topic, logs)
		}
	}
	if strings.Contains(logs, "SASL") {
		t.Errorf("a SASL hint without SASL configured:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "imreport.db")); err != nil {
		t.Errorf("the checkpoint is not at its default path: %v", err)
	}
}
