package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit/harness"
)

const ownerTopic = "owner.messages"

// TestOwnerGroup: instances of the real binary with IMREPORT_OWNER_GROUP,
// each with a checkpoint file of its own: one owns the app and runs, the
// others stand by; the owner killed with kill -9 or paused past the session
// timeout is replaced by a standby, and every message is in the topic
// exactly once.
func TestOwnerGroup(t *testing.T) {
	bin := chaosBinary(t, "end-to-end test of the owner group (about three minutes)")
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
		owner.waitExit(t, owner.logPath, 5*time.Minute)
		// The owner finished and left: the standby takes over, restores
		// (its file is not the owner's) and finds nothing left to do.
		standby.waitForLog(t, "owner of the app", time.Minute)
		standby.waitExit(t, standby.logPath, 5*time.Minute)
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
		owner.waitExit(t, owner.logPath, 5*time.Minute)
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
		standby.waitExit(t, standby.logPath, 5*time.Minute)
		owner.kill()
		g.assertExact(t)
	})
}

// ownerRig is a backfill served by a simulator and a broker in this
// process, run by members of one owner group.
type ownerRig struct {
	backfillRig
	n int
	// callback is each member's callback address.
	callback map[*chaosChild]string
}

func newOwnerRig(t *testing.T, bin string, seed uint64, count int) *ownerRig {
	start := time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Hour)
	spec := simulator.GenSpec{Seed: seed, Start: start, End: start.Add(4 * time.Hour), Count: count}
	return &ownerRig{backfillRig: newBackfillRig(t, bin, spec, ownerTopic, map[string]string{
		"IMREPORT_PAGE_SIZE":             "500",
		"IMREPORT_WINDOW_MESSAGES":       "2500",
		"IMREPORT_RATE_LIMIT":            "2", // 1,000 messages a second
		"IMREPORT_HTTP_ADDR":             "",
		"IMREPORT_OWNER_GROUP":           "true",
		"IMREPORT_OWNER_SESSION_TIMEOUT": "6s",
	}), callback: map[*chaosChild]string{}}
}

// start starts a member with a checkpoint file of its own.
func (g *ownerRig) start(t *testing.T) *chaosChild {
	t.Helper()
	g.n++
	env := maps.Clone(g.env)
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

func (g *ownerRig) assertExact(t *testing.T) {
	t.Helper()
	recs := g.readExact(t)
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
