package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/internal/demo"
	"github.com/imreport/imreport/internal/fake/simulator"
)

const simulateUsage = `imreport simulate [flags]

Serves the Report API simulator (v1: /v1/messages and
/v1/users/{username}/messages; v2: /v2/messages, /v2/users/{username}/messages,
/v2/groups/{gid}/messages, /v2/chatrooms/{chatroomid}/messages, with cursors
that expire after 120 s) until interrupted. The history spans --hours before
now and --live-hours after it: messages in the future become visible as their
send time passes, so a tailing "imreport run" sees live traffic.

--faults P injects each fault (server errors, 429s, slow answers, dropped
connections, truncated bodies, a drifting total, expired cursors) with
probability P per request; --late F makes that fraction of the messages
visible 1 s to 5 min after their send time; --poison F makes that fraction
untransformable (for the dead-letter topic); --rate-limit N answers 429 past N
requests per second, as the vendor does per app key.

--callback URL also plays the vendor's real-time message routing: each live
message is POSTed to URL (an "imreport run" receiver, e.g.
http://127.0.0.1:8090/callback) as it is sent, retried until answered 200;
--callback-lost, --callback-duplicate, --callback-5xx and --callback-reorder
make that fraction of the callbacks never arrive (polling fills the gap),
arrive twice, be answered 503 once then retried, or arrive up to 2 s late.

It also serves the IM API's media endpoint (GET /v1/resource?mediaId=...)
and the temporary links it answers, with deterministic bytes consistent with
each message's fsize and media_crc32: point "imreport media" at it with
IMREPORT_IM_API_URL=http://<addr>. --media-size N gives every media
reference N bytes, --media-max-size N sizes below N (both 0: sizes as
drawn, up to 100 MiB); --media-latency delays every /v1/resource answer;
--media-gone F makes that fraction of the media ids 404; --media-faults P
injects each media fault (5xx, 429, expired links, cut, corrupt and slow
downloads) with probability P per request.

Credentials are IMREPORT_APP_KEY and IMREPORT_MASTER_SECRET when set, else the
demo's (app key ` + demo.AppKey + `, master secret demo-master-secret).
Point "imreport run" at it with IMREPORT_API_URL=http://<addr>.
`

func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "address to listen on")
	count := fs.Int("messages", 50000, "messages spread over the whole range")
	bursts := fs.Int("bursts", 3, "seconds holding a burst")
	burstSize := fs.Int("burst-size", 1500, "messages in each burst second")
	hours := fs.Int("hours", 24, "hours of history before now")
	live := fs.Int("live-hours", 1, "hours of live traffic after now")
	seed := fs.Uint64("seed", 1, "dataset seed")
	faults := fs.Float64("faults", 0, "probability of each fault per request (0..0.1)")
	late := fs.Float64("late", 0, "fraction of messages that become visible late (0..1)")
	poison := fs.Float64("poison", 0, "fraction of untransformable messages (0..0.1)")
	rateLimit := fs.Float64("rate-limit", 0, "requests per second before 429 (0 = no limit)")
	mediaSize := fs.Int64("media-size", 0, "bytes of every media reference (0 = as drawn)")
	mediaMax := fs.Int64("media-max-size", 0, "media sizes below this many bytes (0 = as drawn)")
	mediaLatency := fs.Duration("media-latency", 0, "delay of every /v1/resource answer")
	mediaGone := fs.Float64("media-gone", 0, "fraction of media ids the vendor no longer has (0..1)")
	mediaFaults := fs.Float64("media-faults", 0, "probability of each media fault per request (0..0.1)")
	cb := callbackFlags(fs)
	if code, done := parseFlags(fs, simulateUsage, args, stdout, stderr); done {
		return code
	}
	if *faults < 0 || *faults > 0.1 || *late < 0 || *late > 1 || *poison < 0 || *poison > 0.1 || *rateLimit < 0 {
		fmt.Fprintln(stderr, "imreport simulate: --faults and --poison must be within 0..0.1, --late within 0..1, --rate-limit >= 0")
		return exitUsage
	}
	if *mediaSize < 0 || *mediaMax < 0 || *mediaGone < 0 || *mediaGone > 1 || *mediaFaults < 0 || *mediaFaults > 0.1 || *mediaLatency < 0 {
		fmt.Fprintln(stderr, "imreport simulate: --media-size, --media-max-size and --media-latency must be >= 0, --media-gone within 0..1, --media-faults within 0..0.1")
		return exitUsage
	}
	if err := cb.Check(); err != nil {
		fmt.Fprintln(stderr, "imreport simulate:", err)
		return exitUsage
	}
	appKey, secret := demo.AppKey, demo.MasterSecret
	if v, ok := lookup.Lookup("IMREPORT_APP_KEY"); ok && v != "" {
		appKey = v
	}
	if v, ok := lookup.Lookup("IMREPORT_MASTER_SECRET"); ok && v != "" {
		secret = v
	}
	sim := simulator.Standalone{Addr: *addr, AppKey: appKey, MasterSecret: secret, Seed: *seed, Count: *count, Bursts: *bursts, BurstSize: *burstSize,
		History: time.Duration(*hours) * time.Hour, Live: time.Duration(*live) * time.Hour,
		Late: *late, Poison: *poison, Faults: *faults, RateLimit: *rateLimit, Push: *cb,
		MediaSize: *mediaSize, MediaMaxSize: *mediaMax, Media: simulator.MediaConfig{Seed: *seed, Latency: *mediaLatency, Gone: *mediaGone,
			ServerError: *mediaFaults, RateLimited: *mediaFaults, Expired: *mediaFaults, Cut: *mediaFaults, Corrupt: *mediaFaults, Slow: *mediaFaults}}
	if err := sim.Serve(ctx, stdout); err != nil {
		fmt.Fprintln(stderr, "imreport simulate:", err)
		return exitFailed
	}
	return exitOK
}
