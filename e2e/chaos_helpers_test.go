package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// chaosChild is one life of `imreport run` as a child process, its stderr
// kept in a file.
type chaosChild struct {
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	done    chan struct{} // closed once the process has been waited for
	err     error         // cmd.Wait's result, valid after done
	started time.Time
}

// startChild starts bin run with exactly env (plus PATH), stderr and stdout
// to logPath.
func startChild(t *testing.T, bin string, env map[string]string, logPath string) *chaosChild {
	t.Helper()
	return startCommand(t, bin, "run", env, logPath)
}

// startCommand starts bin with a command (run, media) and exactly env
// (plus PATH), stderr and stdout to logPath.
func startCommand(t *testing.T, bin, command string, env map[string]string, logPath string) *chaosChild {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, command)
	cmd.Env = childEnv(env)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	c := &chaosChild{cmd: cmd, logPath: logPath, log: f, done: make(chan struct{}), started: time.Now()}
	go func() {
		c.err = cmd.Wait()
		f.Close()
		close(c.done)
	}()
	// Whatever happens to the test, no child outlives it.
	t.Cleanup(func() { c.kill() })
	return c
}

func childEnv(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// kill sends SIGKILL (if the process still runs) and waits for it.
func (c *chaosChild) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// exitCode is the exit status after done: -1 when killed by a signal.
func (c *chaosChild) exitCode() int { return exitOf(c.err) }

// exitOf is the exit status a command's Wait or Run returned: 0, its code,
// -1 when killed by a signal, -2 when it did not run to an exit.
func exitOf(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -2
}

// waitForLog waits until the child's log holds substr. It fails when the
// child exits first or timeout passes.
func (c *chaosChild) waitForLog(t *testing.T, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(c.logPath)
		if bytes.Contains(b, []byte(substr)) {
			return
		}
		select {
		case <-c.done:
			b, _ := os.ReadFile(c.logPath)
			if bytes.Contains(b, []byte(substr)) {
				return
			}
			t.Fatalf("the child exited (%v) before logging %q:\n%s", c.err, substr, logTail(c.logPath, 40))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child did not log %q within %v:\n%s", substr, timeout, logTail(c.logPath, 40))
		}
	}
}

// waitExit waits up to within for the child to exit and fails the test
// unless it exits 0; name is what the failure calls the child.
func (c *chaosChild) waitExit(t *testing.T, name string, within time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(within):
		c.kill()
		t.Fatalf("%s did not finish within %v:\n%s", name, within, logTail(c.logPath, 40))
	}
	if code := c.exitCode(); code != 0 {
		t.Fatalf("%s exited %d (%v):\n%s", name, code, c.err, logTail(c.logPath, 60))
	}
}

// readBack is what a life logged of its start-up read-back ("reconciled
// with kafka").
type readBack struct {
	Records int64  `json:"records_after_checkpoint"`
	Unknown int64  `json:"unknown_to_checkpoint"`
	Elapsed string `json:"elapsed"`
}

