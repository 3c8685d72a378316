package source

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/imreport/imreport/internal/retry"
)

// DefaultBaseURL is the vendor's Report API host.
const DefaultBaseURL = "https://report.im.jpush.cn"

// MaxPageSize is the API's largest count per request.
const MaxPageSize = 1000

// maxBody bounds one response body: 1000 messages of at most 4 KiB body each,
// with generous room for the envelope.
const maxBody = 64 << 20

// Config configures a Client. Zero values mean the documented defaults.
type Config struct {
	BaseURL      string         // "" = DefaultBaseURL; without the version path
	AppKey       string         // required
	MasterSecret string         // required; never logged
	Location     *time.Location // zone of the API's time strings; nil = Asia/Shanghai
	PageSize     int            // count per request, 1..1000; 0 = 1000
	Timeout      time.Duration  // per request; 0 = 30s
	Limiter      *rate.Limiter  // waited on before every request; nil = no limit
	Retry        retry.Policy   // for temporary failures
	HTTPClient   *http.Client   // nil = a client with sane transport timeouts
	Logger       *slog.Logger   // nil = slog.Default()
	Now          func() time.Time

	// APIVersion is "v1" (offset paging) or "v2" (cursor paging, groups and
	// chatrooms); "" = "v2".
	APIVersion string
	// CursorTTL is how long a v2 cursor stays valid; 0 = DefaultCursorTTL.
	// A cursor is not used once it is CursorTTL minus a margin old (10 s, or
	// a quarter of CursorTTL if that is less): the walk restarts instead.
	CursorTTL time.Duration

	// OnResponse, if set, is called after every request with the endpoint
	// kind ("messages", "users", "groups", "chatrooms"), the HTTP status (0
	// when none) and the latency.
	OnResponse func(kind string, status int, elapsed time.Duration)
	// OnRestart, if set, is called each time Fetch restarts the walk of a
	// window (or of a part of one) from its first request, with the endpoint
	// kind and one of the Restart* reasons. Each restart delivers pages again.
	OnRestart func(kind, reason string)
}

// DefaultCursorTTL is the documented lifetime of a v2 cursor.
const DefaultCursorTTL = 120 * time.Second

// Reasons passed to Config.OnRestart.
const (
	// RestartTotalChanged (v1): a page reported another total than the walk's
	// first page, so offsets may have shifted.
	RestartTotalChanged = "total_changed"
	// RestartCursorStale (v2): the cursor was too old to use by the time the
	// next page was due (the callback or retries took long).
	RestartCursorStale = "cursor_stale"
	// RestartCursorRejected (v2): the server answered a cursor request with
	// 400, 404 or 410 (or a permanent vendor error): expired or invalid.
	RestartCursorRejected = "cursor_rejected"
	// RestartCursorRepeated (v2): the server sent a cursor already seen in
	// the walk.
	RestartCursorRepeated = "cursor_repeated"
)

// Restart limits, per window given to Fetch.
const (
	// maxTotalRestarts bounds v1 restarts on a changed total; after them the
	// walk finishes without restarting (the pipeline's lookback rescans
	// catch what shifted).
	maxTotalRestarts = 5
	// maxCursorLoops bounds v2 restarts on a repeated cursor; one more loop
	// is an error.
	maxCursorLoops = 3
	// maxRestarts bounds v2 restarts that made no progress (the walk got no
	// further than an earlier walk of the same part); one more is an error.
	maxRestarts = 50
	// cursorMargin is how long before CursorTTL a cursor is given up.
	cursorMargin = 10 * time.Second
)

