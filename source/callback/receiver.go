package callback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/imreport/imreport/source"
)

// Pusher publishes a batch. It returns nil only once every message of the
// batch is acknowledged by Kafka (or was published before) and will not be
// published again; any error makes the receiver answer 5xx, so that the
// vendor may send the request again.
type Pusher interface {
	Push(ctx context.Context, b source.PushBatch) error
}

// Outcomes given to Config.OnRequest: OutcomeAccepted or a rejection reason.
const (
	OutcomeAccepted     = "accepted"
	OutcomeUnauthorized = "unauthorized" // 401
	OutcomeMethod       = "method"       // 405
	OutcomeContentType  = "content_type" // 415
	OutcomeTooLarge     = "too_large"    // 413
	OutcomeMalformed    = "malformed"    // 400
	OutcomeSlow         = "slow"         // 408
	OutcomeBusy         = "busy"         // 503: MaxInFlight reached
	OutcomeUnavailable  = "unavailable"  // 503: not published (in time)
	OutcomeNotFound     = "not_found"    // 404
)

// Config configures a Receiver. Zero values mean the documented defaults.
type Config struct {
	AppKey       string // required: the Basic auth user the vendor sends
	MasterSecret string // required: the Basic auth password; never logged
	Path         string // "" = /callback

	MaxBody     int64         // largest body accepted, bytes; 0 = 1 MiB
	ReadTimeout time.Duration // the whole request must arrive within it; 0 = 10s
	AckTimeout  time.Duration // how long a request waits for Kafka before a 503; 0 = 10s
	MaxInFlight int           // requests handled at once, more get a 503; 0 = 64

	Now       func() time.Time // nil = time.Now
	Logger    *slog.Logger     // nil = slog.Default()
	OnRequest func(outcome string)
}

// Receiver is the http.Handler of the callback.
type Receiver struct {
	cfg       Config
	push      Pusher
	user, pwd [sha256.Size]byte // hashes of the expected credentials
	slots     chan struct{}

	// Warnings at most this often: a probe or an outage must not flood
	// the log (the metrics count every request).
	warnAuth, warnUnpublished rate.Sometimes
}

