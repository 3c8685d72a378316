package demo

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/imreport/imreport/internal/media"
)

// MediaTotals are imreport media's counts.
type MediaTotals struct {
	Published, Archived, Missing, TooLarge, Failed, Bytes int64
}

// MediaRunner is imreport media's real wiring, as the demo drives it: a
// Runner that is one also archives the media of the history after the run.
type MediaRunner interface {
	// ArchiveMedia runs imreport media with env (the variables it would
	// read) until done reports true of its totals, and returns them.
	ArchiveMedia(ctx context.Context, env map[string]string, done func(MediaTotals) bool) (MediaTotals, error)
}

// demoMediaMaxSize keeps the demo's media small: sizes below it, their
// declared size, CRC-32 and hash consistent with the simulator's bytes.
const demoMediaMaxSize = 4 << 10

// archiveMedia runs imreport media over the topic the run filled, into a
// temporary folder, until every media reference of the expected messages
// has its record, and prints the counts and bytes. It fails when a
// reference was not archived (none is gone at the source in the demo).
func archiveMedia(ctx context.Context, w io.Writer, mr MediaRunner, s services, h history) error {
	want := int64(0)
	for _, m := range h.expected {
		want += int64(len(media.Refs(string(m.Body))))
	}
	dir, err := os.MkdirTemp(scratchDir(), "imreport-demo-media-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := maps.Clone(s.vars)
	maps.Copy(env, map[string]string{
		"IMREPORT_IM_API_URL":            "http://" + s.apiAddr,
		"IMREPORT_MEDIA_URL":             "file://" + filepath.Join(dir, "store"),
		"IMREPORT_MEDIA_SPOOL_DIR":       dir,
		"IMREPORT_MEDIA_RATE_LIMIT":      "100000",
		"IMREPORT_MEDIA_CONCURRENCY":     "64",
		"IMREPORT_MEDIA_SESSION_TIMEOUT": "6s",
		"IMREPORT_HTTP_ADDR":             "",
	})
	began := time.Now()
	t, err := mr.ArchiveMedia(ctx, env, func(t MediaTotals) bool { return t.Published >= want })
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	fmt.Fprintf(w, "  media                 %d references (image, voice, file, video, thumbnail) archived in %v by imreport media: %d archived (%d bytes, to a temporary folder), %d missing at the source, %d too large, %d failed; one record each in %s.media\n",
		want, time.Since(began).Round(time.Millisecond), t.Archived, t.Bytes, t.Missing, t.TooLarge, t.Failed, env["IMREPORT_KAFKA_TOPIC"]+topicOr(env))
	if t.Published != want || t.Archived != want {
		return fmt.Errorf("media: %d of %d references recorded, %d archived", t.Published, want, t.Archived)
	}
	return nil
}

// scratchDir is where the demo's media store goes: a memory-backed folder
// when the machine has one (/dev/shm: the store's fsync of every object
// costs nothing there, and the demo keeps nothing), else the temporary
// directory.
func scratchDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "imreport-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

// topicOr is the default topic when env does not name one.
func topicOr(env map[string]string) string {
	if env["IMREPORT_KAFKA_TOPIC"] == "" {
		return "imreport.messages"
	}
	return ""
}

// ServeMediaUntil runs serve (imreport media, which gives its metrics to
// onMetrics) until done reports true of its totals, then stops it and
// returns them; serve returning before that is an error.
func ServeMediaUntil(ctx context.Context, serve func(ctx context.Context, onMetrics func(*media.Metrics)) error, done func(MediaTotals) bool) (MediaTotals, error) {
	var m atomic.Pointer[media.Metrics]
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- serve(mctx, func(x *media.Metrics) { m.Store(x) })
	}()
	totals := func() MediaTotals {
		x := m.Load()
		if x == nil {
			return MediaTotals{}
		}
		return MediaTotals{Published: x.Published.Load(), Archived: x.Archived.Load(), Missing: x.Missing.Load(),
			TooLarge: x.TooLarge.Load(), Failed: x.Failed.Load(), Bytes: x.Bytes.Load()}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-served:
			if err == nil {
				err = ctx.Err()
			}
			return totals(), fmt.Errorf("imreport media stopped early: %w", err)
		case <-tick.C:
			if t := totals(); m.Load() != nil && done(t) {
				cancel()
				if err := <-served; err != nil {
					return t, err
				}
				return totals(), nil
			}
		}
	}
}
