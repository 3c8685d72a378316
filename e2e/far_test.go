package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/internal/fake/farnet"
	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit/harness"
)

const (
	farMessages = 24_000
	farKills    = 3
	farTopic    = "far.messages"
)

// TestFarBroker: a Kafka cluster far away (every answer of the broker
// arrives 250 ms, then 1 s, late). A bounded backfill by the real binary,
// SIGKILLed three times, each time once the life after the last kill has
// read back what the one before left unrecorded, finishes with every
// message exactly once; then `imreport read` reads the whole topic and
// `imreport audit` finds every hour complete, against the same far broker.
func TestFarBroker(t *testing.T) {
	bin := chaosBinary(t, "end-to-end test with a far broker (about two minutes)")
	for i, latency := range []time.Duration{250 * time.Millisecond, time.Second} {
		t.Run(latency.String(), func(t *testing.T) {
			farBroker(t, bin, uint64(i+1), latency)
		})
	}
}

func farBroker(t *testing.T, bin string, seed uint64, latency time.Duration) {
	began := time.Now()
	start := time.Now().UTC().Add(-5 * time.Hour).Truncate(time.Hour)
	end := start.Add(3 * time.Hour)
	h := harness.NewHistory(t, simulator.GenSpec{Seed: seed, Start: start, End: end, Count: farMessages})
	msgs, apiURL := h.Msgs, h.URL
	brokers := persistentKafka(t, kfake.ListenFn(farnet.ListenFn(latency)))

	dir := t.TempDir()
	logDir := chaosLogDir(t, dir)
	env := runEnv(apiURL, start, end, brokers, map[string]string{
		"IMREPORT_PAGE_SIZE":        "500",
		"IMREPORT_RATE_LIMIT":       "4", // 2,000 messages a second: the backfill outlives the kills
		"IMREPORT_AUDIT_RATE_LIMIT": "50",
		"IMREPORT_KAFKA_TOPIC":      farTopic,
		"IMREPORT_CHECKPOINT_PATH":  filepath.Join(dir, "imreport.db"),
		"IMREPORT_HTTP_ADDR":        "",
	})

	// Lives: the first is killed 2-4 s after its streams start, each later
	// one 1-3 s after it reconciled with Kafka (its read-back finished);
	// the last runs to the end.
	rng := rand.New(rand.NewPCG(seed, 0x666172))
	var lives []time.Duration
	var readBacks []string
	for life := 1; ; life++ {
		logPath := filepath.Join(logDir, fmt.Sprintf("life-%d.log", life))
		c := startChild(t, bin, env, logPath)
		if life > farKills {
			c.waitExit(t, "the last life", 5*time.Minute)
			lives = append(lives, time.Since(c.started))
			readBacks = append(readBacks, reconciled(t, logPath))
			break
		}
		wait, after := "starting stream", 2*time.Second
		if life > 1 {
			wait, after = "reconciled with kafka", time.Second
		}
		c.waitForLog(t, wait, 2*time.Minute)
		time.Sleep(after + time.Duration(rng.Int64N(int64(2*time.Second))))
		c.kill()
		if c.exitCode() != -1 {
			t.Fatalf("life %d exited by itself (%v) before its kill: the backfill is too short for the kills:\n%s", life, c.err, logTail(logPath, 40))
		}
		lives = append(lives, time.Since(c.started))
		if life > 1 {
			readBacks = append(readBacks, reconciled(t, logPath))
		}
	}

	recs := harness.ReadTopic(t, brokers, farTopic)
	harness.AssertExactlyOnce(t, recs, msgs, "/v2/messages")
	t.Logf("broker %v away: %d messages, %d records after %d kill -9s; lives %v; read-backs after each kill: %s",
		latency, len(msgs), len(recs), farKills, roundAll(lives), strings.Join(readBacks, "; "))

	// imreport read: the whole topic, as JSON lines.
	out := runTool(t, bin, env, "read", "--from-beginning")
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Value map[string]any `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Value["msgid"] == nil {
			t.Fatalf("imreport read: line %d is not a decoded record (%v): %.200s", lines+1, err, sc.Text())
		}
		lines++
	}
	if lines != len(msgs) {
		t.Errorf("imreport read printed %d records, want %d", lines, len(msgs))
	}

	// imreport audit: every hour complete, no duplicate.
	out = runTool(t, bin, env, "audit", "--from", start.Format(time.RFC3339), "--to", end.Format(time.RFC3339), "--json")
	var audit struct {
		Summary struct {
			Clean      bool  `json:"clean"`
			Buckets    int   `json:"buckets"`
			Duplicates int64 `json:"duplicates"`
			Records    int64 `json:"records_read"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(out, &audit); err != nil {
		t.Fatalf("imreport audit --json: %v:\n%.2000s", err, out)
	}
	if s := audit.Summary; !s.Clean || s.Buckets != 3 || s.Duplicates != 0 || s.Records != int64(len(msgs)) {
		t.Errorf("imreport audit: %+v, want 3 clean buckets, %d records, no duplicate", s, len(msgs))
	}
	t.Logf("broker %v away: imreport read %d records; audit %+v; total %v", latency, lines, audit.Summary, time.Since(began).Round(time.Second))
}

// reconciled returns what the life logging to logPath said of its
// start-up read-back ("reconciled with kafka").
func reconciled(t *testing.T, logPath string) string {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := readBackOf(t, b)
	if !ok {
		t.Fatalf("%s has no read-back line:\n%s", logPath, logTail(logPath, 20))
	}
	return fmt.Sprintf("%d records read in %s, %d unknown to the checkpoint", l.Records, l.Elapsed, l.Unknown)
}

// runTool runs bin with args and env, and returns its standard output; it
// fails the test on a non-zero exit or after 3 minutes.
func runTool(t *testing.T, bin string, env map[string]string, args ...string) []byte {
	t.Helper()
	stdout, stderr, err := runToolErr(bin, env, args...)
	if err != nil {
		t.Fatalf("imreport %s: %v\nstderr:\n%s\nstdout:\n%.2000s", strings.Join(args, " "), err, stderr, stdout)
	}
	return stdout
}

// runToolErr runs bin with args and env for at most 3 minutes, and returns
// its standard output and error and cmd.Run's error (an *exec.ExitError on
// a non-zero exit).
func runToolErr(bin string, env map[string]string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(100 * time.Millisecond)
	}
	return out
}
