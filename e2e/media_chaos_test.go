package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/segmentio/kafka-go"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/media"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// The media chaos test's knobs.
const (
	mediaMessages   = 700       // over two hours: about 200 media references
	mediaMaxSize    = 256 << 10 // bytes, at most, per media
	mediaKills      = 6         // kill -9s, alternating between the two members
	mediaRate       = "5"       // IMREPORT_MEDIA_RATE_LIMIT: the work outlives the kills
	mediaTopic      = "imreport.messages.media"
	mediaGroup      = "imreport-media"
	mediaS3Bucket   = "media"
	mediaAccessKey  = "e2e-access"
	mediaSecretKey  = "e2e-secret-key"
	mediaWaitForAll = 4 * time.Minute
)

// TestMediaChaos: the real binary end to end. `imreport run` fills a
// persistent kfake from the simulator (every media type, video thumbnails
// included, the simulator's media faults switched on: gone, 5xx, 429,
// expired links, cut, corrupt and slow downloads); then two
// `imreport media` processes share the partitions, each SIGKILLed at random
// moments and restarted. Once the group's committed offsets reach the end of
// every partition (every reference recorded), both are stopped with
// SIGTERM and: every reference has exactly one record in the media topic;
// every archived object's SHA-256 and size are the simulator's bytes; every
// gone one is missing_at_source; the store holds whole content-addressed
// objects only (no temporary or staging file or object, no probe), and
// the spool directory is empty. Once with file:// and once with an S3 server
// (gofakes3 over HTTP).
func TestMediaChaos(t *testing.T) {
	began := time.Now()
	bin := chaosBinary(t, "media chaos test (about two minutes)")
	for i, st := range []string{"file", "s3"} {
		t.Run(st, func(t *testing.T) { mediaChaos(t, bin, st, uint64(i+1)) })
	}
	t.Logf("media chaos: total %v", time.Since(began).Round(time.Second))
}