// Client calls the Report API. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	auth    string
	latency atomic.Int64 // moving average of answered requests, nanoseconds
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	var problems []error
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		problems = append(problems, fmt.Errorf("base URL %q is not an http(s) URL", cfg.BaseURL))
	}
	if cfg.AppKey == "" {
		problems = append(problems, errors.New("app key is empty"))
	}
	if cfg.MasterSecret == "" {
		problems = append(problems, errors.New("master secret is empty"))
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = MaxPageSize
	}
	if cfg.PageSize < 1 || cfg.PageSize > MaxPageSize {
		problems = append(problems, fmt.Errorf("page size %d is outside 1..%d", cfg.PageSize, MaxPageSize))
	}
	if cfg.Location == nil {
		if cfg.Location, err = time.LoadLocation("Asia/Shanghai"); err != nil {
			problems = append(problems, err)
		}
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = "v2"
	}
	if cfg.APIVersion != "v1" && cfg.APIVersion != "v2" {
		problems = append(problems, fmt.Errorf("api version %q is not v1 or v2", cfg.APIVersion))
	}
	if cfg.CursorTTL < 0 {
		problems = append(problems, fmt.Errorf("cursor TTL %v is negative", cfg.CursorTTL))
	}
	if cfg.CursorTTL == 0 {
		cfg.CursorTTL = DefaultCursorTTL
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("report api client: %w", errors.Join(problems...))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: cfg.Timeout,
			ForceAttemptHTTP2:     true,
		}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{
		cfg:  cfg,
		base: base,
		auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.AppKey+":"+cfg.MasterSecret)),
	}, nil
}

// AppKey returns the app key the client authenticates with.
func (c *Client) AppKey() string { return c.cfg.AppKey }

// APIVersion returns the API version the client speaks: "v1" or "v2".
func (c *Client) APIVersion() string { return c.cfg.APIVersion }

// Page is one page of a window, as served.
type Page struct {
	Stream Stream
	Window Window // the window given to Fetch
	// Part is the window the request's bounds were computed from: Window,
	// unless v2 split it because its query would span more than MaxQuerySpan.
	Part     Window
	Endpoint string // request path, e.g. /v1/users/alice/messages
	// Start is the offset of the first message within its walk: the request's
	// start on v1, the number of messages delivered before it in the walk of
	// Part on v2.
	Start int
	// Total is the number of messages the API says the query matches, as
	// reported with this page; math.MaxInt when the response had none.
	Total int
	// Walk is the number of times this Fetch restarted a walk before this
	// page (0 on the first walk). Pages delivered before a restart are
	// delivered again after it.
	Walk      int
	Messages  []json.RawMessage // message objects exactly as served, in order
	FetchedAt time.Time
}

// Fetch walks every page of stream in w, calling fn with each in order. It
// retries temporary failures per the client's policy and stops at the first
// error fn returns, which it returns unwrapped. A window that the API has no
// messages for yields no call.
//
// A walk may restart (see the package documentation), delivering pages again:
// callers deduplicate by msgid. fn may block for as long as it needs; a v2
// cursor that grew too old meanwhile is not used.
func (c *Client) Fetch(ctx context.Context, s Stream, w Window, fn func(Page) error) error {
	if err := w.Valid(); err != nil {
		return fmt.Errorf("fetch %s: %w", s, err)
	}
	if err := s.Supported(c.cfg.APIVersion); err != nil {
		return fmt.Errorf("fetch %s: %w", s, err)
	}
	if c.cfg.APIVersion == "v1" {
		return c.fetchV1(ctx, s, w, fn)
	}
	return c.fetchV2(ctx, s, w, fn)
}

// Count returns the total the API reports for stream in w, asking for one
// message (count=1) with the bounds Fetch would use; it retries temporary
// failures per the client's policy. It fails if the response has no total.
//
// The total covers the query's bounds, which may reach a second beyond the
// window (strict endpoints) or, across an offset change, an hour. On v2, a
// window whose query would span more than MaxQuerySpan is counted part by part
// (one request each) and the totals summed; a message in the seconds two
// parts' bounds share is then counted twice.
func (c *Client) Count(ctx context.Context, s Stream, w Window) (int, error) {
	if err := w.Valid(); err != nil {
		return 0, fmt.Errorf("count %s: %w", s, err)
	}
	if err := s.Supported(c.cfg.APIVersion); err != nil {
		return 0, fmt.Errorf("count %s: %w", s, err)
	}
	v := c.cfg.APIVersion
	parts := []Window{w}
	if v == "v2" {
		parts = splitWindow(w, c.cfg.Location, s.bounds(), MaxQuerySpan)
	}
	path := s.path(v)
	sum := 0
	for _, part := range parts {
		begin, end := QueryBounds(part, c.cfg.Location, s.bounds())
		q := "count=1&begin_time=" + queryEscape(begin) + "&end_time=" + queryEscape(end)
		if v == "v1" {
			q = "start=0&" + q
		}
		var env envelope
		if err := c.call(ctx, s.Kind, path, q, &env); err != nil {
			return 0, fmt.Errorf("count %s %v: %w", s, part, err)
		}
		if !env.HasTotal {
			return 0, fmt.Errorf("count %s %v: report api %s: response has no total", s, part, path)
		}
		sum += env.Total
	}
	return sum, nil
}

