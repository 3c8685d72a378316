package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// doctorRows parses the doctor's table into check -> status.
func doctorRows(t *testing.T, out string) map[string]string {
	t.Helper()
	rows := map[string]string{}
	line := regexp.MustCompile(`^(\S.*?)\s{2,}(ok|fail|skip)\s{2,}`)
	for _, l := range strings.Split(out, "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			rows[m[1]] = m[2]
		}
	}
	return rows
}

// TestDoctor: against the simulator and a one-broker kfake, every check
// passes (exit 0), before and after a run; then each failure once: a wrong
// master secret, no broker, a compacted topic, a checkpoint another
// process holds, an unreachable registry; each exits 1 with its row failed
// and a fix, and no secret is ever printed.
func TestDoctor(t *testing.T) {
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	h := harness.NewHistory(t, simulator.GenSpec{Seed: 51, Start: end.Add(-time.Hour), End: end, Count: 100})
	cluster := testkit.Kafka(t, kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	brokers := cluster.ListenAddrs()
	base := harness.BaseEnv(t, h, brokers)
	user := ""
	for _, m := range h.Msgs {
		if m.FromType == "user" {
			user = m.FromID
			break
		}
	}
	base["IMREPORT_USERS"] = user

	doctor := func(env map[string]string) (int, string) {
		t.Helper()
		code, stdout, stderr := runMain(context.Background(), env, "doctor")
		for _, secret := range []string{harness.Secret, "not-the-secret"} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("the doctor printed a secret:\n%s%s", stdout, stderr)
			}
		}
		if stderr != "" {
			t.Errorf("stderr: %s", stderr)
		}
		return code, stdout
	}
	want := func(name string, out string, code, wantCode int, status map[string]string) {
		t.Helper()
		rows := doctorRows(t, out)
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d:\n%s", name, code, wantCode, out)
		}
		for check, s := range status {
			if rows[check] != s {
				t.Errorf("%s: %q is %q, want %q:\n%s", name, check, rows[check], s, out)
			}
		}
		if wantCode != 0 && !strings.Contains(out, "fix: ") {
			t.Errorf("%s: no fix printed:\n%s", name, out)
		}
	}
	cp := "checkpoint " + base["IMREPORT_CHECKPOINT_PATH"]
	allOK := map[string]string{
		"report api credentials": "ok", "report api version v2": "ok", "stream users/" + user: "ok", "kafka brokers": "ok",
		"topic imreport.messages": "ok", "dead-letter topic imreport.messages.dlq": "ok", "state topic imreport.messages.state": "ok", cp: "ok",
	}

	t.Run("all pass before the first run", func(t *testing.T) {
		code, out := doctor(base)
		want("first", out, code, 0, allOK)
		if len(doctorRows(t, out)) != len(allOK) {
			t.Errorf("rows:\n%s", out)
		}
	})
	t.Run("all pass after a run", func(t *testing.T) {
		if code, _, stderr := runMain(context.Background(), base, "run"); code != 0 {
			t.Fatalf("run: %d\n%s", code, stderr)
		}
		code, out := doctor(base)
		want("after", out, code, 0, allOK)
		if !strings.Contains(out, "cleanup.policy=delete") || !strings.Contains(out, "1 stream cursor(s)") || !strings.Contains(out, "1 partition(s), cleanup.policy=compact") {
			t.Errorf("details:\n%s", out)
		}
	})
	t.Run("media store", func(t *testing.T) {
		env := copyEnv(base)
		dir := t.TempDir()
		env["IMREPORT_MEDIA_URL"] = "file://" + dir
		code, out := doctor(env)
		withMedia := maps.Clone(allOK)
		withMedia["media store file://"+dir] = "ok"
		want("media", out, code, 0, withMedia)
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("the probe was left: %v", left)
		}
		// A store that cannot be written: a file where the directory goes.
		blocked := filepath.Join(dir, "blocked")
		if err := os.WriteFile(blocked, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		env["IMREPORT_MEDIA_URL"] = "file://" + blocked + "/sub"
		code, out = doctor(env)
		want("blocked media", out, code, 1, map[string]string{"media store file://" + blocked + "/sub": "fail", "kafka brokers": "ok"})
	})
	t.Run("wrong secret", func(t *testing.T) {
		env := copyEnv(base)
		env["IMREPORT_MASTER_SECRET"] = "not-the-secret"
		code, out := doctor(env)
		want("secret", out, code, 1, map[string]string{"report api credentials": "fail", "report api version v2": "skip", "stream users/" + user: "skip", "kafka brokers": "ok"})
		if !strings.Contains(out, "IMREPORT_MASTER_SECRET") {
			t.Errorf("the fix does not name the variable:\n%s", out)
		}
	})
	t.Run("api version not served", func(t *testing.T) {
		env := copyEnv(base)
		env["IMREPORT_API_URL"] = h.URL + "/no-such-prefix"
		code, out := doctor(env)
		want("version", out, code, 1, map[string]string{"report api credentials": "fail", "report api version v2": "fail", "kafka brokers": "ok"})
	})
	t.Run("no broker", func(t *testing.T) {
		env := copyEnv(base)
		env["IMREPORT_KAFKA_BROKERS"] = fmt.Sprintf("127.0.0.1:%d", harness.FreeLoopbackPort(t))
		code, out := doctor(env)
		want("broker", out, code, 1, map[string]string{"report api credentials": "ok", "kafka brokers": "fail",
			"topic imreport.messages": "skip", "dead-letter topic imreport.messages.dlq": "skip", "state topic imreport.messages.state": "skip"})
	})
	// doctorOnTopic runs doctor for topic after creating created (topic
	// or one of its companions) with the cleanup policy.
	doctorOnTopic := func(t *testing.T, topic, created string, partitions int32, policy string) (int, string) {
		t.Helper()
		if err := cluster.CreateTopic(created, partitions, map[string]string{"cleanup.policy": policy}); err != nil {
			t.Fatal(err)
		}
		env := copyEnv(base)
		env["IMREPORT_KAFKA_TOPIC"] = topic
		env["IMREPORT_CHECKPOINT_PATH"] = filepath.Join(t.TempDir(), topic+".db")
		return doctor(env)
	}
	t.Run("compacted topic", func(t *testing.T) {
		code, out := doctorOnTopic(t, "compacted", "compacted", 3, "compact")
		want("compact", out, code, 1, map[string]string{"topic compacted": "fail", "dead-letter topic compacted.dlq": "ok"})
		if !strings.Contains(out, "cleanup.policy=compact") || !strings.Contains(out, "cleanup.policy=delete") {
			t.Errorf("no reason or fix:\n%s", out)
		}
	})
	t.Run("state topic not compacted", func(t *testing.T) {
		code, out := doctorOnTopic(t, "plain", "plain.state", 1, "delete")
		want("state", out, code, 1, map[string]string{"topic plain": "ok", "state topic plain.state": "fail"})
		if !strings.Contains(out, "cleanup.policy=compact") {
			t.Errorf("no fix:\n%s", out)
		}
	})
	t.Run("locked checkpoint", func(t *testing.T) {
		store, err := checkpoint.Open(checkpoint.Options{Path: base["IMREPORT_CHECKPOINT_PATH"]})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		code, out := doctor(base)
		want("locked", out, code, 1, map[string]string{cp: "fail", "kafka brokers": "ok", "report api credentials": "ok"})
		if !strings.Contains(out, "checkpoint locked") || !strings.Contains(out, "stop it first") {
			t.Errorf("no reason or fix:\n%s", out)
		}
	})
	t.Run("registry", func(t *testing.T) {
		reg, _ := newRegistry(t)
		env := copyEnv(base)
		env["IMREPORT_SCHEMA_REGISTRY_URL"] = reg.URL()
		code, out := doctor(env)
		want("registry", out, code, 0, map[string]string{"schema registry": "ok"})
		if !strings.Contains(out, "subject imreport.messages-value accepts the value schema") {
			t.Errorf("registry row:\n%s", out)
		}
		env["IMREPORT_SCHEMA_REGISTRY_URL"] = fmt.Sprintf("http://127.0.0.1:%d", harness.FreeLoopbackPort(t))
		code, out = doctor(env)
		want("no registry", out, code, 1, map[string]string{"schema registry": "fail", "kafka brokers": "ok"})
	})
}
