package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
)

const (
	restoreMessages = 22_500
	restoreTopic    = "restore.messages"
)

// TestLostVolume: the checkpoint file is lost, emptied, corrupted or
// replaced by an old copy, and the real binary, restoring from the
// snapshot in the state topic and reading back from its floor, publishes
// every message exactly once; lost with the state topic, it is rebuilt
// from the topic (rebuildFromTopic).
func TestLostVolume(t *testing.T) {
	bin := chaosBinary(t, "end-to-end test of lost checkpoints (about a minute)")
	t.Run("after a finished backfill", func(t *testing.T) {
		r := newRestoreRig(t, bin, 1)
		r.life(t, 1, "", 0)
		r.lose(t)
		r.life(t, 2, "restored the checkpoint from the state topic", 0)
		r.assertExact(t)
		// Nothing re-walked: the second life fetched no window of the
		// history, only the final lookback pass.
		if n := r.published(t, 2); n != 0 {
			t.Errorf("the life after the restore published %d records, want 0", n)
		}
		// The read-back is bounded by the lookback (10 minutes of the
		// three hours: about 1,250 records) and a write, not the history.
		if n := r.readBacks[1]; n < 0 || n > restoreMessages/5 {
			t.Errorf("the restore read back %d records of %d, want the lookback's", n, restoreMessages)
		}
	})
	t.Run("in the middle of a backfill with kill -9s", func(t *testing.T) {
		r := newRestoreRig(t, bin, 2)
		rng := rand.New(rand.NewPCG(2, 0x6c6f7374))
		for life := 1; life <= 3; life++ {
			want := ""
			if life > 1 {
				want = "restored the checkpoint from the state topic"
			}
			r.life(t, life, want, time.Second+time.Duration(rng.Int64N(int64(2*time.Second))))
			r.lose(t)
		}
		r.life(t, 4, "restored the checkpoint from the state topic", 0)
		r.assertExact(t)
	})
	t.Run("empty and corrupt files", func(t *testing.T) {
		r := newRestoreRig(t, bin, 3)
		r.life(t, 1, "", 2*time.Second)
		if err := os.WriteFile(r.path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		r.life(t, 2, "restored the checkpoint from the state topic", 2*time.Second)
		if err := os.WriteFile(r.path, []byte(strings.Repeat("not a bbolt file ", 512)), 0o600); err != nil {
			t.Fatal(err)
		}
		r.life(t, 3, "checkpoint corrupt: moved aside", 0)
		r.assertExact(t)
		moved, _ := filepath.Glob(r.path + ".corrupt-*")
		if len(moved) != 2 {
			t.Errorf("files moved aside: %v, want the empty and the corrupt one", moved)
		}
	})
	t.Run("an old copy of the file does not win", func(t *testing.T) {
		// A pod that owned the app long ago comes back with its file: the
		// snapshot of the newer history wins.
		r := newRestoreRig(t, bin, 4)
		r.life(t, 1, "", 2*time.Second)
		old := r.path + ".old"
		copyFile(t, r.path, old)
		r.lose(t) // another pod, without the file, goes on
		r.life(t, 2, "restored the checkpoint from the state topic", 3*time.Second)
		copyFile(t, old, r.path) // the old owner's file is back
		r.life(t, 3, "checkpoint file is behind the newest snapshot", 0)
		r.assertExact(t)
	})
	t.Run("and the state topic: checkpoint rebuild", func(t *testing.T) { rebuildFromTopic(t, bin) })
}

// restoreRig is a backfill of restoreMessages over three hours against a
// simulator and a broker in this process, its lives logging to files.
type restoreRig struct {
	backfillRig
	path  string
	lives []string
	// readBacks are the records each life read back at its start (-1:
	// none).
	readBacks []int64
}

func newRestoreRig(t *testing.T, bin string, seed uint64) *restoreRig {
	start := time.Now().UTC().Add(-5 * time.Hour).Truncate(time.Hour)
	spec := simulator.GenSpec{Seed: seed, Start: start, End: start.Add(3 * time.Hour), Count: restoreMessages}
	r := &restoreRig{backfillRig: newBackfillRig(t, bin, spec, restoreTopic, map[string]string{
		"IMREPORT_PAGE_SIZE":       "500",
		"IMREPORT_WINDOW_MESSAGES": "2500", // windows of 15 minutes or so: cursors move, commits follow
		"IMREPORT_RATE_LIMIT":      "2",    // 1,000 messages a second: the backfill outlives the kills
		"IMREPORT_HTTP_ADDR":       "",
	})}
	r.path = filepath.Join(r.dir, "imreport.db")
	r.env["IMREPORT_CHECKPOINT_PATH"] = r.path
	return r
}

// life runs the binary: once it logged want (if set) and its streams
// started, it is killed after killAfter; with killAfter 0 it runs to the
// end and must exit 0.
func (r *restoreRig) life(t *testing.T, n int, want string, killAfter time.Duration) {
	t.Helper()
	logPath := filepath.Join(r.logDir, fmt.Sprintf("life-%d.log", n))
	r.lives = append(r.lives, logPath)
	c := startChild(t, r.bin, r.env, logPath)
	if want != "" {
		c.waitForLog(t, want, 2*time.Minute)
	}
	if killAfter == 0 {
		c.waitExit(t, fmt.Sprintf("life %d", n), 5*time.Minute)
	} else {
		c.waitForLog(t, `"stream":"messages","cursor"`, 2*time.Minute)
		time.Sleep(killAfter)
		c.kill()
		if c.exitCode() != -1 {
			t.Fatalf("life %d exited by itself (%v) before its kill:\n%s", n, c.err, logTail(logPath, 40))
		}
	}
	how, read := restoreReadBack(t, logPath)
	t.Logf("life %d: %s", n, how)
	r.readBacks = append(r.readBacks, read)
}

// lose removes the checkpoint file: a lost volume.
func (r *restoreRig) lose(t *testing.T) {
	t.Helper()
	if err := os.Remove(r.path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// assertExact checks the topic: every message exactly once.
func (r *restoreRig) assertExact(t *testing.T) {
	t.Helper()
	recs := r.readExact(t)
	t.Logf("%d messages, %d records after %d lives", len(r.msgs), len(recs), len(r.lives))
}

// published returns how many records life n published, from its last
// statistics line ("pipeline finished").
func (r *restoreRig) published(t *testing.T, n int) int64 {
	t.Helper()
	b, err := os.ReadFile(r.lives[n-1])
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `"pipeline finished`) {
			continue
		}
		var l struct {
			Stats struct{ Published int64 } `json:"stats"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return l.Stats.Published
	}
	t.Fatalf("life %d did not finish:\n%s", n, logTail(r.lives[n-1], 20))
	return 0
}

// restoreReadBack describes a life's start: restored or not, and how many
// records its read-back read.
func restoreReadBack(t *testing.T, logPath string) (string, int64) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	how := "from its file"
	if strings.Contains(string(b), "restored the checkpoint from the state topic") {
		how = "restored from the state topic"
	}
	l, ok := readBackOf(t, b)
	if !ok {
		return how + ", no read-back", -1
	}
	return fmt.Sprintf("%s, read back %d records of %d in %s", how, l.Records, restoreMessages, l.Elapsed), l.Records
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
