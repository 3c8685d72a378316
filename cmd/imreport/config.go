package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the API's zone must load in a static container

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/schema/registry"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// Config is the validated configuration of `imreport run`.
type Config struct {
	AppKey       string
	MasterSecret string // never logged: see LogValue
	APIURL       string
	Location     *time.Location
	APITimeout   time.Duration
	APIAttempts  int
	APIVersion   string // v1 or v2
	Users        []string
	Groups       []string // v2 only
	Chatrooms    []string // v2 only
	Start        time.Time
	End          time.Time // zero = tail
	Window       time.Duration
	WindowMsgs   int // 0 = fixed windows of Window
	Settle       time.Duration
	Lookback     time.Duration
	PollInterval time.Duration
	PageSize     int
	RateLimit    float64
	Concurrency  int     // windows fetched at once; with AutoFetch the most
	AutoFetch    bool    // IMREPORT_FETCH_CONCURRENCY=auto
	AuditRate    float64 // requests per second of `imreport audit`

	KafkaBrokers       []string
	KafkaTopic         string
	KafkaDLQTopic      string // default KafkaTopic + ".dlq"
	KafkaStateTopic    string // default KafkaTopic + ".state"
	KafkaCreateTopic   bool
	KafkaPartitions    int
	KafkaReplication   int // 0 = auto: the cluster's default (see sink.Config)
	KafkaCompression   string
	KafkaReadTimeout   time.Duration
	KafkaSASLMechanism string
	KafkaSASLUsername  string
	KafkaSASLPassword  string // never logged
	KafkaTLS           bool
	KafkaTLSCAFile     string
	KafkaTLSSkipVerify bool

	Registry    registry.Config // URLs empty = no registry
	Subject     string          // the value schema's subject (IMREPORT_SCHEMA_SUBJECT_STRATEGY applied)
	ValueFormat schema.Framing  // IMREPORT_VALUE_FORMAT with auto resolved

	CheckpointPath  string
	CheckpointLock  time.Duration
	HTTPAddr        string
	LogLevel        slog.Level
	ProgressEvery   time.Duration
	ShutdownTimeout time.Duration
	OwnerGroup      bool          // IMREPORT_OWNER_GROUP
	OwnerSession    time.Duration // IMREPORT_OWNER_SESSION_TIMEOUT

	CallbackAddr        string // "" = no receiver
	CallbackPath        string
	CallbackMaxBody     int
	CallbackReadTimeout time.Duration
	CallbackAckTimeout  time.Duration

	Media mediaConfig // imreport media
}

// LogValue lists the configuration, one key per variable in the order of
// variables, each secret only as "(set)" or "(unset)".
func (c Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(variables))
	for _, v := range variables {
		attrs = append(attrs, slog.Any(v.logKey(), v.logged(&c)))
	}
	return slog.GroupValue(attrs...)
}

// endShown is IMREPORT_END as the start-up log shows it.
func (c Config) endShown() string {
	if c.End.IsZero() {
		return "none (tail)"
	}
	return c.End.Format(time.RFC3339)
}

// replicationShown is IMREPORT_KAFKA_REPLICATION_FACTOR as configured.
func (c Config) replicationShown() string {
	if c.KafkaReplication == 0 {
		return "auto"
	}
	return strconv.Itoa(c.KafkaReplication)
}

// loadConfig reads and validates the environment. It reports every problem
// at once, joined; none of them quotes a secret.
func loadConfig(ctx context.Context, lookup envconfig.Lookuper, now time.Time, needKafka bool) (Config, error) {
	e, err := readEnv(ctx, lookup)
	if err != nil {
		return Config{}, err
	}
	var c Config
	var p problems
	c.loadAPI(e, &p)
	c.loadStreams(e, &p)
	c.loadRange(e, now, &p)
	c.loadWindows(e, &p)
	c.loadKafka(e, needKafka, &p)
	c.loadKafkaAuth(e, &p)
	c.loadRegistry(e, p.bad)
	c.loadService(e, &p)
	c.loadCallback(e, &p)
	c.loadMedia(e, &p)
	if c.Window > 0 && c.Lookback > 0 && c.Lookback > 7*24*time.Hour {
		p.bad("IMREPORT_LOOKBACK", "%s is longer than 7 days", c.Lookback)
	}
	if len(p) > 0 {
		return c, &ConfigError{Problems: p}
	}
	return c, nil
}

// problems collects configuration problems, each naming its variable; the
// methods parse one variable each, reporting what is wrong with it.
type problems []error