// readBackOf returns the read-back a life's log holds; ok is false if it
// holds none.
func readBackOf(t *testing.T, log []byte) (l readBack, ok bool) {
	t.Helper()
	for _, line := range strings.Split(string(log), "\n") {
		if !strings.Contains(line, `"reconciled with kafka"`) {
			continue
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return l, true
	}
	return l, false
}

// logTail returns the last n lines of a log file.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines in %s)", len(lines)-n, path)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// logSums adds up numeric fields of the JSON log lines with a given msg
// across files: key is msg + "/" + field. Lines cut short by SIGKILL are
// skipped.
func logSums(paths []string, want map[string][]string) (map[string]int64, error) {
	sums := map[string]int64{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var e map[string]any
			if json.Unmarshal(line, &e) != nil {
				continue
			}
			msg, _ := e["msg"].(string)
			fields, ok := want[msg]
			if !ok {
				continue
			}
			sums[msg]++ // how many such lines
			for _, fld := range fields {
				if v, ok := e[fld].(float64); ok {
					sums[msg+"/"+fld] += int64(v)
				}
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return sums, nil
}

// countIDs reports records, distinct, duplicates (records beyond the first
// per msgid), missing (expected, absent) and unexpected (present, not
// expected) for the msgids found against the expected set.
func countIDs(found []int64, expected map[int64]bool) (records, distinct, dups, missing, unexpected int) {
	seen := make(map[int64]int, len(found))
	for _, id := range found {
		seen[id]++
	}
	for id, n := range seen {
		dups += n - 1
		if !expected[id] {
			unexpected++
		}
	}
	for id := range expected {
		if seen[id] == 0 {
			missing++
		}
	}
	return len(found), len(seen), dups, missing, unexpected
}

// chaosBinary skips the test unless IMREPORT_CHAOS=1, telling what it is
// (about) and how to run it, and otherwise builds the binary.
func chaosBinary(t *testing.T, about string) string {
	t.Helper()
	if os.Getenv("IMREPORT_CHAOS") != "1" {
		t.Skipf("%s: run with IMREPORT_CHAOS=1 go test -count=1 -run %s -v ./e2e/", about, t.Name())
	}
	return harness.BuildBinary(t)
}

// persistentKafka starts a broker in this process whose data survives the
// lives of the binary: on disk, every write synced; opts add to that.
func persistentKafka(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	return testkit.Brokers(t, append([]kfake.Opt{kfake.DataDir(filepath.Join(t.TempDir(), "kafka")), kfake.SyncWrites()}, opts...)...)
}

// runEnv is the environment of a child imreport in these tests: the
// simulator's app at apiURL, the range from start to end, a topic of three
// partitions of one replica on brokers, info logs and a 5 s shutdown; more
// adds variables or overrides these.
func runEnv(apiURL string, start, end time.Time, brokers []string, more map[string]string) map[string]string {
	env := map[string]string{
		"IMREPORT_APP_KEY":                  harness.AppKey,
		"IMREPORT_MASTER_SECRET":            harness.Secret,
		"IMREPORT_API_URL":                  apiURL,
		"IMREPORT_START":                    start.Format(time.RFC3339),
		"IMREPORT_END":                      end.Format(time.RFC3339),
		"IMREPORT_KAFKA_BROKERS":            strings.Join(brokers, ","),
		"IMREPORT_KAFKA_PARTITIONS":         "3",
		"IMREPORT_KAFKA_REPLICATION_FACTOR": "1",
		"IMREPORT_LOG_LEVEL":                "info",
		"IMREPORT_SHUTDOWN_TIMEOUT":         "5s",
	}
	maps.Copy(env, more)
	return env
}

// backfillRig is a bounded backfill of a generated history into topic, the
// simulator and the broker in this process (they outlive the lives of the
// binary, which log to files in logDir).
type backfillRig struct {
	msgs    []simulator.Message
	env     map[string]string
	brokers []string
	topic   string
	dir     string
	logDir  string
	bin     string
}

// newBackfillRig serves the history spec generates and starts a broker;
// the lives' environment is runEnv's over them, into topic, with more.
func newBackfillRig(t *testing.T, bin string, spec simulator.GenSpec, topic string, more map[string]string) backfillRig {
	h := harness.NewHistory(t, spec)
	brokers := persistentKafka(t)
	dir := t.TempDir()
	env := runEnv(h.URL, spec.Start, spec.End, brokers, more)
	env["IMREPORT_KAFKA_TOPIC"] = topic
	return backfillRig{msgs: h.Msgs, env: env, brokers: brokers, topic: topic, dir: dir, logDir: chaosLogDir(t, dir), bin: bin}
}

// readExact reads the topic and checks that it holds every message
// exactly once.
func (r *backfillRig) readExact(t *testing.T) []harness.Record {
	t.Helper()
	recs := harness.ReadTopic(t, r.brokers, r.topic)
	harness.AssertExactlyOnce(t, recs, r.msgs, "/v2/messages")
	return recs
}

// chaosLogDir is where the lives of a chaos test log: dir, or, with
// IMREPORT_CHAOS_LOGS set, a folder named after the test under it, kept
// after the test (t.TempDir is removed).
func chaosLogDir(t *testing.T, dir string) string {
	keep := os.Getenv("IMREPORT_CHAOS_LOGS")
	if keep == "" {
		return dir
	}
	logDir := filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return logDir
}