// call performs one request, waiting on the limiter first, with the client's
// retry policy.
func (c *Client) call(ctx context.Context, kind Kind, path, query string, into json.Unmarshaler) error {
	return c.cfg.Retry.Do(ctx, func(ctx context.Context) error {
		if err := c.wait(ctx); err != nil {
			return err
		}
		return c.get(ctx, kind, path, query, into)
	})
}

// fetchV1 pages by start/count.
//
// Offsets shift when a message appears inside an already-paged range, so a
// page whose total differs from the walk's first page's restarts the walk at
// start=0 (up to maxTotalRestarts times per window; after that the walk
// finishes with a warning). The walk ends at an empty page, or at a short
// page (fewer messages than asked) once start+len reaches the page's total;
// a full page never ends it, whatever the total says.
func (c *Client) fetchV1(ctx context.Context, s Stream, w Window, fn func(Page) error) error {
	path := s.path("v1")
	begin, end := QueryBounds(w, c.cfg.Location, s.bounds())
	bounds := "&begin_time=" + queryEscape(begin) + "&end_time=" + queryEscape(end)
	start, restarts, warned := 0, 0, false
	var first envelope // the walk's first page
	for {
		q := "start=" + strconv.Itoa(start) + "&count=" + strconv.Itoa(c.cfg.PageSize) + bounds
		var env envelope
		if err := c.call(ctx, s.Kind, path, q, &env); err != nil {
			return fmt.Errorf("fetch %s %v at start=%d: %w", s, w, start, err)
		}
		if start == 0 {
			first = env
		} else if env.HasTotal && first.HasTotal && env.Total != first.Total {
			if restarts < maxTotalRestarts {
				restarts++
				c.cfg.Logger.Info("report api total changed while paging; restarting the walk",
					"stream", s.String(), "window", w.String(), "endpoint", path, "start", start,
					"first_total", first.Total, "total", env.Total, "restart", restarts)
				c.restarted(s.Kind, RestartTotalChanged)
				start = 0
				continue
			}
			if !warned {
				warned = true
				c.cfg.Logger.Warn("report api total keeps changing while paging; finishing the walk without restarting (lookback rescans catch shifted messages)",
					"stream", s.String(), "window", w.String(), "endpoint", path, "start", start,
					"first_total", first.Total, "total", env.Total, "restarts", restarts)
			}
		}
		if len(env.Messages) == 0 {
			return nil
		}
		p := Page{Stream: s, Window: w, Part: w, Endpoint: path, Start: start, Total: env.Total,
			Walk: restarts, Messages: env.Messages, FetchedAt: c.cfg.Now()}
		if err := fn(p); err != nil {
			return err
		}
		start += len(env.Messages)
		if len(env.Messages) < c.cfg.PageSize && start >= env.Total {
			return nil
		}
	}
}

func (c *Client) restarted(kind Kind, reason string) {
	if c.cfg.OnRestart != nil {
		c.cfg.OnRestart(string(kind), reason)
	}
}

func (c *Client) wait(ctx context.Context) error {
	if c.cfg.Limiter == nil {
		return nil
	}
	if err := c.cfg.Limiter.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("rate limiter: %w", err)
	}
	return nil
}

// queryEscape escapes a query value, spaces as %20 as the vendor asks.
func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// envelope is the page envelope; numbers may come as strings, and any field
// may be missing.
type envelope struct {
	Total    int  // math.MaxInt when missing
	HasTotal bool // the response had a total
	Cursor   string
	Count    int
	HasCount bool
	Messages []json.RawMessage
}

// vendorError is the vendor's error body.
type vendorError struct {
	Error *vendorErrorBody `json:"error"`
}

type vendorErrorBody struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
}

