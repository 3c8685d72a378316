package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/imreport/imreport/internal/fake/simulator"
)

func archive(t *testing.T, ta *testArchiver, it Item) Result {
	t.Helper()
	res, err := ta.Archive(context.Background(), it)
	if err != nil {
		t.Fatalf("Archive: %v", err)
	}
	if ta.decided != 1 {
		t.Errorf("outcome observed %d times, want once", ta.decided)
	}
	return res
}

// TestArchiveEveryKind pins an archived reference of every kind: the
// simulator's bytes stored content-addressed under the app key, the
// record's SHA-256, size, checks (size, IEEE CRC-32, the etag when a hash is
// declared) and the content type from the declared format, in one attempt.
func TestArchiveEveryKind(t *testing.T) {
	s := newMediaSim(t, simulator.MediaConfig{})
	for _, kind := range []string{"image/media", "voice/media", "file/media", "video/media", "video/thumb"} {
		t.Run(kind, func(t *testing.T) {
			ta := newTestArchiver(t, s, 3)
			it := s.ref(t, kind)
			res := archive(t, ta, it)
			want := bytesOf(t, it)
			sum := sha256.Sum256(want)
			hexSum := hex.EncodeToString(sum[:])
			wantHash := ""
			if it.Hash != nil {
				wantHash = "qiniu_etag"
			}
			if res.Status != StatusArchived || res.Attempts != 1 || res.SHA256 != hexSum || res.Size != int64(len(want)) ||
				res.SizeOK == nil || !*res.SizeOK || res.CRC != "ieee" || res.Hash != wantHash || !res.FetchedAt.Equal(testNow) ||
				res.ContentType != contentType("", it.Format) || len(ta.failures) > 0 {
				t.Fatalf("result %+v (failures %v)", res, ta.failures)
			}
			path := ta.storeDir + "/" + it.AppKey + "/sha256/" + hexSum[:2] + "/" + hexSum
			if res.URI != "file://"+path {
				t.Errorf("uri %s, want file://%s", res.URI, path)
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != string(want) {
				t.Errorf("stored %d bytes (%v), want the simulator's %d", len(got), err, len(want))
			}
		})
	}
}

// TestArchiveChecks pins what the declared properties do: a size or CRC-32
// that the bytes do not have fails the reference after every attempt and
// stores nothing; a Castagnoli CRC-32 is accepted as such; a hash that is
// not the etag is only reported (mismatch when it has an etag's form).
func TestArchiveChecks(t *testing.T) {
	s := newMediaSim(t, simulator.MediaConfig{})
	image := s.ref(t, "image/media")
	data := bytesOf(t, image)
	for _, c := range []struct {
		name     string
		change   func(*Item)
		status   string
		checks   string // size, crc, hash as the result has them
		failures []string
	}{
		{"size differs", func(it *Item) { it.Size = ptr(*it.Size + 1) }, StatusFailed, "false  ", []string{"corrupt_size", "corrupt_size"}},
		{"crc differs", func(it *Item) { it.CRC = ptr(*it.CRC ^ 1) }, StatusFailed, "true none ", []string{"corrupt_crc32", "corrupt_crc32"}},
		{"castagnoli crc", func(it *Item) { it.CRC = ptr(int64(crc32.Checksum(data, castagnoli))) }, StatusArchived, "true castagnoli ", nil},
		{"crc out of range is not declared", func(it *Item) { it.CRC = ptr[int64](-1) }, StatusArchived, "true  ", nil},
		{"nothing declared", func(it *Item) { it.Size, it.CRC = nil, nil }, StatusArchived, "<nil>  ", nil},
		{"etag of other bytes", func(it *Item) { it.Hash = ptr("Fq" + strings.Repeat("A", 26)) }, StatusArchived, "true ieee mismatch", nil},
		{"hash of another form", func(it *Item) { it.Hash = ptr("d41d8cd98f00b204e9800998ecf8427e") }, StatusArchived, "true ieee unknown_form", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ta := newTestArchiver(t, s, 2)
			it := image
			it.Hash = nil
			c.change(&it)
			res := archive(t, ta, it)
			sizeOK := "<nil>"
			if res.SizeOK != nil {
				sizeOK = strconv.FormatBool(*res.SizeOK)
			}
			if got := sizeOK + " " + res.CRC + " " + res.Hash; res.Status != c.status || got != c.checks || !reflect.DeepEqual(ta.failures, c.failures) {
				t.Fatalf("status %s, checks %q, failures %v; want %s, %q, %v (%s)", res.Status, got, ta.failures, c.status, c.checks, c.failures, res.Reason)
			}
			if res.Status == StatusFailed {
				if res.URI != "" || res.SHA256 != "" || res.Attempts != 2 || !strings.Contains(res.Reason, "after 2 attempt(s)") {
					t.Errorf("failed result %+v", res)
				}
				ta.assertNothingLeft(t)
			}
		})
	}
}

