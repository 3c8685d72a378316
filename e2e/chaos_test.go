package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/sink"
)

// The chaos test's knobs.
const (
	chaosMessages    = 100_000 // spread messages, plus 3 bursts of 1,500
	chaosMinKills    = 20      // SIGKILLs per seed, at least
	chaosLifeMin     = 150 * time.Millisecond
	chaosLifeMax     = 2500 * time.Millisecond
	chaosSeedTimeout = 6 * time.Minute // per seed, all lives together
	chaosTopic       = "imreport.messages"
	chaosDLQTopic    = "imreport.messages.dlq"
)

// TestChaos is the crash test of the exactly-once promise: a bounded backfill
// of 104,500 messages (live traffic with late arrivals at its end, 0.1%
// poisoned) from a simulator with every fault switched on, into kfake
// persisted on disk, by the real binary SIGKILLed at 20 or more random
// moments and restarted until it exits 0. Then both topics are read back:
// every msgid exactly once, the poisoned ones in the dead-letter topic and
// only there. Seeds 1 and 3 use the v2 API, seed 2 v1.
func TestChaos(t *testing.T) {
	began := time.Now()
	bin := chaosBinary(t, "chaos test (about a minute per seed)")
	for _, tc := range []struct {
		seed uint64
		api  string
	}{{1, "v2"}, {2, "v1"}, {3, "v2"}} {
		t.Run(fmt.Sprintf("seed%d_%s", tc.seed, tc.api), func(t *testing.T) {
			chaosSeed(t, bin, tc.seed, tc.api)
		})
	}
	t.Logf("chaos: total %v", time.Since(began).Round(time.Second))
}

