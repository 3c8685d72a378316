package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

const ownerTopic = "owner.messages"

// TestOwnerGroup: instances of the real binary with IMREPORT_OWNER_GROUP,
// each with a checkpoint file of its own: one owns the app and runs, the
// others stand by; the owner killed with kill -9 or paused past the session
// timeout is replaced by a standby, and every message is in the topic
// exactly once.
func TestOwnerGroup(t *testing.T) {
	if os.Getenv("IMREPORT_CHAOS") != "1" {
		t.Skip("end-to-end test of the owner group (about three minutes): run with IMREPORT_CHAOS=1 go test -count=1 -run TestOwnerGroup -v ./e2e/")
	}
	bin := harness.BuildBinary(t)
	t.Run("two started together", func(t *testing.T) {
		g := newOwnerRig(t, bin, 1, 15_000)
		a, b := g.start(t), g.start(t)
		owner, standby := g.whoOwns(t, a, b)
		standby.waitForLog(t, "standing by", time.Minute)
		// The standby answers the vendor's callbacks 503: only the owner
		// can put a message in Kafka exactly once.
		resp, err := http.Post("http://"+g.callback[standby]+"/callback", "application/json", strings.NewReader(`[]`))
		if err != nil {
			t.Fatalf("callback to the standby: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("callback to the standby: %d, want 503", resp.StatusCode)
		}
		g.waitExit(t, owner)
		// The owner finished and left: the standby takes over, restores
		// (its file is not the owner's) and finds nothing left to do.
		standby.waitForLog(t, "owner of the app", time.Minute)
		g.waitExit(t, standby)
		g.assertExact(t)
	})
	t.Run("five kill -9s of the owner", func(t *testing.T) {
		g := newOwnerRig(t, bin, 2, 50_000)
		a, b := g.start(t), g.start(t)
		owner, standby := g.whoOwns(t, a, b)
		var takeovers []time.Duration
		for i := range 5 {
			owner.waitForLog(t, `"stream":"messages","cursor"`, time.Minute) // its pipeline runs
			time.Sleep(1500 * time.Millisecond)                              // under load: the owner publishes
			killed := time.Now()
			owner.kill()
			standby.waitForLog(t, "owner of the app", time.Minute)
			took := ownerSince(t, standby.logPath).Sub(killed)
			takeovers = append(takeovers, took.Round(10*time.Millisecond))
			t.Logf("kill %d: the standby owns the app %v after the kill", i+1, took.Round(10*time.Millisecond))
			owner, standby = standby, g.start(t)
			standby.waitForLog(t, "standing by", time.Minute)
		}
		g.waitExit(t, owner)
		standby.kill()
		g.assertExact(t)
		t.Logf("takeover after kill -9 (session timeout 6s): %v", takeovers)
		for _, d := range takeovers {
			if d > 6*time.Second+10*time.Second {
				t.Errorf("a takeover took %v, want at most the session timeout and a few seconds", d)
			}
		}
	})
	t.Run("the owner paused past the session timeout", func(t *testing.T) {
		g := newOwnerRig(t, bin, 3, 30_000)
		a, b := g.start(t), g.start(t)
		owner, standby := g.whoOwns(t, a, b)
		owner.waitForLog(t, `"stream":"messages","cursor"`, time.Minute)
		time.Sleep(2 * time.Second)
		if err := owner.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		standby.waitForLog(t, "owner of the app", time.Minute)
		t.Logf("the standby owns the app %v after the SIGSTOP", ownerSince(t, standby.logPath).Sub(stopped).Round(10*time.Millisecond))
		time.Sleep(3 * time.Second) // the new owner publishes meanwhile
		if err := owner.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		owner.waitForLog(t, "lost the ownership of the app", time.Minute)
		g.waitExit(t, standby)
		owner.kill()
		g.assertExact(t)
	})
}

// ownerRig is a backfill served by a simulator and a broker in this
// process, run by members of one owner group.
type ownerRig struct {
	msgs    []simulator.Message
	env     map[string]string
	brokers []string
	dir     string
	logDir  string
	bin     string
	n       int
	// callback is each member's callback address.
	callback map[*chaosChild]string
}

func newOwnerRig(t *testing.T, bin string, seed uint64, count int) *ownerRig {
	start := time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Hour)
	end := start.Add(4 * time.Hour)
	msgs := simulator.Generate(simulator.GenSpec{Seed: seed, Start: start, End: end, Count: count})
	_, apiURL := testkit.Simulator(t, simulator.Config{AppKey: harness.AppKey, MasterSecret: harness.Secret}, msgs)
	brokers := persistentKafka(t)
	dir := t.TempDir()
	g := &ownerRig{msgs: msgs, brokers: brokers, dir: dir, logDir: chaosLogDir(t, dir), bin: bin, callback: map[*chaosChild]string{}}
	g.env = map[string]string{
		"IMREPORT_APP_KEY":                  harness.AppKey,
		"IMREPORT_MASTER_SECRET":            harness.Secret,
		"IMREPORT_API_URL":                  apiURL,
		"IMREPORT_START":                    start.Format(time.RFC3339),
		"IMREPORT_END":                      end.Format(time.RFC3339),
		"IMREPORT_PAGE_SIZE":                "500",
		"IMREPORT_WINDOW_MESSAGES":          "2500",
		"IMREPORT_RATE_LIMIT":               "2", // 1,000 messages a second
		"IMREPORT_KAFKA_BROKERS":            strings.Join(brokers, ","),
		"IMREPORT_KAFKA_TOPIC":              ownerTopic,
		"IMREPORT_KAFKA_PARTITIONS":         "3",
		"IMREPORT_KAFKA_REPLICATION_FACTOR": "1",
		"IMREPORT_HTTP_ADDR":                "",
		"IMREPORT_LOG_LEVEL":                "info",
		"IMREPORT_SHUTDOWN_TIMEOUT":         "5s",
		"IMREPORT_OWNER_GROUP":              "true",
		"IMREPORT_OWNER_SESSION_TIMEOUT":    "6s",
	}
	return g
}