func (p *problems) bad(name, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

func (p *problems) dur(name, v string, dst *time.Duration, least time.Duration) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		p.bad(name, "%q is not a duration like 30s or 5m", v)
	case d < least:
		p.bad(name, "%s is less than %s", d, least)
	default:
		*dst = d
	}
}

func (p *problems) integer(name, v string, dst *int, lo, hi int) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	switch {
	case err != nil:
		p.bad(name, "%q is not a whole number", v)
	case n < lo || n > hi:
		p.bad(name, "%d is outside %d..%d", n, lo, hi)
	default:
		*dst = n
	}
}

func (p *problems) boolean(name, v string, dst *bool) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		p.bad(name, "%q is not true or false", v)
	}
	*dst = b
}

// rate reads a positive number of requests per second.
func (p *problems) rate(name, v string, dst *float64) {
	if r, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil || r <= 0 {
		p.bad(name, "%q is not a positive number of requests per second", v)
	} else {
		*dst = r
	}
}

// ids reads a list of user names or group or chatroom ids.
// topic reads a topic variable into dst, dflt when v is empty; false (a
// problem noted) when it is not a valid topic name.
func (p *problems) topic(name, v, dflt string, dst *string) bool {
	*dst = strings.TrimSpace(v)
	if *dst == "" {
		*dst = dflt
	}
	if !sink.ValidTopic(*dst) {
		p.bad(name, "%q is not a valid topic name (1-249 of a-z A-Z 0-9 . _ -)", *dst)
		return false
	}
	return true
}

func (p *problems) ids(name, what, v string) []string {
	list := splitList(v)
	for _, u := range list {
		if strings.ContainsAny(u, "/ ") {
			p.bad(name, "%s %q contains a slash or a space", what, u)
		}
	}
	if dups := duplicates(list); len(dups) > 0 {
		p.bad(name, "listed more than once: %s", strings.Join(dups, ", "))
	}
	return list
}

// loadAPI reads the Report API's credentials, address, zone and requests.
func (c *Config) loadAPI(e env, p *problems) {
	c.AppKey = strings.TrimSpace(e.get("IMREPORT_APP_KEY"))
	if c.AppKey == "" {
		p.bad("IMREPORT_APP_KEY", "required")
	}
	c.MasterSecret = e.get("IMREPORT_MASTER_SECRET")
	if strings.TrimSpace(c.MasterSecret) == "" {
		p.bad("IMREPORT_MASTER_SECRET", "required")
	}
	c.APIURL = strings.TrimRight(strings.TrimSpace(e.get("IMREPORT_API_URL")), "/")
	if !strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://") {
		p.bad("IMREPORT_API_URL", "%q is not an http(s) URL", e.get("IMREPORT_API_URL"))
	} else if strings.HasSuffix(c.APIURL, "/v1") || strings.HasSuffix(c.APIURL, "/v2") {
		p.bad("IMREPORT_API_URL", "%q must not include the version path", e.get("IMREPORT_API_URL"))
	}
	if loc, err := time.LoadLocation(strings.TrimSpace(e.get("IMREPORT_API_TIMEZONE"))); err != nil {
		p.bad("IMREPORT_API_TIMEZONE", "%q is not a time zone name like Asia/Shanghai", e.get("IMREPORT_API_TIMEZONE"))
	} else {
		c.Location = loc
	}
	p.dur("IMREPORT_API_TIMEOUT", e.get("IMREPORT_API_TIMEOUT"), &c.APITimeout, time.Second)
	p.integer("IMREPORT_API_MAX_ATTEMPTS", e.get("IMREPORT_API_MAX_ATTEMPTS"), &c.APIAttempts, 0, 1_000_000)
	c.APIVersion = strings.ToLower(strings.TrimSpace(e.get("IMREPORT_API_VERSION")))
	if c.APIVersion != "v1" && c.APIVersion != "v2" {
		p.bad("IMREPORT_API_VERSION", "%q is not v1 or v2", e.get("IMREPORT_API_VERSION"))
	}
}

