package simulator

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imreport/imreport/internal/retry"
	"golang.org/x/time/rate"
)

// Faults configures random failures. The zero value injects none.
//
// Every authenticated request to an API endpoint (v1 or v2; not a 404, 405 or
// 401) draws once from a generator seeded with Seed (math/rand/v2 PCG, guarded
// by a mutex, always three values per request), so a client that makes the
// same requests in the same order meets the same faults. The probabilities are
// consecutive slices of one uniform draw, in the order of the fields below: at
// most one fault per request, each with exactly its probability as long as
// they sum to at most 1 (past 1 the later ones are cut short). A probability of
// 1 fires on every request (where the fault applies), 0 never. Config.Fault,
// when set, runs first and bypasses all of this.
type Faults struct {
	Seed uint64

	// ServerError: a 500, 502, 503 or 504 with the vendor's error body, code
	// 899000 "server internal error", or 899030 "server timeout" (every 504
	// and a quarter of the others).
	ServerError float64
	// RateLimited: a 429 with the body {"error":{"code":2002,...}} (see
	// CodeRateLimited); half of them carry Retry-After: 1, half no header.
	RateLimited float64
	// Slow: sleep SlowDelay (0 = 1 minute) before answering normally, or
	// return without answering when the request's context ends first (the
	// client's timeout is expected to fire first).
	Slow      float64
	SlowDelay time.Duration
	// Drop: close the connection without a response (http.Hijacker): half
	// before writing anything, half after the status line and part of the
	// headers. Where the ResponseWriter cannot be hijacked (HTTP/2,
	// httptest.ResponseRecorder) the handler panics with http.ErrAbortHandler,
	// which net/http turns into a reset.
	Drop float64
	// Truncate: a 200 whose JSON body is cut at a random byte (never empty,
	// never complete): half with a Content-Length matching the cut body (the
	// HTTP framing is fine, the JSON is not), half with the full length
	// declared (the connection closes early: an unexpected EOF).
	Truncate float64
	// TotalDrift: the page is served correctly but its total is off by a
	// random non-zero amount in [-3, +3] (never below 0).
	TotalDrift float64
	// CursorExpire (v2 only): a valid, live cursor is answered 400 899003
	// "cursor expired".
	CursorExpire float64

	// RateLimit, when > 0, is a token bucket of RateLimit requests per second
	// and RateBurst (0 = 1) tokens, per app key (a server has one), on the real
	// clock. A request over the limit is answered 429 with the same body as
	// RateLimited and the headers of JPush's other APIs (X-Rate-Limit-Limit per
	// minute, X-Rate-Limit-Remaining 0, X-Rate-Limit-Reset seconds), no
	// Retry-After. The Report API's real answer is undocumented.
	RateLimit float64
	RateBurst int
}

// Fault kinds: the keys of Server.FaultCounts.
const (
	FaultHook         = "hook"          // Config.Fault returned a fault
	FaultRateLimit    = "rate_limit"    // the token bucket (Faults.RateLimit) said no
	FaultServerError  = "server_error"  // Faults.ServerError
	FaultRateLimited  = "rate_limited"  // Faults.RateLimited
	FaultSlow         = "slow"          // Faults.Slow
	FaultDrop         = "drop"          // Faults.Drop
	FaultTruncate     = "truncate"      // Faults.Truncate
	FaultTotalDrift   = "total_drift"   // Faults.TotalDrift
	FaultCursorExpire = "cursor_expire" // Faults.CursorExpire
)

type faultKind int

// The drawn kinds first, in the order of their slices of the draw.
const (
	kindNone faultKind = iota
	kindServerError
	kindRateLimited
	kindSlow
	kindDrop
	kindTruncate
	kindTotalDrift
	kindCursorExpire
	kindRateLimit
	kindHook
	numKinds
)

const lastDrawn = kindCursorExpire

var kindNames = [numKinds]string{
	kindServerError:  FaultServerError,
	kindRateLimited:  FaultRateLimited,
	kindSlow:         FaultSlow,
	kindDrop:         FaultDrop,
	kindTruncate:     FaultTruncate,
	kindTotalDrift:   FaultTotalDrift,
	kindCursorExpire: FaultCursorExpire,
	kindRateLimit:    FaultRateLimit,
	kindHook:         FaultHook,
}

const faultStream = 0x6661756c_74000003

// decision is the fault drawn for one request, with two random values for its
// details (status, half, amount, cut) and the v2 last-page signal.
type decision struct {
	kind faultKind
	a, b uint64
}

type injector struct {
	cfg     Faults
	cum     [lastDrawn + 1]float64 // cum[k]: the draw below which kind k (or an earlier one) fires
	mu      sync.Mutex
	rng     *rand.Rand
	limiter *rate.Limiter
	counts  [numKinds]atomic.Int64
}

