package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Subject name strategies (Config values of IMREPORT_SCHEMA_SUBJECT_STRATEGY).
const (
	StrategyTopic       = "topic"        // <topic>-value
	StrategyRecord      = "record"       // the record's full name
	StrategyTopicRecord = "topic_record" // <topic>-<full name>
)

// Subject returns the subject of the value schema recordName written to
// topic under strategy ("" = StrategyTopic).
func Subject(strategy, topic, recordName string) (string, error) {
	switch strategy {
	case "", StrategyTopic:
		return topic + "-value", nil
	case StrategyRecord:
		return recordName, nil
	case StrategyTopicRecord:
		return topic + "-" + recordName, nil
	}
	return "", fmt.Errorf("subject strategy %q is not one of topic, record, topic_record", strategy)
}

// Config configures a Client. Zero values mean the documented defaults.
type Config struct {
	URLs        []string      // at least one; tried in order on connection errors
	Username    string        // HTTP basic auth (Confluent's USER_INFO); with Password
	Password    string        // never logged
	BearerToken string        // Authorization: Bearer; never logged; not with Username
	TLSCAFile   string        // PEM bundle to trust for https URLs; "" = system roots
	Timeout     time.Duration // one request; 0 = 10s
}

// Client is a Schema Registry client. Safe for concurrent use.
type Client struct {
	cl   *sr.Client
	urls []string
}

// New checks cfg and returns a Client. It does not connect. Every problem
// is reported at once.
func New(cfg Config) (*Client, error) {
	var problems []error
	if len(cfg.URLs) == 0 {
		problems = append(problems, errors.New("no URL"))
	}
	for _, u := range cfg.URLs {
		if err := checkURL(u); err != nil {
			problems = append(problems, err)
		}
	}
	if cfg.Password != "" && cfg.Username == "" {
		problems = append(problems, errors.New("a password without a username"))
	}
	if cfg.BearerToken != "" && cfg.Username != "" {
		problems = append(problems, errors.New("both basic auth (username) and a bearer token: choose one"))
	}
	var pool *x509.CertPool
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			problems = append(problems, fmt.Errorf("TLS CA file: %w", err))
		} else if pool = x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) {
			problems = append(problems, fmt.Errorf("TLS CA file %s holds no PEM certificate", cfg.TLSCAFile))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("schema registry: %w", errors.Join(problems...))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if pool != nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	opts := []sr.ClientOpt{
		sr.URLs(append([]string(nil), cfg.URLs...)...),
		sr.HTTPClient(&http.Client{Timeout: cfg.Timeout, Transport: tr}),
		sr.UserAgent("imreport"),
	}
	if cfg.Username != "" {
		opts = append(opts, sr.BasicAuth(cfg.Username, cfg.Password))
	}
	if cfg.BearerToken != "" {
		opts = append(opts, sr.BearerToken(cfg.BearerToken))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	return &Client{cl: cl, urls: cfg.URLs}, nil
}

// CheckURL accepts an http or https URL with a host and without user
// information (credentials have their own settings and are never logged).
// Its error quotes the URL with any credentials cut out.
func CheckURL(raw string) error { return checkURL(raw) }

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL is not a URL (%s)", redact(raw))
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("URL %s carries credentials: use the username and password (or bearer token) settings instead", redact(raw))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("URL %s is not http:// or https://", raw)
	case u.Host == "":
		return fmt.Errorf("URL %s has no host", raw)
	}
	return nil
}

// redact drops whatever stands between :// and @ in a URL.
func redact(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		if j := strings.LastIndexByte(raw, '@'); j > i {
			return raw[:i+3] + "(credentials)" + raw[j:]
		}
	}
	return raw
}

// URLs returns the registry URLs.
func (c *Client) URLs() []string { return c.urls }

// Register registers the Avro schema text under subject and returns its id
// (the id already assigned when the subject holds the schema). One
// attempt: see the package documentation, "Errors".
func (c *Client) Register(ctx context.Context, subject, text string) (int, error) {
	id, err := c.cl.RegisterSchema(ctx, subject, sr.Schema{Schema: text, Type: sr.TypeAvro}, -1, -1)
	if err != nil {
		return 0, wrap(fmt.Sprintf("register schema under subject %q", subject), subject, err)
	}
	if id <= 0 {
		return 0, fmt.Errorf("schema registry: register schema under subject %q: the registry answered id %d", subject, id)
	}
	return id, nil
}

// SchemaText returns the schema text of id. One attempt.
func (c *Client) SchemaText(ctx context.Context, id int) (string, error) {
	s, err := c.cl.SchemaByID(ctx, id)
	if err != nil {
		return "", wrap(fmt.Sprintf("schema id %d", id), "", err)
	}
	if s.Type != sr.TypeAvro {
		return "", fmt.Errorf("schema registry: schema id %d is a %s schema, not Avro", id, s.Type)
	}
	return s.Schema, nil
}

// Error is an error answer of the registry.
type Error struct {
	Op      string // what was asked, e.g. `register schema under subject "t-value"`
	Subject string // the subject, when the request named one
	Status  int    // HTTP status
	Code    int    // the registry's error_code, e.g. 409 or 40401; 0 when the body had none
	Message string // the registry's message
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	hint := ""
	switch e.Status {
	case http.StatusConflict:
		hint = " (the schema is not compatible with the versions already under the subject at the subject's compatibility level; see docs/consuming.md, \"Changing the schema\")"
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = " (check IMREPORT_SCHEMA_REGISTRY_USERNAME/_PASSWORD or _BEARER_TOKEN and the account's permissions on the subject)"
	}
	return fmt.Sprintf("schema registry: %s: HTTP %d, error code %d: %s%s", e.Op, e.Status, e.Code, msg, hint)
}

// Temporary reports whether another attempt may succeed: 5xx, 408 and 429.
func (e *Error) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests
}

// wrap turns sr's errors into *Error (answers) or a prefixed error
// (connection problems, classified by retry.Temporary through %w).
func wrap(op, subject string, err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		msg := re.Message
		if msg == "" || (re.ErrorCode == 0 && msg == string(re.Raw)) {
			msg = strings.TrimSpace(string(re.Raw))
			if len(msg) > 300 {
				msg = msg[:300] + "..."
			}
		}
		return &Error{Op: op, Subject: subject, Status: re.StatusCode, Code: re.ErrorCode, Message: msg}
	}
	return fmt.Errorf("schema registry: %s: %w", op, err)
}