// loadStreams reads the users, groups and chatrooms, each supported by the
// API version (needs c.APIVersion).
func (c *Config) loadStreams(e env, p *problems) {
	c.Users = p.ids("IMREPORT_USERS", "user name", e.get("IMREPORT_USERS"))
	c.Groups = p.ids("IMREPORT_GROUPS", "group id", e.get("IMREPORT_GROUPS"))
	c.Chatrooms = p.ids("IMREPORT_CHATROOMS", "chatroom id", e.get("IMREPORT_CHATROOMS"))
	if c.APIVersion == "v1" {
		if len(c.Groups) > 0 {
			p.bad("IMREPORT_GROUPS", "needs IMREPORT_API_VERSION=v2 (v1 has no group endpoint)")
		}
		if len(c.Chatrooms) > 0 {
			p.bad("IMREPORT_CHATROOMS", "needs IMREPORT_API_VERSION=v2 (v1 has no chatroom endpoint)")
		}
	} else if c.APIVersion == "v2" {
		for _, s := range configStreams(*c) {
			if err := s.Supported(c.APIVersion); err != nil {
				p.bad("IMREPORT_"+strings.ToUpper(string(s.Kind)), "%v", err)
			}
		}
	}
}

// loadRange reads where streams begin and, for a bounded run, end.
func (c *Config) loadRange(e env, now time.Time, p *problems) {
	if start, err := parseStart(e.get("IMREPORT_START"), now); err != nil {
		p.bad("IMREPORT_START", "%v", err)
	} else {
		c.Start = start
	}
	if s := strings.TrimSpace(e.get("IMREPORT_END")); s != "" {
		end, err := time.Parse(time.RFC3339, s)
		switch {
		case err != nil:
			p.bad("IMREPORT_END", "%q is not an RFC 3339 time like 2026-01-02T15:04:05Z", s)
		case !c.Start.IsZero() && !end.After(c.Start):
			p.bad("IMREPORT_END", "%s is not after IMREPORT_START (%s)", end.Format(time.RFC3339), c.Start.Format(time.RFC3339))
		default:
			c.End = end
		}
	}
}

// loadWindows reads the windows, the polling and the request rates.
func (c *Config) loadWindows(e env, p *problems) {
	p.dur("IMREPORT_WINDOW", e.get("IMREPORT_WINDOW"), &c.Window, time.Second)
	p.dur("IMREPORT_SETTLE", e.get("IMREPORT_SETTLE"), &c.Settle, 0)
	p.dur("IMREPORT_LOOKBACK", e.get("IMREPORT_LOOKBACK"), &c.Lookback, 0)
	p.dur("IMREPORT_POLL_INTERVAL", e.get("IMREPORT_POLL_INTERVAL"), &c.PollInterval, 100*time.Millisecond)
	p.integer("IMREPORT_PAGE_SIZE", e.get("IMREPORT_PAGE_SIZE"), &c.PageSize, 1, source.MaxPageSize)
	p.rate("IMREPORT_RATE_LIMIT", e.get("IMREPORT_RATE_LIMIT"), &c.RateLimit)
	p.integer("IMREPORT_WINDOW_MESSAGES", e.get("IMREPORT_WINDOW_MESSAGES"), &c.WindowMsgs, 0, 10_000_000)
	if v := strings.TrimSpace(e.get("IMREPORT_FETCH_CONCURRENCY")); strings.EqualFold(v, "auto") {
		c.Concurrency, c.AutoFetch = autoFetchMost, true
	} else {
		p.integer("IMREPORT_FETCH_CONCURRENCY", e.get("IMREPORT_FETCH_CONCURRENCY"), &c.Concurrency, 1, 64)
	}
	p.rate("IMREPORT_AUDIT_RATE_LIMIT", e.get("IMREPORT_AUDIT_RATE_LIMIT"), &c.AuditRate)
}