func mediaChaos(t *testing.T, bin, storeKind string, seed uint64) {
	began := time.Now()
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	msgs := simulator.Generate(simulator.GenSpec{Seed: seed, Start: end.Add(-2 * time.Hour), End: end, Count: mediaMessages, MediaMaxSize: mediaMaxSize})
	sim := simulator.New(simulator.Config{AppKey: harness.AppKey, MasterSecret: harness.Secret}, msgs)
	ms := simulator.WithMedia(sim, simulator.MediaConfig{Seed: seed, Gone: 0.1, ServerError: 0.04, RateLimited: 0.04,
		Expired: 0.04, Cut: 0.04, Corrupt: 0.04, Slow: 0.03, SlowDelay: 500 * time.Millisecond})
	api := httptest.NewServer(ms)
	t.Cleanup(api.Close)

	// What the history references: msgid/role -> reference.
	want := map[string]media.Ref{}
	kinds := map[string]int{}
	for _, m := range msgs {
		for _, r := range media.Refs(string(m.Body)) {
			want[strconv.FormatInt(m.MsgID, 10)+"/"+r.Role] = r
			kinds[m.MsgType+"/"+r.Role]++
		}
	}
	for _, k := range []string{"image/media", "voice/media", "file/media", "video/media", "video/thumb"} {
		if kinds[k] == 0 {
			t.Fatalf("the history has no %s reference (%v)", k, kinds)
		}
	}

	brokers := persistentKafka(t)
	dir := t.TempDir()
	logDir := chaosLogDir(t, dir)
	spool := filepath.Join(dir, "spool")
	if err := os.Mkdir(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	env := runEnv(api.URL, end.Add(-2*time.Hour), end, brokers, map[string]string{
		"IMREPORT_RATE_LIMIT":            "2000",
		"IMREPORT_CHECKPOINT_PATH":       filepath.Join(dir, "imreport.db"),
		"IMREPORT_HTTP_ADDR":             "",
		"IMREPORT_PROGRESS_INTERVAL":     "5s",
		"IMREPORT_IM_API_URL":            api.URL,
		"IMREPORT_MEDIA_GROUP":           mediaGroup,
		"IMREPORT_MEDIA_RATE_LIMIT":      mediaRate,
		"IMREPORT_MEDIA_CONCURRENCY":     "4",
		"IMREPORT_MEDIA_MAX_ATTEMPTS":    "10",
		"IMREPORT_MEDIA_SESSION_TIMEOUT": "6s",
		"IMREPORT_MEDIA_SPOOL_DIR":       spool,
	})
	var objects func(t *testing.T) map[string][]byte // key -> bytes, every object of the store
	var read func(t *testing.T, uri string) []byte
	switch storeKind {
	case "file":
		root := filepath.Join(dir, "store")
		env["IMREPORT_MEDIA_URL"] = "file://" + root
		objects = func(t *testing.T) map[string][]byte { return fileObjects(t, root) }
		read = harness.ReadFileObject
	case "s3":
		backend := s3mem.New()
		if err := backend.CreateBucket(mediaS3Bucket); err != nil {
			t.Fatal(err)
		}
		s3 := httptest.NewServer(gofakes3.New(backend).Server())
		t.Cleanup(s3.Close)
		env["IMREPORT_MEDIA_URL"] = "s3://" + mediaS3Bucket + "/archive?endpoint=" + s3.URL + "&path_style=true"
		env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = mediaAccessKey, mediaSecretKey
		objects = func(t *testing.T) map[string][]byte { return s3Objects(t, backend) }
		read = func(t *testing.T, uri string) []byte {
			key, ok := strings.CutPrefix(uri, "s3://"+mediaS3Bucket+"/")
			if !ok {
				t.Errorf("%s is not in the bucket", uri)
				return nil
			}
			obj, err := backend.GetObject(mediaS3Bucket, key, nil)
			if err != nil {
				t.Errorf("%s: %v", uri, err)
				return nil
			}
			defer obj.Contents.Close()
			b, _ := io.ReadAll(obj.Contents)
			return b
		}
	}

	// The messages topic, filled by a bounded backfill.
	fill := startCommand(t, bin, "run", env, filepath.Join(logDir, "run.log"))
	fill.waitExit(t, "imreport run", 2*time.Minute)

	// Two members, SIGKILLed in turn, each kill a random 0.5-3 s after the
	// member resumed its partitions, and restarted at once.
	lives := 0
	start := func(slot int) *chaosChild {
		lives++
		return startCommand(t, bin, "media", env, filepath.Join(logDir, fmt.Sprintf("media-%c-life-%d.log", 'a'+slot, lives)))
	}
	members := [2]*chaosChild{start(0), start(1)}
	var logs []string
	rng := rand.New(rand.NewPCG(seed, 0x6d65646961))
	workLeftAtLastKill := false
	for k := range mediaKills {
		c := members[k%2]
		c.waitForLog(t, `"media partition resumed"`, 2*time.Minute)
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond))))
		if k == mediaKills-1 {
			done, _ := caughtUp(t, brokers)
			workLeftAtLastKill = !done
		}
		c.kill()
		if c.exitCode() != -1 {
			t.Fatalf("member %c exited by itself (%v) before its kill:\n%s", 'a'+k%2, c.err, logTail(c.logPath, 40))
		}
		logs = append(logs, c.logPath)
		members[k%2] = start(k % 2)
	}
	if !workLeftAtLastKill {
		t.Fatalf("every reference was recorded before the last kill: the history is too short for the kills")
	}

	// Caught up: the group has committed the end of every partition (the
	// offset below which every reference has its record).
	deadline := time.Now().Add(mediaWaitForAll)
	var lag int64
	for {
		var done bool
		done, lag = caughtUp(t, brokers)
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group did not catch up within %v (%d records behind):\n%s\n%s", mediaWaitForAll, lag,
				logTail(members[0].logPath, 30), logTail(members[1].logPath, 30))
		}
		for _, c := range members {
			select {
			case <-c.done:
				t.Fatalf("a member exited (%v):\n%s", c.err, logTail(c.logPath, 40))
			default:
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, c := range members {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range members {
		select {
		case <-c.done:
		case <-time.After(time.Minute):
			t.Fatalf("a member did not stop within 1m of SIGTERM:\n%s", logTail(c.logPath, 40))
		}
		if code := c.exitCode(); code != 0 {
			t.Errorf("a member exited %d after SIGTERM:\n%s", code, logTail(c.logPath, 40))
		}
		logs = append(logs, c.logPath)
	}

	// Exactly one record per reference, each with the right outcome.
	recs := harness.ReadTopic(t, brokers, mediaTopic)
	got := harness.CheckMediaRecords(t, recs, want, ms, read)
	seen, statuses, archivedBytes, referenced := got.Seen, got.Statuses, got.ArchivedBytes, got.Referenced
	dups, missing := 0, 0
	for k := range want {
		switch n := seen[k]; {
		case n == 0:
			missing++
			t.Errorf("%s: no record", k)
		case n > 1:
			dups += n - 1
			t.Errorf("%s: %d records", k, n)
		}
	}

	// Nothing half-written: the store holds content-addressed objects
	// (their sidecars for file://) that records name, and nothing else; the
	// spool is empty.
	objs := objects(t)
	for key, b := range objs {
		if strings.HasSuffix(key, ".meta.json") {
			if _, ok := objs[strings.TrimSuffix(key, ".meta.json")]; !ok {
				t.Errorf("store: sidecar without its object: %s", key)
			}
			continue
		}
		m := contentKey.FindStringSubmatch(key)
		sum := sha256.Sum256(b)
		switch {
		case m == nil:
			t.Errorf("store: %s is not a content-addressed object (temporary, staging or probe?)", key)
		case m[2] != hex.EncodeToString(sum[:]) || m[1] != m[2][:2]:
			t.Errorf("store: %s holds %d bytes of SHA-256 %x: half-written", key, len(b), sum)
		case !referenced[m[2]]:
			t.Errorf("store: %s is named by no record", key)
		}
	}
	if left, _ := os.ReadDir(spool); len(left) > 0 {
		t.Errorf("spool: %d file(s) left, e.g. %s", len(left), left[0].Name())
	}

	sums, err := logSums(logs, map[string][]string{"media partition resumed": {"already_recorded"}})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(statuses)
	t.Logf("%s: %d references (%v), %d records %s, %d bytes archived, %d objects in the store; %d duplicates, %d missing; "+
		"%d kill -9s over %d lives; %d partition resumptions found %d references already recorded; simulator: %d faults served, %d resolved, %d downloads; %v",
		storeKind, len(want), kinds, len(recs), js, archivedBytes, len(objs), dups, missing,
		mediaKills, lives, sums["media partition resumed"], sums["media partition resumed/already_recorded"],
		ms.Faults.Load(), ms.Resolved.Load(), ms.Downloads.Load(), time.Since(began).Round(time.Second))
}

// contentKey is a stored object's key: [prefix/]<app_key>/sha256/<ab>/<sha256>.
var contentKey = regexp.MustCompile(`^(?:archive/)?` + regexp.QuoteMeta(harness.AppKey) + `/sha256/([0-9a-f]{2})/([0-9a-f]{64})(?:\.meta\.json)?$`)

// caughtUp reports whether the media group has committed the end of every
// partition of the messages topic, and how many records it is behind.
func caughtUp(t *testing.T, brokers []string) (bool, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	parts := []int{0, 1, 2}
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = kafka.LastOffsetOf(p)
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{"imreport.messages": reqs}})
	if err != nil {
		t.Logf("list offsets: %v", err)
		return false, -1
	}
	got, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: mediaGroup, Topics: map[string][]int{"imreport.messages": parts}})
	if err != nil || got.Error != nil {
		t.Logf("offset fetch: %v %v", err, got)
		return false, -1
	}
	committed := map[int]int64{}
	for _, p := range got.Topics["imreport.messages"] {
		committed[p.Partition] = p.CommittedOffset
	}
	var lag int64
	done := true
	for _, po := range ends.Topics["imreport.messages"] {
		if c := committed[po.Partition]; c < po.LastOffset {
			done = false
			lag += po.LastOffset - max(c, 0)
		}
	}
	return done && len(ends.Topics["imreport.messages"]) == len(parts), lag
}

// fileObjects returns every file under root (relative slash paths).
func fileObjects(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		b, err := os.ReadFile(path)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// s3Objects returns every object of the bucket.
func s3Objects(t *testing.T, backend *s3mem.Backend) map[string][]byte {
	t.Helper()
	list, err := backend.ListBucket(mediaS3Bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, c := range list.Contents {
		obj, err := backend.GetObject(mediaS3Bucket, c.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj.Contents)
		obj.Contents.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[c.Key] = b
	}
	return out
}
