package harness

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
)

// NewRun serves spec's history, starts a one-broker Kafka, and returns them
// with BaseEnv's configuration of a bounded run from one to the other.
func NewRun(t testing.TB, spec simulator.GenSpec) (*History, []string, map[string]string) {
	t.Helper()
	h := NewHistory(t, spec)
	brokers := testkit.Brokers(t)
	return h, brokers, BaseEnv(t, h, brokers)
}

// BaseEnv is a complete configuration for a bounded run over h into brokers.
func BaseEnv(t testing.TB, h *History, brokers []string) map[string]string {
	return map[string]string{
		"IMREPORT_APP_KEY":                  AppKey,
		"IMREPORT_MASTER_SECRET":            Secret,
		"IMREPORT_API_URL":                  h.URL,
		"IMREPORT_START":                    h.Start.Format(time.RFC3339),
		"IMREPORT_END":                      h.End.Format(time.RFC3339),
		"IMREPORT_RATE_LIMIT":               "2000",
		"IMREPORT_AUDIT_RATE_LIMIT":         "2000",
		"IMREPORT_KAFKA_BROKERS":            strings.Join(brokers, ","),
		"IMREPORT_KAFKA_PARTITIONS":         "3",
		"IMREPORT_KAFKA_REPLICATION_FACTOR": "1",
		"IMREPORT_CHECKPOINT_PATH":          filepath.Join(t.TempDir(), "imreport.db"),
		"IMREPORT_HTTP_ADDR":                "",
		"IMREPORT_LOG_LEVEL":                "warn",
	}
}

// TailEnv turns env (BaseEnv's bounded run) into a tailing run from start
// (as IMREPORT_START takes it) that polls every 200 ms, 1 s behind now.
func TailEnv(env map[string]string, start string) {
	delete(env, "IMREPORT_END")
	env["IMREPORT_START"] = start
	env["IMREPORT_POLL_INTERVAL"] = "200ms"
	env["IMREPORT_SETTLE"] = "1s"
}

// CheckpointState is the state of the checkpoint file at path, read
// without writing (a run's IMREPORT_CHECKPOINT_PATH, after it).
func CheckpointState(t testing.TB, path string) checkpoint.State {
	t.Helper()
	s, err := checkpoint.Open(checkpoint.Options{Path: path, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Load()
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	return st
}