// loadKafka reads the brokers, the topics and how they are created and
// written.
func (c *Config) loadKafka(e env, needKafka bool, p *problems) {
	c.KafkaBrokers = splitList(e.get("IMREPORT_KAFKA_BROKERS"))
	if needKafka && len(c.KafkaBrokers) == 0 {
		p.bad("IMREPORT_KAFKA_BROKERS", "required: comma-separated host:port")
	}
	for _, b := range c.KafkaBrokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			p.bad("IMREPORT_KAFKA_BROKERS", "%q is not host:port", b)
		}
	}
	c.KafkaTopic = strings.TrimSpace(e.get("IMREPORT_KAFKA_TOPIC"))
	if !sink.ValidTopic(c.KafkaTopic) {
		p.bad("IMREPORT_KAFKA_TOPIC", "%q is not a valid topic name (1-249 of a-z A-Z 0-9 . _ -)", e.get("IMREPORT_KAFKA_TOPIC"))
	}
	if p.topic("IMREPORT_KAFKA_DLQ_TOPIC", e.get("IMREPORT_KAFKA_DLQ_TOPIC"), c.KafkaTopic+".dlq", &c.KafkaDLQTopic) &&
		c.KafkaDLQTopic == c.KafkaTopic {
		p.bad("IMREPORT_KAFKA_DLQ_TOPIC", "must differ from IMREPORT_KAFKA_TOPIC")
	}
	if p.topic("IMREPORT_KAFKA_STATE_TOPIC", e.get("IMREPORT_KAFKA_STATE_TOPIC"), c.KafkaTopic+".state", &c.KafkaStateTopic) &&
		(c.KafkaStateTopic == c.KafkaTopic || c.KafkaStateTopic == c.KafkaDLQTopic) {
		p.bad("IMREPORT_KAFKA_STATE_TOPIC", "must differ from IMREPORT_KAFKA_TOPIC and IMREPORT_KAFKA_DLQ_TOPIC")
	}
	p.boolean("IMREPORT_KAFKA_CREATE_TOPIC", e.get("IMREPORT_KAFKA_CREATE_TOPIC"), &c.KafkaCreateTopic)
	p.integer("IMREPORT_KAFKA_PARTITIONS", e.get("IMREPORT_KAFKA_PARTITIONS"), &c.KafkaPartitions, 1, 10000)
	if !strings.EqualFold(strings.TrimSpace(e.get("IMREPORT_KAFKA_REPLICATION_FACTOR")), "auto") {
		p.integer("IMREPORT_KAFKA_REPLICATION_FACTOR", e.get("IMREPORT_KAFKA_REPLICATION_FACTOR"), &c.KafkaReplication, 1, 32)
	}
	c.KafkaCompression = strings.ToLower(strings.TrimSpace(e.get("IMREPORT_KAFKA_COMPRESSION")))
	switch c.KafkaCompression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		p.bad("IMREPORT_KAFKA_COMPRESSION", "%q is not one of none, gzip, snappy, lz4, zstd", e.get("IMREPORT_KAFKA_COMPRESSION"))
	}
	p.dur("IMREPORT_KAFKA_READ_TIMEOUT", e.get("IMREPORT_KAFKA_READ_TIMEOUT"), &c.KafkaReadTimeout, time.Second)
}