func (c *Client) get(ctx context.Context, kind Kind, path, query string, into json.Unmarshaler) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+path+"?"+query, nil)
	if err != nil {
		return fmt.Errorf("report api %s: %w", path, err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "imreport")
	began := time.Now()
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		c.observe(kind, 0, began)
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err()
		}
		return &TransportError{Endpoint: path, Err: scrub(err)}
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	c.observe(kind, resp.StatusCode, began)
	c.measure(time.Since(began))
	c.cfg.Logger.Debug("report api request", "endpoint", path, "query", query,
		"status", resp.StatusCode, "bytes", len(body), "elapsed", time.Since(began))
	if err != nil {
		return &TransportError{Endpoint: path, Err: err}
	}
	var (
		ve     vendorError
		envErr error
	)
	page, isPage := into.(*envelope)
	if resp.StatusCode == http.StatusOK && isPage {
		*page, ve.Error, envErr = decodePage(body) // one pass: the envelope, or the vendor's error
	} else {
		_ = json.Unmarshal(body, &ve) // an error body is optional
	}
	if resp.StatusCode != http.StatusOK || ve.Error != nil {
		h := resp.Header
		if resp.StatusCode != http.StatusTooManyRequests && h.Get("X-Rate-Limit-Reset") != "" {
			// The quota's reset time says nothing about when a server error clears.
			h = h.Clone()
			h.Del("X-Rate-Limit-Reset")
		}
		e := &APIError{Endpoint: path, Status: resp.StatusCode, Wait: parseRetryAfter(h, c.cfg.Now())}
		if ve.Error != nil {
			if code, _ := parseInt(ve.Error.Code); code != nil {
				e.Code = int(*code)
			}
			e.Message = c.redact(ve.Error.Message)
		} else {
			e.Message = excerpt([]byte(c.redact(string(body))))
		}
		return e
	}
	if !isPage {
		envErr = json.Unmarshal(body, into)
	}
	if envErr != nil {
		return &TransportError{Endpoint: path, Err: fmt.Errorf("malformed response body (%d bytes): %w", len(body), envErr)}
	}
	return nil
}

// Latency returns a moving average of how long answered requests took (the
// last ones weigh most), or 0 before the first answer. The wait on the rate
// limiter is not included.
func (c *Client) Latency() time.Duration { return time.Duration(c.latency.Load()) }

// measure adds one answered request's duration to the moving average.
func (c *Client) measure(d time.Duration) {
	for {
		old := c.latency.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/5
		}
		if c.latency.CompareAndSwap(old, next) {
			return
		}
	}
}

func (c *Client) observe(kind Kind, status int, began time.Time) {
	if c.cfg.OnResponse != nil {
		c.cfg.OnResponse(string(kind), status, time.Since(began))
	}
}

// readBody reads a response body of at most maxBody bytes. With a
// Content-Length within that, it reads into a buffer of exactly that size
// (a page is about 430 KB: growing a buffer to it from 512 bytes copied it
// over and over), and a body shorter or longer than announced is an error;
// otherwise it reads until EOF. The buffer is the caller's to keep: messages
// are subslices of it.
func readBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n < 0 || n > maxBody {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		switch {
		case err != nil:
			return body, fmt.Errorf("read body: %w", scrub(err))
		case len(body) > maxBody:
			return body, fmt.Errorf("response body larger than %d bytes", maxBody)
		}
		return body, nil
	}
	body := make([]byte, n)
	got, err := io.ReadFull(resp.Body, body)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // nothing at all of a body announced
	}
	if err != nil {
		return body[:got], fmt.Errorf("read body: %d of the %d bytes announced: %w", got, n, scrub(err))
	}
	// Read on to EOF: it catches a body longer than announced, and it lets
	// the transport reuse the connection.
	var probe [1]byte
	switch m, err := io.ReadFull(resp.Body, probe[:]); {
	case m > 0:
		return body, fmt.Errorf("read body: longer than the %d bytes announced", n)
	case err != io.EOF:
		return body, fmt.Errorf("read body: %w", scrub(err))
	}
	return body, nil
}

// scrub drops the request URL from *url.Error: it holds no secret, but its
// query makes messages long; the endpoint is already in our wrapper.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact removes the master secret and the Authorization value from text the
// server sent back (some gateways echo the request into an error page).
func (c *Client) redact(s string) string {
	for _, secret := range []string{strings.TrimPrefix(c.auth, "Basic "), c.cfg.MasterSecret} {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
