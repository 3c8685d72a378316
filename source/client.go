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
	"time"

	"golang.org/x/time/rate"

	"github.com/imreport/imreport/retry"
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

	// OnResponse, if set, is called after every request with the endpoint
	// kind ("messages", "users"), the HTTP status (0 when none) and the latency.
	OnResponse func(kind string, status int, elapsed time.Duration)
}

// Client calls the Report API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	auth string
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

// Page is one page of a window, as served.
type Page struct {
	Stream    Stream
	Window    Window
	Endpoint  string            // request path, e.g. /v1/users/alice/messages
	Start     int               // offset of the first message (v1)
	Total     int               // messages the API says the query matches
	Messages  []json.RawMessage // message objects exactly as served, in order
	FetchedAt time.Time
}

// Fetch walks every page of stream in w, calling fn with each in order. It
// retries temporary failures per the client's policy and stops at the first
// error fn returns. A window that the API has no messages for yields no call.
func (c *Client) Fetch(ctx context.Context, s Stream, w Window, fn func(Page) error) error {
	if err := w.Valid(); err != nil {
		return fmt.Errorf("fetch %s: %w", s, err)
	}
	start := 0
	for {
		var p Page
		err := c.cfg.Retry.Do(ctx, func(ctx context.Context) error {
			var err error
			p, err = c.page(ctx, s, w, start)
			return err
		})
		if err != nil {
			return fmt.Errorf("fetch %s %v at start=%d: %w", s, w, start, err)
		}
		if len(p.Messages) == 0 {
			return nil
		}
		if err := fn(p); err != nil {
			return err
		}
		start += len(p.Messages)
		// A short page does not prove the end (total may change while paging);
		// only an empty page or start reaching total does.
		if start >= p.Total {
			return nil
		}
	}
}

// page performs one request for one page.
func (c *Client) page(ctx context.Context, s Stream, w Window, start int) (Page, error) {
	p := Page{Stream: s, Window: w, Start: start, Endpoint: s.path("v1")}
	if err := c.wait(ctx); err != nil {
		return p, err
	}
	begin, end := QueryBounds(w, c.cfg.Location, s.bounds())
	q := "start=" + strconv.Itoa(start) + "&count=" + strconv.Itoa(c.cfg.PageSize) +
		"&begin_time=" + queryEscape(begin) + "&end_time=" + queryEscape(end)
	var env envelope
	if err := c.get(ctx, s.Kind, p.Endpoint, q, &env); err != nil {
		return p, err
	}
	p.Total, p.Messages, p.FetchedAt = env.Total, env.Messages, c.cfg.Now()
	return p, nil
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

// envelope is the page envelope; numbers may come as strings.
type envelope struct {
	Total    int
	Messages []json.RawMessage
}

func (e *envelope) UnmarshalJSON(b []byte) error {
	var raw struct {
		Total    json.RawMessage   `json:"total"`
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	t, err := parseInt(raw.Total) // nil for a missing, null or "" total
	if err != nil {
		return fmt.Errorf("total: %w", err)
	}
	e.Messages = raw.Messages
	if t == nil {
		// Without a total, keep paging until an empty page.
		e.Total = int(^uint(0) >> 1)
	} else {
		e.Total = int(*t)
	}
	return nil
}

// vendorError is the vendor's error body.
type vendorError struct {
	Error *struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	} `json:"error"`
}

func (c *Client) get(ctx context.Context, kind Kind, path, query string, into *envelope) error {
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	c.observe(kind, resp.StatusCode, began)
	c.cfg.Logger.Debug("report api request", "endpoint", path, "query", query,
		"status", resp.StatusCode, "bytes", len(body), "elapsed", time.Since(began))
	if err != nil {
		return &TransportError{Endpoint: path, Err: fmt.Errorf("read body: %w", scrub(err))}
	}
	if len(body) > maxBody {
		return &TransportError{Endpoint: path, Err: fmt.Errorf("response body larger than %d bytes", maxBody)}
	}
	var ve vendorError
	_ = json.Unmarshal(body, &ve) // an error body is optional
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
	if err := json.Unmarshal(body, into); err != nil {
		return &TransportError{Endpoint: path, Err: fmt.Errorf("malformed response body (%d bytes): %w", len(body), err)}
	}
	return nil
}

func (c *Client) observe(kind Kind, status int, began time.Time) {
	if c.cfg.OnResponse != nil {
		c.cfg.OnResponse(string(kind), status, time.Since(began))
	}
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
