package simulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Standalone is the simulator as imreport simulate serves it: a generated
// history around now, the bad day's faults, and optionally the vendor's
// message routing pushing the live part of it.
type Standalone struct {
	Addr                 string // where to listen
	AppKey, MasterSecret string
	Seed                 uint64
	Count                int           // messages spread over the whole range
	Bursts, BurstSize    int           // seconds holding a burst, messages in each
	History, Live        time.Duration // the range: History before now to Live after it
	Late                 float64       // fraction visible 1 s to 5 min after their send time
	Poison               float64       // fraction untransformable
	Faults               float64       // probability of each fault per request (BadDay)
	RateLimit            float64       // requests per second before 429; 0 = none
	Push                 PushSpec      // Push.URL "" = no callbacks
	// Media: /v1/resource and its links are served too (WithMedia).
	// MediaSize > 0 gives every media reference that size, MediaMaxSize > 0
	// sizes below it (GenSpec); both 0 keep the sizes as drawn (up to
	// 100 MiB; the declared hash is then not the served bytes' etag).
	MediaSize, MediaMaxSize int64
	Media                   MediaConfig
}

// Serve generates the history, listens on s.Addr and serves until ctx
// ends, telling out what it serves (and, with callbacks, what it pushed).
// It returns the listener's or the server's error; nil once ctx ended.
func (s Standalone) Serve(ctx context.Context, out io.Writer) error {
	now := time.Now().UTC().Truncate(time.Second)
	start, end := now.Add(-s.History), now.Add(s.Live)
	msgs := Generate(GenSpec{Seed: s.Seed, AppKey: s.AppKey, Start: start, End: end, Count: s.Count, Bursts: s.Bursts, BurstSize: s.BurstSize,
		Late: s.Late, LateMin: time.Second, LateMax: 5 * time.Minute, Poison: s.Poison, MediaSize: s.MediaSize, MediaMaxSize: s.MediaMaxSize})
	bad := BadDay(s.Seed, s.Faults, time.Minute)
	bad.RateLimit, bad.RateBurst = s.RateLimit, max(1, int(s.RateLimit))
	sim := New(Config{AppKey: s.AppKey, MasterSecret: s.MasterSecret, V2EndMixed: s.Faults > 0, Faults: bad}, msgs)
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	ms := WithMedia(sim, s.Media)
	srv := &http.Server{Handler: ms, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "simulated Report API on http://%s: %d messages from %s to %s (app key %s)\n",
		ln.Addr(), len(msgs), start.Format(time.RFC3339), end.Format(time.RFC3339), s.AppKey)
	fmt.Fprintf(out, "media (IMREPORT_IM_API_URL=http://%s): %d references, %s\n", ln.Addr(), MediaRefs(msgs), s.Media)
	if s.Push.URL != "" {
		p := s.Push.Pusher(s.AppKey, s.MasterSecret, s.Seed)
		live := LiveOnly(msgs, now)
		fmt.Fprintf(out, "pushing %d live messages to %s as they are sent (%s)\n", len(live), s.Push.URL, s.Push)
		go func() { _ = p.Run(ctx, live) }()
		defer func() { fmt.Fprintf(out, "callbacks: %v\n", p.Stats()) }()
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// LiveOnly returns the messages sent at or after from: the ones the vendor
// pushes while the pipeline runs.
func LiveOnly(msgs []Message, from time.Time) []Message {
	var out []Message
	for _, m := range msgs {
		if m.MsgCtime >= from.UnixMilli() {
			out = append(out, m)
		}
	}
	return out
}

// MediaRefs counts the media references (media_id) in the messages' bodies.
func MediaRefs(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += bytes.Count(m.Body, []byte(`"media_id"`))
	}
	return n
}
