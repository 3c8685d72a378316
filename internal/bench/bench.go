package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/internal/fake/farnet"
	"github.com/imreport/imreport/internal/fake/simulator"
)

// Spec is one measurement.
type Spec struct {
	Messages  int           // spread uniformly over Span
	Span      time.Duration // history length, ending an hour before now; at most 59 days
	Bursts    int           // seconds holding BurstSize messages each
	BurstSize int
	Seed      uint64

	Latency time.Duration // added to every API answer
	// KafkaLatency delays every answer of the embedded Kafka broker: a
	// cluster far away (see internal/farnet).
	KafkaLatency time.Duration
	RateLimit    float64 // IMREPORT_RATE_LIMIT, also enforced by the simulator; 0 = unlimited
	APIVersion   string  // "" = v2
	PageSize     int     // IMREPORT_PAGE_SIZE; 0 = 1000

	// Env holds more IMREPORT_* variables for the run (they win over the
	// bench's own).
	Env map[string]string
	// Naive also runs the naive pipeline over the same history.
	Naive bool
	// Media, when set, first measures the run alone (the baseline), then
	// again with imreport media archiving the history's media in a process
	// of its own, against the same simulator and broker.
	Media *MediaSpec
}

// RunFunc runs "imreport run" with env (a bounded backfill) and returns how
// many messages it published.
type RunFunc func(ctx context.Context, env map[string]string) (published int64, err error)

// Result is what one Run measured.
type Result struct {
	Messages       int           // in the history
	Published      int64         // by the run
	Elapsed        time.Duration // of the run, start-up included
	Requests       int64         // API requests the simulator answered
	RateLimited    int64         // of those, 429s for going over the rate limit
	LeastRequests  int           // one per full page plus one per 7-day span
	RateLimit      float64       // requests per second (0 = unlimited)
	PageSize       int
	NaiveElapsed   time.Duration // 0 unless Spec.Naive
	NaivePublished int64
	NaiveRequests  int64

	// With Spec.Media: the run alone, and what imreport media did while
	// the measured run published (Published, Elapsed and Requests above
	// are that run's; its API requests exclude /v1/resource).
	BaselinePublished int64
	BaselineElapsed   time.Duration
	Media             *MediaResult
}

// MsgPerSec is the run's throughput.
func (r Result) MsgPerSec() float64 { return float64(r.Published) / r.Elapsed.Seconds() }

// MsgPerRequest is the messages the run got per API request.
func (r Result) MsgPerRequest() float64 { return float64(r.Published) / float64(max(r.Requests, 1)) }

// BoundFraction is MsgPerSec over the rate-limit bound (RateLimit x
// PageSize messages per second); NaN without a rate limit.
func (r Result) BoundFraction() float64 {
	if r.RateLimit <= 0 {
		return math.NaN()
	}
	return r.MsgPerSec() / (r.RateLimit * float64(r.PageSize))
}

// NaiveRatio is the run's throughput over the naive pipeline's; NaN when
// the naive pipeline did not run.
func (r Result) NaiveRatio() float64 {
	if r.NaiveElapsed <= 0 {
		return math.NaN()
	}
	naive := float64(r.NaivePublished) / r.NaiveElapsed.Seconds()
	return r.MsgPerSec() / naive
}

func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "published            %d of %d messages in %v: %.0f msg/s\n", r.Published, r.Messages, r.Elapsed.Round(time.Millisecond), r.MsgPerSec())
	fmt.Fprintf(&b, "api requests         %d (%.1f messages/request; least possible %d, ratio %.2f); %d answered 429\n",
		r.Requests, r.MsgPerRequest(), r.LeastRequests, float64(r.Requests)/float64(max(r.LeastRequests, 1)), r.RateLimited)
	if r.RateLimit > 0 {
		fmt.Fprintf(&b, "rate-limit bound     %.0f msg/s (%g requests/s x %d): %.3f of it reached; requests at %.3f of the rate\n",
			r.RateLimit*float64(r.PageSize), r.RateLimit, r.PageSize, r.BoundFraction(),
			float64(r.Requests)/r.Elapsed.Seconds()/r.RateLimit)
	}
	if r.Media != nil {
		base := float64(r.BaselinePublished) / r.BaselineElapsed.Seconds()
		fmt.Fprintf(&b, "run alone            %d messages in %v: %.0f msg/s; with imreport media running: %.0f msg/s (%.3f of it)\n",
			r.BaselinePublished, r.BaselineElapsed.Round(time.Millisecond), base, r.MsgPerSec(), r.MsgPerSec()/base)
		m := r.Media
		fmt.Fprintf(&b, "imreport media       %d records (%d downloads served, %d /v1/resource requests); the last %d in %v: %.2f records/s, rate limit %g/s, /v1/resource answers %v late: %.3f of the rate\n",
			m.Items, m.Archived, m.Requests, m.Counted, m.Elapsed.Round(time.Millisecond), m.PerSec(), m.Rate, m.Latency, m.Fraction())
	}
	if r.NaiveElapsed > 0 {
		fmt.Fprintf(&b, "naive pipeline       %d messages in %v: %.0f msg/s, %d requests; imreport/naive = %.2f\n",
			r.NaivePublished, r.NaiveElapsed.Round(time.Millisecond), float64(r.NaivePublished)/r.NaiveElapsed.Seconds(), r.NaiveRequests, r.NaiveRatio())
	}
	return b.String()
}