// TestArchiveRetries pins that the simulator's temporary faults are retried
// (an expired link resolved afresh) until the reference is archived, each
// failed attempt counted by its reason; and that with fewer attempts than
// faults the reference fails and nothing is stored.
func TestArchiveRetries(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      simulator.MediaConfig
		reason   string
		resolves int64
	}{
		{"resolve 5xx", simulator.MediaConfig{ServerError: 1}, "resolve_5xx", 1},
		{"resolve 429", simulator.MediaConfig{RateLimited: 1}, "resolve_429", 1},
		{"link expired", simulator.MediaConfig{Expired: 1}, "link_expired", 3},
		{"cut", simulator.MediaConfig{Cut: 1}, "download_cut", 1},
		{"corrupt", simulator.MediaConfig{Corrupt: 1}, "corrupt_crc32", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.MaxFaultsPerMedia = 2
			s := newMediaSim(t, c.cfg)
			it := s.ref(t, "voice/media")
			ta := newTestArchiver(t, s, 3)
			res := archive(t, ta, it)
			want := []string{c.reason, c.reason}
			if res.Status != StatusArchived || res.Attempts != 3 || !reflect.DeepEqual(ta.failures, want) || s.ms.Resolved.Load() != c.resolves {
				t.Fatalf("status %s after %d attempts, failures %v, %d link(s) resolved; want archived after 3, %v, %d (%s)",
					res.Status, res.Attempts, ta.failures, s.ms.Resolved.Load(), want, c.resolves, res.Reason)
			}

			ta = newTestArchiver(t, newMediaSim(t, c.cfg), 2)
			if res := archive(t, ta, it); res.Status != StatusFailed || res.Attempts != 2 || !strings.Contains(res.Reason, "after 2 attempt(s)") {
				t.Errorf("with 2 attempts: %s after %d (%s), want failed after 2", res.Status, res.Attempts, res.Reason)
			}
			ta.assertNothingLeft(t)
		})
	}
}

// TestArchiveFinalOutcomes pins the outcomes decided without retrying:
// missing at source (the IM API's 404, for a gone or an unknown id), a
// refused credential (failed after one attempt), too large by the declared
// size (no request at all) or by the bytes served; none stores anything.
func TestArchiveFinalOutcomes(t *testing.T) {
	for _, c := range []struct {
		name     string
		cfg      simulator.MediaConfig
		change   func(*testArchiver, *Item)
		status   string
		attempts int
		failures []string
		requests int64
	}{
		{"gone", simulator.MediaConfig{Gone: 1}, func(*testArchiver, *Item) {}, StatusMissing, 1, nil, 1},
		{"unknown id", simulator.MediaConfig{}, func(_ *testArchiver, it *Item) { it.MediaID += "-unknown" }, StatusMissing, 1, nil, 1},
		{"wrong secret", simulator.MediaConfig{}, func(ta *testArchiver, _ *Item) { ta.Resolver.MasterSecret = "wrong" }, StatusFailed, 1, []string{"resolve_401"}, 1},
		{"declared too large", simulator.MediaConfig{}, func(ta *testArchiver, it *Item) { ta.MaxSize = *it.Size - 1 }, StatusTooLarge, 0, nil, 0},
		{"served too large", simulator.MediaConfig{}, func(ta *testArchiver, it *Item) { ta.MaxSize, it.Size = *it.Size-1, nil }, StatusTooLarge, 1, nil, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newMediaSim(t, c.cfg)
			ta := newTestArchiver(t, s, 5)
			it := s.ref(t, "file/media")
			c.change(ta, &it)
			res := archive(t, ta, it)
			if res.Status != c.status || res.Attempts != c.attempts || !reflect.DeepEqual(ta.failures, c.failures) ||
				s.ms.Requests.Load() != c.requests || res.Reason == "" || res.URI != "" {
				t.Fatalf("status %s after %d attempts (%s), failures %v, %d request(s); want %s after %d, %v, %d",
					res.Status, res.Attempts, res.Reason, ta.failures, s.ms.Requests.Load(), c.status, c.attempts, c.failures, c.requests)
			}
			ta.assertNothingLeft(t)
		})
	}
}