func chaosSeed(t *testing.T, bin string, seed uint64, apiVersion string) {
	began := time.Now()
	endpoint := "/" + apiVersion + "/messages"

	// The dataset: three hours up to now plus ten seconds of live traffic;
	// 2% arrive 1-12 s late, 0.1% are poisoned.
	now := time.Now().UTC().Truncate(time.Second)
	start, end := now.Add(-3*time.Hour), now.Add(10*time.Second)
	msgs := simulator.Generate(simulator.GenSpec{
		Seed: seed, Start: start, End: end, Count: chaosMessages, Bursts: 3, BurstSize: 1500,
		Late: 0.02, LateMin: time.Second, LateMax: 12 * time.Second, Poison: 0.001,
	})
	poisoned := simulator.Poisoned(msgs)
	late := 0
	for _, m := range msgs {
		if m.VisibleAt > m.CreateTime {
			late++
		}
	}
	if len(msgs) < 100_000 || len(poisoned) == 0 || late == 0 {
		t.Fatalf("dataset: %d messages, %d poisoned, %d late: the test needs at least 100,000, and some of each", len(msgs), len(poisoned), late)
	}

	// The simulator on the real clock, every fault on.
	srv, apiURL := testkit.Simulator(t, simulator.Config{
		AppKey: harness.AppKey, MasterSecret: harness.Secret,
		Faults: simulator.Faults{
			Seed:         seed,
			ServerError:  0.02,
			RateLimited:  0.02,
			Slow:         0.01,
			SlowDelay:    1500 * time.Millisecond, // > IMREPORT_API_TIMEOUT: the client times out
			Drop:         0.02,
			Truncate:     0.02,
			TotalDrift:   0.03,
			CursorExpire: 0.02,
			RateLimit:    27,
			RateBurst:    3,
		},
		V2EndMixed: true,
	}, msgs)

	brokers := persistentKafka(t)

	dir := t.TempDir()
	logDir := chaosLogDir(t, dir)
	env := runEnv(apiURL, start, end, brokers, map[string]string{
		"IMREPORT_API_VERSION":     apiVersion,
		"IMREPORT_API_TIMEOUT":     "1s",
		"IMREPORT_WINDOW":          "2m",
		"IMREPORT_PAGE_SIZE":       "500",
		"IMREPORT_SETTLE":          "2s",
		"IMREPORT_LOOKBACK":        "30s", // > LateMax + settle
		"IMREPORT_POLL_INTERVAL":   "500ms",
		"IMREPORT_RATE_LIMIT":      "30", // a bit above the simulator's 27/s: its bucket answers some 429s
		"IMREPORT_CHECKPOINT_PATH": filepath.Join(dir, "imreport.db"),
		"IMREPORT_HTTP_ADDR":       "127.0.0.1:0",
	})

	// Lives: each killed at a random moment until chaosMinKills kills, then
	// one runs to completion.
	rng := rand.New(rand.NewPCG(seed, 0x63686173))
	deadline := time.Now().Add(chaosSeedTimeout)
	var logs []string
	kills, lives := 0, 0
	var lastLife time.Duration
	for {
		lives++
		logPath := filepath.Join(logDir, fmt.Sprintf("life-%03d.log", lives))
		logs = append(logs, logPath)
		c := startChild(t, bin, env, logPath)
		var killAt <-chan time.Time
		var timer *time.Timer
		if kills < chaosMinKills {
			life := chaosLifeMin + time.Duration(rng.Int64N(int64(chaosLifeMax-chaosLifeMin)+1))
			if lives == 2 {
				// Once, while a life holds the checkpoint: a second
				// process on the same file must refuse to run. This life
				// is not killed before that check is over.
				chaosCheckLocked(t, bin, env, c, filepath.Join(logDir, "second-process.log"))
			}
			timer = time.NewTimer(max(0, time.Until(c.started.Add(life))))
			killAt = timer.C
		}
		killed := false
		select {
		case <-killAt:
			c.kill()
			killed = c.exitCode() == -1 // else it had exited by itself just before
		case <-c.done:
		case <-time.After(time.Until(deadline)):
			c.kill()
			t.Fatalf("seed %d: not done within %v (%d lives, %d kills); the last life's log:\n%s",
				seed, chaosSeedTimeout, lives, kills, logTail(logPath, 60))
		}
		lastLife = time.Since(c.started)
		if timer != nil {
			timer.Stop()
		}
		if killed {
			kills++
			continue
		}
		code := c.exitCode()
		if code != 0 {
			t.Fatalf("seed %d: life %d exited with code %d (%v) after %v; its log:\n%s",
				seed, lives, code, c.err, lastLife.Round(time.Millisecond), logTail(logPath, 60))
		}
		if kills < chaosMinKills {
			t.Fatalf("seed %d: life %d exited 0 by itself after only %d kills (want %d): the run is too short for the kill schedule (lengthen IMREPORT_END or shorten the lives)",
				seed, lives, kills, chaosMinKills)
		}
		break
	}
	runTime := time.Since(began)

	// Read both topics back.
	expectedMain := make(map[int64]bool, len(msgs))
	expectedDLQ := make(map[int64]bool, len(poisoned))
	byID := make(map[int64]simulator.Message, len(msgs))
	for _, id := range poisoned {
		expectedDLQ[id] = true
	}
	var wantMain []simulator.Message
	for _, m := range msgs {
		byID[m.MsgID] = m
		if !expectedDLQ[m.MsgID] {
			expectedMain[m.MsgID] = true
			wantMain = append(wantMain, m)
		}
	}
	recs := harness.ReadTopic(t, brokers, chaosTopic)
	mainIDs := make([]int64, 0, len(recs))
	for _, r := range recs {
		id, _ := r.Rec["msgid"].(int64)
		mainIDs = append(mainIDs, id)
	}
	dlq := harness.ScanTopic(t, brokers, chaosDLQTopic)
	dlqIDs := make([]int64, 0, len(dlq))
	stages := map[string]int{}
	badDLQ := 0
	for _, m := range dlq {
		id, err := strconv.ParseInt(m.Headers[sink.HeaderMsgID], 10, 64)
		if err != nil {
			badDLQ++
			t.Errorf("dead letter at partition %d offset %d: msgid header %q: %v", m.Partition, m.Offset, m.Headers[sink.HeaderMsgID], err)
			continue
		}
		dlqIDs = append(dlqIDs, id)
		stage := m.Headers[sink.HeaderStage]
		stages[stage]++
		var problems []string
		if got := m.Headers[sink.HeaderAppKey]; got != harness.AppKey {
			problems = append(problems, fmt.Sprintf("app_key header %q", got))
		}
		if !slices.Contains([]string{"decode", "transform", "encode"}, stage) {
			problems = append(problems, fmt.Sprintf("stage header %q", stage))
		}
		reason := m.Headers[sink.HeaderError]
		if !slices.ContainsFunc(simulator.PoisonFields, func(f string) bool { return strings.Contains(reason, f) }) {
			problems = append(problems, fmt.Sprintf("error header %q names none of %v", reason, simulator.PoisonFields))
		}
		if got := m.Headers[sink.HeaderEndpoint]; got != endpoint {
			problems = append(problems, fmt.Sprintf("endpoint header %q, want %q", got, endpoint))
		}
		if want, ok := byID[id]; ok && string(m.Value) != string(want.JSON) {
			problems = append(problems, fmt.Sprintf("value %.120q is not the served JSON %.120q", m.Value, want.JSON))
		}
		if len(problems) > 0 {
			badDLQ++
			if badDLQ <= 5 {
				t.Errorf("dead letter msgid %d (partition %d offset %d): %s", id, m.Partition, m.Offset, strings.Join(problems, "; "))
			}
		}
	}

	mRecs, mDistinct, mDups, mMissing, mUnexpected := countIDs(mainIDs, expectedMain)
	dRecs, dDistinct, dDups, dMissing, dUnexpected := countIDs(dlqIDs, expectedDLQ)
	sums, err := logSums(logs, map[string][]string{
		"reconciled with kafka":                      {"unknown_to_checkpoint", "records_after_checkpoint"},
		"read back kafka after a failed write":       {"landed_despite_the_error", "records"},
		"message sent to the dead-letter topic":      nil,
		"walking a window again from its first page": nil,
		"report api request failed, retrying":        nil,
		"kafka publish failed, retrying":             nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	recoveredReconcile := sums["reconciled with kafka/unknown_to_checkpoint"]
	recoveredWrite := sums["read back kafka after a failed write/landed_despite_the_error"]

	t.Logf("seed %d, %s: generated %d messages (%d poisoned, %d late), window [%s, %s)",
		seed, endpoint, len(msgs), len(poisoned), late, start.Format(time.RFC3339), end.Format(time.RFC3339))
	t.Logf("main topic: %d records, %d distinct, %d expected, %d duplicates, %d missing, %d unexpected",
		mRecs, mDistinct, len(expectedMain), mDups, mMissing, mUnexpected)
	t.Logf("dead-letter topic: %d records, %d distinct, %d expected, %d duplicates, %d missing, %d unexpected, %d with bad headers or value; stages %v",
		dRecs, dDistinct, len(expectedDLQ), dDups, dMissing, dUnexpected, badDLQ, stages)
	t.Logf("lives: %d, SIGKILLs: %d, the last life ran %v to exit 0; run time %v",
		lives, kills, lastLife.Round(time.Millisecond), runTime.Round(time.Second))
	t.Logf("simulator: %d API requests, faults %v", srv.Requests(), fmtCounts(srv.FaultCounts()))
	t.Logf("recovered by read-back: %d (%d at start-up reconciliation in %d lines, %d after failed writes in %d lines); api retries logged %d, window walks restarted %d, kafka publish retries %d, dead-letter log lines %d",
		recoveredReconcile+recoveredWrite,
		recoveredReconcile, sums["reconciled with kafka"],
		recoveredWrite, sums["read back kafka after a failed write"],
		sums["report api request failed, retrying"], sums["walking a window again from its first page"],
		sums["kafka publish failed, retrying"], sums["message sent to the dead-letter topic"])
	t.Logf("logs of every life: %s (set IMREPORT_CHAOS_LOGS=dir to keep them after the test)", logDir)

	describe := func(id int64) string {
		m, ok := byID[id]
		if !ok {
			return "not generated"
		}
		d := fmt.Sprintf("create_time T%+ds", m.CreateTime-now.Unix())
		if m.VisibleAt > m.CreateTime {
			d += fmt.Sprintf(", visible at T%+ds", m.VisibleAt-now.Unix())
		}
		if m.Poison {
			d += ", poisoned"
		}
		return d
	}
	chaosReportIDs(t, "main topic", mainIDs, expectedMain, describe)
	chaosReportIDs(t, "dead-letter topic", dlqIDs, expectedDLQ, describe)
	if t.Failed() {
		t.FailNow()
	}
	// Field by field against the simulator's messages.
	harness.AssertExactlyOnce(t, recs, wantMain, endpoint)
}

// chaosCheckLocked starts a second process on the checkpoint c holds and
// checks that it gives up at once with "checkpoint locked".
func chaosCheckLocked(t *testing.T, bin string, env map[string]string, c *chaosChild, logPath string) {
	t.Helper()
	c.waitForLog(t, `"msg":"kafka topic ready"`, 30*time.Second) // the checkpoint is open before that
	env2 := make(map[string]string, len(env)+1)
	for k, v := range env {
		env2[k] = v
	}
	env2["IMREPORT_CHECKPOINT_LOCK_TIMEOUT"] = "500ms"
	began := time.Now()
	second := startChild(t, bin, env2, logPath)
	select {
	case <-second.done:
	case <-time.After(10 * time.Second):
		second.kill()
		t.Fatalf("a second process on a locked checkpoint still ran after 10s:\n%s", logTail(logPath, 40))
	}
	select {
	case <-c.done:
		t.Fatalf("the life holding the checkpoint exited during the lock check (%v):\n%s", c.err, logTail(c.logPath, 40))
	default:
	}
	out, _ := os.ReadFile(logPath)
	if code := second.exitCode(); code == 0 || code == -1 || !strings.Contains(string(out), "checkpoint locked") {
		t.Fatalf("a second process on a locked checkpoint: want a non-zero exit with \"checkpoint locked\", got code %d:\n%s", code, out)
	}
	t.Logf("a second process on the same checkpoint exited %d after %v: checkpoint locked", second.exitCode(), time.Since(began).Round(time.Millisecond))
}

// chaosReportIDs reports (up to 5 of each) duplicated, missing and
// unexpected msgids.
func chaosReportIDs(t *testing.T, what string, found []int64, expected map[int64]bool, describe func(int64) string) {
	t.Helper()
	n := map[int64]int{}
	for _, id := range found {
		n[id]++
	}
	var dups, unexpected, missing []int64
	for id, k := range n {
		if k > 1 {
			dups = append(dups, id)
		}
		if !expected[id] {
			unexpected = append(unexpected, id)
		}
	}
	for id := range expected {
		if n[id] == 0 {
			missing = append(missing, id)
		}
	}
	for _, l := range []struct {
		name string
		ids  []int64
	}{{"duplicated", dups}, {"missing", missing}, {"unexpected", unexpected}} {
		if len(l.ids) == 0 {
			continue
		}
		slices.Sort(l.ids)
		show := l.ids[:min(len(l.ids), 5)]
		var parts []string
		for _, id := range show {
			parts = append(parts, fmt.Sprintf("%d (x%d, %s)", id, n[id], describe(id)))
		}
		t.Errorf("%s: %d msgids %s, e.g. %s", what, len(l.ids), l.name, strings.Join(parts, ", "))
	}
}

func fmtCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