// LeastRequests is the fewest requests a history of n messages over span
// needs with pages of size: one per full page plus one per 7-day span.
func LeastRequests(n int, span time.Duration, size int) int {
	spans := int(math.Ceil(span.Hours() / (7 * 24)))
	return n/max(size, 1) + max(spans, 1)
}

// Run measures spec: the naive pipeline first (if asked), then the run.
func Run(ctx context.Context, spec Spec, run RunFunc) (Result, error) {
	if spec.Span <= 0 || spec.Span > 59*24*time.Hour {
		return Result{}, fmt.Errorf("bench: span %v is outside (0, 59 days]", spec.Span)
	}
	if spec.PageSize == 0 {
		spec.PageSize = 1000
	}
	if spec.APIVersion == "" {
		spec.APIVersion = "v2"
	}
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	start := end.Add(-spec.Span)
	gs := simulator.GenSpec{Seed: spec.Seed, Start: start, End: end, Count: spec.Messages, Bursts: spec.Bursts, BurstSize: spec.BurstSize}
	if spec.Media != nil {
		gs.MediaMaxSize = cmp.Or(spec.Media.MaxSize, 16<<10)
	}
	msgs := simulator.Generate(gs)
	res := Result{Messages: len(msgs), RateLimit: spec.RateLimit, PageSize: spec.PageSize,
		LeastRequests: LeastRequests(len(msgs), spec.Span, spec.PageSize)}
	var media *simulator.MediaServer
	newAPI := func() (*simulator.Server, string, func(), error) {
		sim := simulator.New(simulator.Config{Latency: spec.Latency,
			Faults: simulator.Faults{RateLimit: spec.RateLimit, RateBurst: max(1, int(spec.RateLimit))}}, msgs)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", nil, fmt.Errorf("bench: simulator listen: %w", err)
		}
		var h http.Handler = sim
		if spec.Media != nil {
			media = simulator.WithMedia(sim, simulator.MediaConfig{Latency: spec.Media.Latency})
			h = media
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		return sim, "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
	}
	if spec.Naive {
		sim, url, stop, err := newAPI()
		if err != nil {
			return res, err
		}
		brokers, closeKafka, err := newKafka(spec.KafkaLatency)
		if err != nil {
			stop()
			return res, err
		}
		began := time.Now()
		n, err := Naive(ctx, NaiveConfig{APIURL: url, AppKey: simulator.DefaultAppKey, MasterSecret: simulator.DefaultMasterSecret,
			Brokers: brokers, Topic: "naive", Start: start, End: end, PageSize: spec.PageSize, RateLimit: spec.RateLimit})
		res.NaiveElapsed, res.NaivePublished, res.NaiveRequests = time.Since(began), n, sim.Requests()
		closeKafka()
		stop()
		if err != nil {
			return res, fmt.Errorf("bench: naive pipeline: %w", err)
		}
	}
	measure := func(withMedia bool) (published int64, elapsed time.Duration, requests, limited int64, mres *MediaResult, err error) {
		sim, url, stop, err := newAPI()
		if err != nil {
			return 0, 0, 0, 0, nil, err
		}
		defer stop()
		brokers, closeKafka, err := newKafka(spec.KafkaLatency)
		if err != nil {
			return 0, 0, 0, 0, nil, err
		}
		defer closeKafka()
		dir, err := os.MkdirTemp("", "imreport-bench-")
		if err != nil {
			return 0, 0, 0, 0, nil, err
		}
		defer os.RemoveAll(dir)
		rate := spec.RateLimit
		if rate <= 0 {
			rate = 1e6
		}
		env := map[string]string{
			"IMREPORT_APP_KEY":                  simulator.DefaultAppKey,
			"IMREPORT_MASTER_SECRET":            simulator.DefaultMasterSecret,
			"IMREPORT_API_URL":                  url,
			"IMREPORT_API_VERSION":              spec.APIVersion,
			"IMREPORT_START":                    start.Format(time.RFC3339),
			"IMREPORT_END":                      end.Format(time.RFC3339),
			"IMREPORT_LOOKBACK":                 "0s",
			"IMREPORT_RATE_LIMIT":               strconv.FormatFloat(rate, 'f', -1, 64),
			"IMREPORT_PAGE_SIZE":                strconv.Itoa(spec.PageSize),
			"IMREPORT_KAFKA_BROKERS":            brokers,
			"IMREPORT_KAFKA_PARTITIONS":         "6",
			"IMREPORT_KAFKA_REPLICATION_FACTOR": "1",
			"IMREPORT_CHECKPOINT_PATH":          filepath.Join(dir, "imreport.db"),
			"IMREPORT_HTTP_ADDR":                "",
			"IMREPORT_LOG_LEVEL":                "warn",
		}
		for k, v := range spec.Env {
			env[k] = v
		}
		// imreport media, in a process of its own, from the moment the run
		// has created the topic until it has published Items records.
		type mediaOut struct {
			res MediaResult
			err error
		}
		mediaDone := make(chan mediaOut, 1)
		if withMedia {
			ms := *spec.Media
			ms.Items = cmp.Or(ms.Items, 100)
			mctx, cancel := context.WithTimeout(ctx, cmp.Or(ms.Timeout, 10*time.Minute))
			defer cancel()
			menv := maps.Clone(env)
			menv["IMREPORT_IM_API_URL"] = url
			go func() {
				out := MediaResult{Rate: ms.Rate, Latency: ms.Latency}
				p, err := startMedia(mctx, ms, menv, dir)
				if err != nil {
					mediaDone <- mediaOut{out, err}
					return
				}
				out.Items, out.Counted, out.Elapsed, err = p.measure(mctx, ms.Items)
				p.stop()
				out.Requests, out.Archived = media.Requests.Load(), media.Downloads.Load()
				mediaDone <- mediaOut{out, err}
			}()
		}
		began := time.Now()
		published, err = run(ctx, env)
		elapsed = time.Since(began)
		requests, limited = sim.Requests(), sim.FaultCounts()[simulator.FaultRateLimit]
		if withMedia {
			requests -= media.Requests.Load() // the run's own, measured when it ended
			mo := <-mediaDone
			mres = &mo.res
			if err == nil {
				err = mo.err
			}
		}
		if err != nil {
			return published, elapsed, requests, limited, mres, fmt.Errorf("bench: run: %w", err)
		}
		if published != int64(len(msgs)) {
			return published, elapsed, requests, limited, mres, fmt.Errorf("bench: run published %d of %d messages", published, len(msgs))
		}
		return published, elapsed, requests, limited, mres, nil
	}
	if spec.Media != nil {
		var err error
		res.BaselinePublished, res.BaselineElapsed, _, _, _, err = measure(false)
		if err != nil {
			return res, fmt.Errorf("bench: the run alone: %w", err)
		}
	}
	var err error
	res.Published, res.Elapsed, res.Requests, res.RateLimited, res.Media, err = measure(spec.Media != nil)
	return res, err
}

// newKafka starts a one-broker kfake cluster whose answers arrive latency
// late.
func newKafka(latency time.Duration) (brokers string, stop func(), err error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(6), kfake.AllowAutoTopicCreation(),
		kfake.ListenFn(farnet.ListenFn(latency)))
	if err != nil {
		return "", nil, fmt.Errorf("bench: embedded kafka: %w", err)
	}
	return strings.Join(c.ListenAddrs(), ","), c.Close, nil
}

// ServeKafka serves a one-broker kfake cluster on addr, its answers latency
// late, until ctx ends, for measuring "imreport run" in a process of its own
// (peak RSS).
func ServeKafka(ctx context.Context, addr string, latency time.Duration, ready func(addrs []string)) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bench: kafka address %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("bench: kafka port %q: %w", port, err)
	}
	c, err := kfake.NewCluster(kfake.Ports(p), kfake.DefaultNumPartitions(6), kfake.AllowAutoTopicCreation(),
		kfake.ListenFn(farnet.ListenFn(latency)))
	if err != nil {
		return fmt.Errorf("bench: embedded kafka: %w", err)
	}
	defer c.Close()
	if ready != nil {
		ready(c.ListenAddrs())
	}
	<-ctx.Done()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}
