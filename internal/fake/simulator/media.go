package simulator

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imreport/imreport/internal/retry"
)

// Paths of the vendor's IM REST API the media archiver uses.
const (
	ResourcePath = "/v1/resource" // GET ?mediaId=...: {"url": "<a temporary link>"}
	mediaPrefix  = "/media/"      // where the temporary links point (the simulator's CDN)
)

// MediaConfig configures the media part of the simulator (WithMedia).
type MediaConfig struct {
	Now          func() time.Time // nil = time.Now
	LinkLifetime time.Duration    // how long a link works; 0 = 5 minutes
	// Gone is the fraction (0..1) of media ids the vendor no longer has:
	// /v1/resource answers 404 for them. Decided by the id (IsGone).
	Gone float64
	// Latency delays every /v1/resource answer (as the API is far away).
	Latency time.Duration
	// RateLimit: /v1/resource requests per second before a 429 (0 = none).
	RateLimit float64

	// Faults, each a probability per request, drawn from a generator seeded
	// by Seed: on /v1/resource ServerError (a 5xx) and RateLimited (a 429);
	// on a download ServerError too, Expired (403 as if the link had
	// expired), Cut (the body ends early, its full length declared),
	// Corrupt (one byte flipped) and Slow (SlowDelay before the body).
	Seed                        uint64
	ServerError, RateLimited    float64
	Expired, Cut, Corrupt, Slow float64
	SlowDelay                   time.Duration // 0 = 2 s
	MaxFaultsPerMedia           int           // 0 = 2: after this many faults a media id is served cleanly
}

// MediaServer serves /v1/resource and its links next to an API Server (every
// other path goes to it). Safe for concurrent use.
type MediaServer struct {
	api *Server
	cfg MediaConfig

	mu      sync.Mutex
	rng     *rand.Rand
	faults  map[string]int // per media id, faults served
	limiter struct {
		tokens float64
		at     time.Time
	}
	index struct {
		of   *state
		byID map[string]mediaInfo
	}

	Resolved, Downloads, Faults atomic.Int64 // counters
	Requests                    atomic.Int64 // /v1/resource requests, all answers (also in the API Server's Requests)
}

type mediaInfo struct {
	size int64
	crc  uint32
}

// WithMedia returns api with the media endpoints added.
func WithMedia(api *Server, cfg MediaConfig) *MediaServer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LinkLifetime <= 0 {
		cfg.LinkLifetime = 5 * time.Minute
	}
	if cfg.SlowDelay <= 0 {
		cfg.SlowDelay = 2 * time.Second
	}
	if cfg.MaxFaultsPerMedia <= 0 {
		cfg.MaxFaultsPerMedia = 2
	}
	return &MediaServer{api: api, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6d65646961)), faults: map[string]int{}}
}

// IsGone reports whether the vendor no longer has the media (a 404).
func (m *MediaServer) IsGone(mediaID string) bool {
	if m.cfg.Gone <= 0 {
		return false
	}
	h := sha256.Sum256([]byte("gone:" + mediaID))
	return float64(binary.BigEndian.Uint64(h[:8])>>11)/(1<<53) < m.cfg.Gone
}

// Media returns the declared size and CRC-32 of a media id of the dataset.
func (m *MediaServer) Media(mediaID string) (size int64, crc uint32, ok bool) {
	info, ok := m.lookup(mediaID)
	return info.size, info.crc, ok
}

func (m *MediaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == ResourcePath:
		m.resource(w, r)
	case strings.HasPrefix(p, mediaPrefix):
		m.download(w, r, strings.TrimPrefix(p, mediaPrefix))
	default:
		m.api.ServeHTTP(w, r)
	}
}

func (m *MediaServer) resource(w http.ResponseWriter, r *http.Request) {
	m.api.requests.Add(1)
	m.Requests.Add(1)
	if m.cfg.Latency > 0 && retry.Sleep(r.Context(), m.cfg.Latency) != nil {
		return
	}
	if !m.api.allowed(w, r) {
		return
	}
	if !m.allow() {
		writeError(w, apiError{http.StatusTooManyRequests, CodeRateLimited, "Request exceeds the limit"})
		return
	}
	id := r.URL.Query().Get("mediaId")
	info, ok := m.lookup(id)
	switch {
	case id == "":
		writeError(w, badParam("mediaId is required"))
		return
	case !ok || m.IsGone(id):
		writeError(w, apiError{http.StatusNotFound, CodeInternal, "resource not found"})
		return
	}
	switch m.fault(id, m.cfg.ServerError, m.cfg.RateLimited) {
	case 1:
		writeError(w, apiError{http.StatusServiceUnavailable, CodeServerTimeout, "server timeout"})
		return
	case 2:
		writeError(w, apiError{http.StatusTooManyRequests, CodeRateLimited, "Request exceeds the limit"})
		return
	}
	m.Resolved.Add(1)
	tok := linkToken{ID: id, Size: info.size, CRC: info.crc, Exp: m.cfg.Now().Add(m.cfg.LinkLifetime).UnixMilli()}
	b, _ := json.Marshal(tok)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	link := scheme + "://" + r.Host + mediaPrefix + base64.RawURLEncoding.EncodeToString(b)
	out, _ := json.Marshal(map[string]string{"url": link})
	w.Header().Set("Content-Type", contentTypeJSON)
	_, _ = w.Write(out)
}