// New checks cfg and returns a Receiver that hands accepted batches to p.
func New(cfg Config, p Pusher) (*Receiver, error) {
	var problems []error
	if cfg.AppKey == "" || cfg.MasterSecret == "" {
		problems = append(problems, errors.New("app key and master secret are required"))
	}
	if cfg.Path == "" {
		cfg.Path = "/callback"
	}
	if !strings.HasPrefix(cfg.Path, "/") || strings.ContainsAny(cfg.Path, " ?#{}") {
		problems = append(problems, fmt.Errorf("path %q must start with / and hold no space, ?, #, { or }", cfg.Path))
	}
	if cfg.MaxBody < 0 || cfg.ReadTimeout < 0 || cfg.AckTimeout < 0 || cfg.MaxInFlight < 0 {
		problems = append(problems, errors.New("limits must not be negative"))
	}
	if p == nil {
		problems = append(problems, errors.New("no pusher"))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("callback: %w", errors.Join(problems...))
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Receiver{
		cfg: cfg, push: p,
		user:            sha256.Sum256([]byte(cfg.AppKey)),
		pwd:             sha256.Sum256([]byte(cfg.MasterSecret)),
		slots:           make(chan struct{}, cfg.MaxInFlight),
		warnAuth:        rate.Sometimes{Interval: time.Minute},
		warnUnpublished: rate.Sometimes{Interval: 10 * time.Second},
	}, nil
}

// Path is the path the receiver answers on.
func (rc *Receiver) Path() string { return rc.cfg.Path }

// ServeHTTP answers one callback request (see the package documentation).
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != rc.cfg.Path {
		rc.refuse(w, r, http.StatusNotFound, OutcomeNotFound, "not found")
		return
	}
	if !rc.authorized(r) {
		rc.warnAuth.Do(func() {
			rc.cfg.Logger.Warn("callback refused: missing or wrong credentials (logged at most once a minute; imreport_callback_requests_total counts every one)",
				"remote", r.RemoteAddr, "path", r.URL.Path)
		})
		w.Header().Set("WWW-Authenticate", `Basic realm="imreport callback", charset="UTF-8"`)
		rc.refuse(w, r, http.StatusUnauthorized, OutcomeUnauthorized, "unauthorized")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rc.refuse(w, r, http.StatusMethodNotAllowed, OutcomeMethod, "only POST")
		return
	}
	if !jsonContent(r.Header.Get("Content-Type")) {
		rc.refuse(w, r, http.StatusUnsupportedMediaType, OutcomeContentType, "the body must be application/json")
		return
	}
	select {
	case rc.slots <- struct{}{}:
		defer func() { <-rc.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		rc.refuse(w, r, http.StatusServiceUnavailable, OutcomeBusy, "too many requests in flight")
		return
	}
	if r.ContentLength > rc.cfg.MaxBody {
		rc.refuse(w, r, http.StatusRequestEntityTooLarge, OutcomeTooLarge, fmt.Sprintf("body larger than %d bytes", rc.cfg.MaxBody))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rc.cfg.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			rc.refuse(w, r, http.StatusRequestEntityTooLarge, OutcomeTooLarge, fmt.Sprintf("body larger than %d bytes", rc.cfg.MaxBody))
		case errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err):
			rc.refuse(w, r, http.StatusRequestTimeout, OutcomeSlow, "body not received in time")
		default:
			rc.refuse(w, r, http.StatusBadRequest, OutcomeMalformed, "body unreadable")
		}
		return
	}
	b, err := DecodeBody(body)
	if err != nil {
		rc.refuse(w, r, http.StatusBadRequest, OutcomeMalformed, err.Error())
		return
	}
	b.Endpoint, b.ReceivedAt = rc.cfg.Path, rc.cfg.Now()
	ctx, cancel := context.WithTimeout(r.Context(), rc.cfg.AckTimeout)
	defer cancel()
	if err := rc.push.Push(ctx, b); err != nil {
		w.Header().Set("Retry-After", "1")
		rc.warnUnpublished.Do(func() {
			rc.cfg.Logger.Warn("callback not published; answered 503 so that the vendor sends it again, polling also fills the gap (logged at most every 10s)",
				"messages", len(b.Messages), "error", err)
		})
		rc.count(OutcomeUnavailable)
		http.Error(w, "not published, send again", http.StatusServiceUnavailable)
		return
	}
	rc.count(OutcomeAccepted)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`+"\n")
}

// authorized compares the request's Basic credentials with the expected ones
// in constant time (hashes, so that the lengths do not leak either).
func (rc *Receiver) authorized(r *http.Request) bool {
	user, pwd, ok := r.BasicAuth()
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pwd))
	match := subtle.ConstantTimeCompare(u[:], rc.user[:]) & subtle.ConstantTimeCompare(p[:], rc.pwd[:])
	return ok && match == 1
}

func (rc *Receiver) refuse(w http.ResponseWriter, r *http.Request, status int, outcome, msg string) {
	rc.count(outcome)
	rc.cfg.Logger.Debug("callback request refused", "status", status, "reason", outcome, "detail", msg,
		"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	if status >= 400 && status < 500 && r.Body != nil {
		// Do not read the rest of a refused body: close the connection.
		w.Header().Set("Connection", "close")
	}
	http.Error(w, msg, status)
}

func (rc *Receiver) count(outcome string) {
	if rc.cfg.OnRequest != nil {
		rc.cfg.OnRequest(outcome)
	}
}

// jsonContent accepts application/json with no charset or UTF-8.
func jsonContent(v string) bool {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// DecodeBody decodes a callback body, {"total":N,"messages":[...]}, with
// source.DecodeMessage for each message. It returns an error when the body
// is not a JSON object with a messages array, or when a message has no
// usable msgid (wrapping source.ErrNoMsgID); a message with another bad
// field is returned with its error in PushBatch.Errs. It never panics.
func DecodeBody(body []byte) (source.PushBatch, error) {
	var env struct {
		Messages *[]json.RawMessage `json:"messages"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&env); err != nil {
		return source.PushBatch{}, fmt.Errorf("callback body: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return source.PushBatch{}, errors.New("callback body: data after the JSON object")
	}
	if env.Messages == nil {
		return source.PushBatch{}, errors.New("callback body: no messages array")
	}
	raws := *env.Messages
	b := source.PushBatch{Messages: make([]source.Message, 0, len(raws)), Errs: make([]error, 0, len(raws))}
	for i, raw := range raws {
		m, err := source.DecodeMessage(raw)
		if err != nil && errors.Is(err, source.ErrNoMsgID) {
			return source.PushBatch{}, fmt.Errorf("callback body: message %d: %w", i, err)
		}
		b.Messages = append(b.Messages, m)
		b.Errs = append(b.Errs, err)
	}
	return b, nil
}

// Server returns an http.Server for rc with timeouts that bound what a slow
// or idle client can hold: headers within 5 s, the whole request within
// Config.ReadTimeout, the answer within AckTimeout plus 5 s more.
func (rc *Receiver) Server() *http.Server {
	return &http.Server{
		Handler:           rc,
		ReadHeaderTimeout: min(5*time.Second, rc.cfg.ReadTimeout),
		ReadTimeout:       rc.cfg.ReadTimeout,
		WriteTimeout:      rc.cfg.ReadTimeout + rc.cfg.AckTimeout + 5*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(rc.cfg.Logger.Handler(), slog.LevelDebug),
	}
}

// Serve serves rc on ln until ctx ends, then stops accepting and waits up to
// AckTimeout for the requests in flight.
func (rc *Receiver) Serve(ctx context.Context, ln net.Listener) error {
	srv := rc.Server()
	drained := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(drained)
		sctx, cancel := context.WithTimeout(context.Background(), rc.cfg.AckTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
	})
	err := srv.Serve(ln)
	if stop() {
		close(drained) // Serve failed before ctx ended
	}
	<-drained
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("callback: serve %s: %w", ln.Addr(), err)
	}
	return nil
}
