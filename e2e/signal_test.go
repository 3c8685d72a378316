package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/fake/simulator"
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
	delete(env, "IMREPORT_END")
	env["IMREPORT_START"] = "-90m"
	env["IMREPORT_POLL_INTERVAL"] = "200ms"
	env["IMREPORT_SETTLE"] = "1s"
	env["IMREPORT_LOG_LEVEL"] = "info"
	env["IMREPORT_HTTP_ADDR"] = "127.0.0.1:0"

	cmd := exec.Command(bin, "run")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
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
	s, err := checkpoint.Open(checkpoint.Options{Path: env["IMREPORT_CHECKPOINT_PATH"], ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Load()
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
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