func newInjector(f Faults) *injector {
	in := &injector{cfg: f, rng: rand.New(rand.NewPCG(f.Seed, f.Seed^faultStream))}
	probs := [lastDrawn + 1]float64{
		kindServerError:  f.ServerError,
		kindRateLimited:  f.RateLimited,
		kindSlow:         f.Slow,
		kindDrop:         f.Drop,
		kindTruncate:     f.Truncate,
		kindTotalDrift:   f.TotalDrift,
		kindCursorExpire: f.CursorExpire,
	}
	sum := 0.0
	for k := kindServerError; k <= lastDrawn; k++ {
		sum += frac(probs[k])
		in.cum[k] = sum
	}
	if in.cfg.SlowDelay <= 0 {
		in.cfg.SlowDelay = time.Minute
	}
	if f.RateLimit > 0 && !math.IsInf(f.RateLimit, 1) {
		in.limiter = rate.NewLimiter(rate.Limit(f.RateLimit), max(f.RateBurst, 1))
	}
	return in
}

func (in *injector) count(k faultKind) { in.counts[k].Add(1) }

// FaultCounts returns the number of faults injected so far per kind (every
// Fault* kind is present, 0 when none).
func (s *Server) FaultCounts() map[string]int64 {
	out := make(map[string]int64, numKinds)
	for k := kindServerError; k < numKinds; k++ {
		out[kindNames[k]] = s.faults.counts[k].Load()
	}
	return out
}

// decide draws the fault of one request.
func (in *injector) decide() decision {
	in.mu.Lock()
	u, a, b := in.rng.Float64(), in.rng.Uint64(), in.rng.Uint64()
	in.mu.Unlock()
	d := decision{a: a, b: b}
	for k := kindServerError; k <= lastDrawn; k++ {
		if u < in.cum[k] {
			d.kind = k
			break
		}
	}
	return d
}

// limited answers 429 and reports true when the token bucket is empty.
func (in *injector) limited(w http.ResponseWriter) bool {
	if in.limiter == nil || in.limiter.Allow() {
		return false
	}
	in.count(kindRateLimit)
	lim := float64(in.limiter.Limit())
	wait := (1 - in.limiter.Tokens()) / lim
	reset := int64(1)
	if wait > 1 && wait < 1e9 {
		reset = int64(math.Ceil(wait))
	}
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", strconv.FormatInt(int64(math.Round(lim*60)), 10))
	h.Set("X-Rate-Limit-Remaining", "0")
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset, 10))
	writeError(w, rateLimitedError)
	return true
}

var rateLimitedError = apiError{http.StatusTooManyRequests, CodeRateLimited, "Request times of the appkey exceed the limit of current time window"}

var serverErrorStatuses = [...]int{500, 502, 503, 504}

// before applies the faults that replace or delay the response. It reports
// whether the request should still be answered.
func (in *injector) before(w http.ResponseWriter, r *http.Request, d decision) bool {
	switch d.kind {
	case kindServerError:
		in.count(kindServerError)
		status := serverErrorStatuses[d.a%uint64(len(serverErrorStatuses))]
		e := apiError{status, CodeInternal, "server internal error"}
		if status == http.StatusGatewayTimeout || d.b%4 == 0 {
			e.code, e.msg = CodeServerTimeout, "server timeout"
		}
		writeError(w, e)
		return false
	case kindRateLimited:
		in.count(kindRateLimited)
		if d.a&1 == 0 {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, rateLimitedError)
		return false
	case kindDrop:
		in.count(kindDrop)
		drop(w, d.a&1 == 1)
		return false
	case kindSlow:
		in.count(kindSlow)
		return retry.Sleep(r.Context(), in.cfg.SlowDelay) == nil
	}
	return true
}

// drop closes the connection, after part of a response head when partial.
func drop(w http.ResponseWriter, partial bool) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if partial {
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Len")
		_ = buf.Flush()
	}
	_ = conn.Close()
}

// total returns the total to serve: n, or n drifted.
func (in *injector) total(d decision, n int) int {
	if d.kind != kindTotalDrift {
		return n
	}
	in.count(kindTotalDrift)
	delta := int(1 + d.a%3)
	if d.b&1 == 1 {
		delta = -delta
	}
	if n+delta < 0 {
		delta = -delta
	}
	return n + delta
}

// cursorExpired reports whether a valid cursor is to be answered as expired.
func (in *injector) cursorExpired(d decision) bool {
	if d.kind != kindCursorExpire {
		return false
	}
	in.count(kindCursorExpire)
	return true
}

// writePage writes a 200 page, truncated when so decided.
func (in *injector) writePage(w http.ResponseWriter, d decision, out []byte) {
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	if d.kind != kindTruncate || len(out) < 2 {
		h.Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return
	}
	in.count(kindTruncate)
	cut := 1 + int(d.a%uint64(len(out)-1)) // 1 .. len-1
	if d.b&1 == 0 {
		h.Set("Content-Length", strconv.Itoa(cut))
	} else {
		h.Set("Content-Length", strconv.Itoa(len(out)))
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out[:cut])
}
