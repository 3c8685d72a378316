package media

import (
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/media/store"
)

// mediaSim is a generated history with every media type, served by the
// simulator's media endpoints (/v1/resource and its links) over loopback.
type mediaSim struct {
	ms   *simulator.MediaServer
	url  string
	refs map[string]Item // one reference per "msg_type/role" of the history
}

// newMediaSim serves a history whose media the simulator serves consistently
// (sizes under 8 KiB, real etags), with the media faults of cfg.
func newMediaSim(t *testing.T, cfg simulator.MediaConfig) *mediaSim {
	t.Helper()
	start := time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)
	msgs := simulator.Generate(simulator.GenSpec{Seed: 3, Start: start, End: start.Add(time.Hour), Count: 120, MediaMaxSize: 8 << 10})
	ms := simulator.WithMedia(simulator.New(simulator.Config{}, msgs), cfg)
	srv := httptest.NewServer(ms)
	t.Cleanup(srv.Close)
	s := &mediaSim{ms: ms, url: srv.URL, refs: map[string]Item{}}
	for _, m := range msgs {
		for _, r := range Refs(string(m.Body)) {
			k := m.MsgType + "/" + r.Role
			if _, ok := s.refs[k]; !ok {
				s.refs[k] = Item{Ref: r, MsgID: m.MsgID, AppKey: simulator.DefaultAppKey, MsgType: m.MsgType, Topic: "imreport.messages", Offset: int64(len(s.refs))}
			}
		}
	}
	for _, k := range []string{"image/media", "voice/media", "file/media", "video/media", "video/thumb"} {
		if _, ok := s.refs[k]; !ok {
			t.Fatalf("the history has no %s reference", k)
		}
	}
	return s
}

// ref returns the history's reference of kind ("msg_type/role").
func (s *mediaSim) ref(t *testing.T, kind string) Item {
	t.Helper()
	it, ok := s.refs[kind]
	if !ok {
		t.Fatalf("no %s reference", kind)
	}
	return it
}

// bytesOf are the bytes the simulator serves for it.
func bytesOf(t *testing.T, it Item) []byte {
	t.Helper()
	b, err := io.ReadAll(simulator.MediaBytes(it.MediaID, *it.Size, uint32(*it.CRC)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testArchiver archives from s into a file:// store, recording every
// failed attempt's reason.
type testArchiver struct {
	*Archiver
	storeDir, spoolDir string
	failures           []string
	decided            int // outcomes observed
}

var testNow = time.Date(2024, 5, 7, 8, 9, 10, 0, time.UTC)

func newTestArchiver(t *testing.T, s *mediaSim, maxAttempts int) *testArchiver {
	t.Helper()
	ta := &testArchiver{storeDir: filepath.Join(t.TempDir(), "store"), spoolDir: t.TempDir()}
	st, err := store.Open("file://" + ta.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	ta.Archiver = &Archiver{
		Resolver: &Resolver{BaseURL: s.url, AppKey: simulator.DefaultAppKey, MasterSecret: simulator.DefaultMasterSecret, HTTP: &http.Client{Timeout: time.Minute}},
		HTTP:     &http.Client{Timeout: time.Minute},
		Store:    st, Limiter: rate.NewLimiter(rate.Inf, 1),
		MaxSize: 1 << 20, MaxAttempts: maxAttempts, Backoff: time.Millisecond, SpoolDir: ta.spoolDir,
		Now: func() time.Time { return testNow }, Logger: slog.New(slog.DiscardHandler),
		Observe: func(_ Result, failure string) {
			if failure == "" {
				ta.decided++
			} else {
				ta.failures = append(ta.failures, failure)
			}
		},
	}
	return ta
}

// files lists the files under dir (relative paths).
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == dir {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertNothingLeft fails unless neither the store nor the spool directory
// holds a file.
func (ta *testArchiver) assertNothingLeft(t *testing.T) {
	t.Helper()
	if left := append(files(t, ta.storeDir), files(t, ta.spoolDir)...); len(left) > 0 {
		t.Errorf("files left behind: %v", left)
	}
}

func ptr[T any](v T) *T { return &v }
