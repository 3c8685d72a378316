package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// TestSIGTERMDrainsAndExitsZero runs the real binary in tail mode, waits until
// it has caught up (read from its own logs), sends SIGTERM, and checks it
// marks itself not ready, exits 0 and leaves a checkpoint that a restart
// continues from.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	bin := harness.BuildBinary(t)
	now := time.Now().UTC()
	h, brokers, env := harness.NewRun(t, simulator.GenSpec{Seed: 11, Start: now.Add(-2 * time.Hour), End: now.Add(time.Hour), Count: 4000})
	harness.TailEnv(env, "-90m")
	env["IMREPORT_LOG_LEVEL"] = "info"
	env["IMREPORT_HTTP_ADDR"] = "127.0.0.1:0"

	cmd := exec.Command(bin, "run")
	cmd.Env = childEnv(env)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// Follow the logs; once the service listens, watch its metrics until
	// the committed cursor has caught up with now.
	var logs []string
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	addr := ""
	for caughtUp := false; !caughtUp; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the process ended early:\n%s", strings.Join(logs, "\n"))
			}
			logs = append(logs, l)
			var e struct{ Msg, Addr string }
			_ = json.Unmarshal([]byte(l), &e)
			if e.Msg == "serving metrics and health" {
				addr = e.Addr
			}
		case <-tick.C:
			if addr != "" {
				c, ok := metricValue(t, "http://"+addr+"/metrics", `imreport_cursor_timestamp_seconds{stream="messages"}`)
				caughtUp = ok && c >= float64(now.Add(-5*time.Second).Unix())
			}
		case <-deadline:
			t.Fatalf("the cursor did not catch up within 2 minutes:\n%s", strings.Join(logs, "\n"))
		}
	}
	if code, _ := harness.Get(t, "http://"+addr+"/readyz"); code != 200 {
		t.Fatalf("/readyz before SIGTERM: %d", code)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		logs = append(logs, l)
	}
	err = cmd.Wait()
	all := strings.Join(logs, "\n")
	if err != nil {
		t.Fatalf("want exit 0 after SIGTERM, got %v:\n%s", err, all)
	}
	for _, want := range []string{"marked not ready", "pipeline stopped"} {
		if !strings.Contains(all, want) {
			t.Errorf("logs lack %q:\n%s", want, all)
		}
	}
	st := harness.CheckpointState(t, env["IMREPORT_CHECKPOINT_PATH"])
	c := st.Cursors["messages"]
	if c.Before(now.Add(-5 * time.Second)) {
		t.Fatalf("cursor %v: the caught-up run should have committed close to now (%v)", c, now)
	}
	// Everything before the cursor is in Kafka exactly once; anything after
	// it was acknowledged and is in the checkpoint's dedupe set.
	start := now.Add(-90 * time.Minute).Truncate(time.Second)
	recs := harness.ReadTopic(t, brokers, "imreport.messages")
	var upTo []harness.Record
	for _, r := range recs {
		if ct, _ := r.Rec["create_time"].(time.Time); ct.Before(c) {
			upTo = append(upTo, r)
		} else if _, ok := st.Seen[r.Rec["msgid"].(int64)]; !ok {
			t.Errorf("msgid %v is in Kafka past the cursor but not in the checkpoint", r.Rec["msgid"])
		}
	}
	harness.AssertExactlyOnce(t, upTo, h.Srv.Visible(start, c), "/v2/messages")
}

// metricValue reads one sample from a Prometheus text exposition.
func metricValue(t *testing.T, url, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

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