type linkToken struct {
	ID   string `json:"i"`
	Size int64  `json:"s"`
	CRC  uint32 `json:"c"`
	Exp  int64  `json:"e"`
}

func (m *MediaServer) download(w http.ResponseWriter, r *http.Request, token string) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	var tok linkToken
	if err != nil || json.Unmarshal(raw, &tok) != nil {
		http.Error(w, "bad link", http.StatusNotFound)
		return
	}
	if m.cfg.Now().UnixMilli() > tok.Exp {
		http.Error(w, "token out of date", http.StatusForbidden)
		return
	}
	kind := m.fault(tok.ID, m.cfg.ServerError, m.cfg.Expired, m.cfg.Cut, m.cfg.Corrupt, m.cfg.Slow)
	switch kind {
	case 1:
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	case 2:
		http.Error(w, "token out of date", http.StatusForbidden)
		return
	case 5:
		if retry.Sleep(r.Context(), m.cfg.SlowDelay) != nil {
			return
		}
	}
	m.Downloads.Add(1)
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(tok.Size, 10))
	body := MediaBytes(tok.ID, tok.Size, tok.CRC)
	switch kind {
	case 3: // cut: declare everything, send part, close
		w.WriteHeader(http.StatusOK)
		_, _ = io.CopyN(w, body, tok.Size/2)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, buf, err := hj.Hijack(); err == nil {
				_ = buf.Flush()
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case 4: // corrupt: flip a byte in the middle
		body = &flipper{r: body, at: tok.Size / 2}
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	_, _ = io.Copy(bw, body)
	_ = bw.Flush()
}

type flipper struct {
	r   io.Reader
	at  int64
	pos int64
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.pos && f.at < f.pos+int64(n) {
		p[f.at-f.pos] ^= 0x5A
	}
	f.pos += int64(n)
	return n, err
}

// fault draws one of the faults (1-based index into ps), 0 for none; a
// media id gets at most MaxFaultsPerMedia.
func (m *MediaServer) fault(id string, ps ...float64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.faults[id] >= m.cfg.MaxFaultsPerMedia {
		return 0
	}
	x := m.rng.Float64()
	for i, p := range ps {
		if x < p {
			m.faults[id]++
			m.Faults.Add(1)
			return i + 1
		}
		x -= p
	}
	return 0
}

// allow is the /v1/resource token bucket (burst 1).
func (m *MediaServer) allow() bool {
	if m.cfg.RateLimit <= 0 {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	l := &m.limiter
	if l.at.IsZero() {
		l.tokens = 1
	} else {
		l.tokens = min(1, l.tokens+now.Sub(l.at).Seconds()*m.cfg.RateLimit)
	}
	l.at = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// lookup finds a media id in the dataset's bodies (indexed once per
// dataset version).
func (m *MediaServer) lookup(id string) (mediaInfo, bool) {
	st := m.api.st.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.index.of != st {
		m.index.of, m.index.byID = st, map[string]mediaInfo{}
		for i := range st.msgs {
			var body any
			if json.Unmarshal(st.msgs[i].Body, &body) == nil {
				indexMedia(body, m.index.byID, 0)
			}
		}
	}
	info, ok := m.index.byID[id]
	return info, ok
}

func indexMedia(v any, into map[string]mediaInfo, depth int) {
	obj, ok := v.(map[string]any)
	if !ok || depth > 3 {
		return
	}
	if id, ok := obj["media_id"].(string); ok {
		into[id] = mediaInfo{size: int64(number(obj["fsize"])), crc: uint32(number(obj["media_crc32"]))}
	}
	for _, x := range obj {
		indexMedia(x, into, depth+1)
	}
}

func number(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

// String describes the configuration.
func (c MediaConfig) String() string {
	life := c.LinkLifetime
	if life <= 0 {
		life = 5 * time.Minute
	}
	out := fmt.Sprintf("links live %s, %.0f%% gone", life, 100*c.Gone)
	if c.Latency > 0 {
		out += fmt.Sprintf(", /v1/resource answers %s late", c.Latency)
	}
	if c.RateLimit > 0 {
		out += fmt.Sprintf(", 429 past %g requests/s", c.RateLimit)
	}
	if f := c.ServerError + c.RateLimited + c.Expired + c.Cut + c.Corrupt + c.Slow; f > 0 {
		out += fmt.Sprintf(", faults: 5xx %g, 429 %g, expired %g, cut %g, corrupt %g, slow %g", c.ServerError, c.RateLimited, c.Expired, c.Cut, c.Corrupt, c.Slow)
	}
	return out
}