// loadKafkaAuth reads Kafka's SASL and TLS settings.
func (c *Config) loadKafkaAuth(e env, p *problems) {
	c.KafkaSASLMechanism = strings.ToUpper(strings.TrimSpace(e.get("IMREPORT_KAFKA_SASL_MECHANISM")))
	c.KafkaSASLUsername = e.get("IMREPORT_KAFKA_SASL_USERNAME")
	c.KafkaSASLPassword = e.get("IMREPORT_KAFKA_SASL_PASSWORD")
	switch c.KafkaSASLMechanism {
	case "":
		if c.KafkaSASLUsername != "" || c.KafkaSASLPassword != "" {
			p.bad("IMREPORT_KAFKA_SASL_MECHANISM", "required when a SASL username or password is set (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.KafkaSASLUsername == "" {
			p.bad("IMREPORT_KAFKA_SASL_USERNAME", "required with SASL %s", c.KafkaSASLMechanism)
		}
		if c.KafkaSASLPassword == "" {
			p.bad("IMREPORT_KAFKA_SASL_PASSWORD", "required with SASL %s", c.KafkaSASLMechanism)
		}
	default:
		p.bad("IMREPORT_KAFKA_SASL_MECHANISM", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", e.get("IMREPORT_KAFKA_SASL_MECHANISM"))
	}
	p.boolean("IMREPORT_KAFKA_TLS", e.get("IMREPORT_KAFKA_TLS"), &c.KafkaTLS)
	c.KafkaTLSCAFile = strings.TrimSpace(e.get("IMREPORT_KAFKA_TLS_CA_FILE"))
	p.boolean("IMREPORT_KAFKA_TLS_SKIP_VERIFY", e.get("IMREPORT_KAFKA_TLS_SKIP_VERIFY"), &c.KafkaTLSSkipVerify)
	if !c.KafkaTLS && (c.KafkaTLSCAFile != "" || c.KafkaTLSSkipVerify) {
		p.bad("IMREPORT_KAFKA_TLS", "TLS options are set but IMREPORT_KAFKA_TLS is false")
	}
}

// loadService reads the checkpoint, the HTTP server, the logs, progress
// and shutdown.
func (c *Config) loadService(e env, p *problems) {
	c.CheckpointPath = strings.TrimSpace(e.get("IMREPORT_CHECKPOINT_PATH"))
	if c.CheckpointPath == "" {
		p.bad("IMREPORT_CHECKPOINT_PATH", "required")
	}
	p.dur("IMREPORT_CHECKPOINT_LOCK_TIMEOUT", e.get("IMREPORT_CHECKPOINT_LOCK_TIMEOUT"), &c.CheckpointLock, 10*time.Millisecond)
	c.HTTPAddr = strings.TrimSpace(e.get("IMREPORT_HTTP_ADDR"))
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			p.bad("IMREPORT_HTTP_ADDR", "%q is not [host]:port (empty disables the server)", e.get("IMREPORT_HTTP_ADDR"))
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(strings.TrimSpace(e.get("IMREPORT_LOG_LEVEL")))); err != nil {
		p.bad("IMREPORT_LOG_LEVEL", "%q is not one of debug, info, warn, error", e.get("IMREPORT_LOG_LEVEL"))
	}
	p.dur("IMREPORT_SHUTDOWN_TIMEOUT", e.get("IMREPORT_SHUTDOWN_TIMEOUT"), &c.ShutdownTimeout, time.Second)
	p.boolean("IMREPORT_OWNER_GROUP", e.get("IMREPORT_OWNER_GROUP"), &c.OwnerGroup)
	p.dur("IMREPORT_OWNER_SESSION_TIMEOUT", e.get("IMREPORT_OWNER_SESSION_TIMEOUT"), &c.OwnerSession, 6*time.Second)
	p.dur("IMREPORT_PROGRESS_INTERVAL", e.get("IMREPORT_PROGRESS_INTERVAL"), &c.ProgressEvery, time.Second)
}

// loadCallback reads the message routing receiver's settings (needs
// c.HTTPAddr: the receiver has a listener of its own).
func (c *Config) loadCallback(e env, p *problems) {
	c.CallbackAddr = strings.TrimSpace(e.get("IMREPORT_CALLBACK_ADDR"))
	if c.CallbackAddr != "" {
		if _, port, err := net.SplitHostPort(c.CallbackAddr); err != nil {
			p.bad("IMREPORT_CALLBACK_ADDR", "%q is not [host]:port (empty disables the receiver)", e.get("IMREPORT_CALLBACK_ADDR"))
		} else if c.CallbackAddr == c.HTTPAddr && port != "0" {
			p.bad("IMREPORT_CALLBACK_ADDR", "must differ from IMREPORT_HTTP_ADDR (the receiver has its own listener)")
		}
	}
	c.CallbackPath = strings.TrimSpace(e.get("IMREPORT_CALLBACK_PATH"))
	if !strings.HasPrefix(c.CallbackPath, "/") || strings.ContainsAny(c.CallbackPath, " ?#{}") {
		p.bad("IMREPORT_CALLBACK_PATH", "%q must start with / and hold no space, ?, #, { or }", e.get("IMREPORT_CALLBACK_PATH"))
	}
	p.integer("IMREPORT_CALLBACK_MAX_BODY", e.get("IMREPORT_CALLBACK_MAX_BODY"), &c.CallbackMaxBody, 4096, 64<<20)
	p.dur("IMREPORT_CALLBACK_READ_TIMEOUT", e.get("IMREPORT_CALLBACK_READ_TIMEOUT"), &c.CallbackReadTimeout, 100*time.Millisecond)
	p.dur("IMREPORT_CALLBACK_ACK_TIMEOUT", e.get("IMREPORT_CALLBACK_ACK_TIMEOUT"), &c.CallbackAckTimeout, 100*time.Millisecond)
}

// ConfigError lists every configuration problem found.
type ConfigError struct{ Problems []error }

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem(s)):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.Error())
	}
	return b.String()
}

func (e *ConfigError) Unwrap() []error { return e.Problems }

// parseStart reads IMREPORT_START: an RFC 3339 time or a negative duration
// from now.
func parseStart(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "-") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a negative duration like -24h", v)
		}
		return now.Add(d).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a negative duration like -24h", v)
	}
	if t.After(now) {
		return time.Time{}, errors.New("is in the future")
	}
	return t.UTC(), nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func duplicates(xs []string) []string {
	seen := map[string]bool{}
	var dups []string
	for _, x := range xs {
		if seen[x] {
			dups = append(dups, x)
		}
		seen[x] = true
	}
	return dups
}

// autoFetchMost is the most windows IMREPORT_FETCH_CONCURRENCY=auto fetches
// at once.
const autoFetchMost = 8

func concurrencyText(c Config) string {
	if c.AutoFetch {
		return fmt.Sprintf("auto (at most %d)", c.Concurrency)
	}
	return strconv.Itoa(c.Concurrency)
}