// start starts a member with a checkpoint file of its own.
func (g *ownerRig) start(t *testing.T) *chaosChild {
	t.Helper()
	g.n++
	env := make(map[string]string, len(g.env)+1)
	for k, v := range g.env {
		env[k] = v
	}
	env["IMREPORT_CHECKPOINT_PATH"] = filepath.Join(g.dir, fmt.Sprintf("member-%d.db", g.n))
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreeLoopbackPort(t))
	env["IMREPORT_CALLBACK_ADDR"] = addr
	c := startChild(t, g.bin, env, filepath.Join(g.logDir, fmt.Sprintf("member-%d.log", g.n)))
	g.callback[c] = addr
	return c
}

// whoOwns waits until one of a and b owns the app and returns it first.
func (g *ownerRig) whoOwns(t *testing.T, a, b *chaosChild) (owner, standby *chaosChild) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ao, bo := logHas(a.logPath, "owner of the app"), logHas(b.logPath, "owner of the app")
		as, bs := logHas(a.logPath, "standing by"), logHas(b.logPath, "standing by")
		switch {
		case ao && bo:
			t.Fatalf("both members owned the app:\n%s\n%s", logTail(a.logPath, 20), logTail(b.logPath, 20))
		case ao && bs:
			return a, b
		case bo && as:
			return b, a
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no member owns the app within a minute:\n%s\n%s", logTail(a.logPath, 20), logTail(b.logPath, 20))
	return nil, nil
}

// waitExit waits for c to exit 0.
func (g *ownerRig) waitExit(t *testing.T, c *chaosChild) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(5 * time.Minute):
		c.kill()
		t.Fatalf("%s did not finish within 5m:\n%s", c.logPath, logTail(c.logPath, 40))
	}
	if code := c.exitCode(); code != 0 {
		t.Fatalf("%s exited %d (%v):\n%s", c.logPath, code, c.err, logTail(c.logPath, 60))
	}
}

func (g *ownerRig) assertExact(t *testing.T) {
	t.Helper()
	recs := harness.ReadTopic(t, g.brokers, ownerTopic)
	harness.AssertExactlyOnce(t, recs, g.msgs, "/v2/messages")
	t.Logf("%d messages, %d records, %d members", len(g.msgs), len(recs), g.n)
}

func logHas(path, substr string) bool {
	b, _ := os.ReadFile(path)
	return strings.Contains(string(b), substr)
}

// ownerSince returns the time of the last "owner of the app" line of a log.
func ownerSince(t *testing.T, path string) time.Time {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var at time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), "owner of the app") {
			continue
		}
		var l struct {
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err == nil {
			at = l.Time
		}
	}
	if at.IsZero() {
		t.Fatalf("%s has no ownership line", path)
	}
	return at
}
