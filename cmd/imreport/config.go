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

// env is the raw environment, as strings, so that every problem can be
// reported at once instead of the first parse error.
type env struct {
	AppKey       string `env:"IMREPORT_APP_KEY"`
	MasterSecret string `env:"IMREPORT_MASTER_SECRET"`
	APIURL       string `env:"IMREPORT_API_URL, default=https://report.im.jpush.cn"`
	APITimezone  string `env:"IMREPORT_API_TIMEZONE, default=Asia/Shanghai"`
	APITimeout   string `env:"IMREPORT_API_TIMEOUT, default=30s"`
	APIAttempts  string `env:"IMREPORT_API_MAX_ATTEMPTS, default=20"`
	APIVersion   string `env:"IMREPORT_API_VERSION, default=v2"`
	Users        string `env:"IMREPORT_USERS"`
	Groups       string `env:"IMREPORT_GROUPS"`
	Chatrooms    string `env:"IMREPORT_CHATROOMS"`
	Start        string `env:"IMREPORT_START, default=-24h"`
	End          string `env:"IMREPORT_END"`
	Window       string `env:"IMREPORT_WINDOW, default=168h"`
	WindowMsgs   string `env:"IMREPORT_WINDOW_MESSAGES, default=20000"`
	Settle       string `env:"IMREPORT_SETTLE, default=30s"`
	Lookback     string `env:"IMREPORT_LOOKBACK, default=10m"`
	PollInterval string `env:"IMREPORT_POLL_INTERVAL, default=10s"`
	PageSize     string `env:"IMREPORT_PAGE_SIZE, default=1000"`
	RateLimit    string `env:"IMREPORT_RATE_LIMIT, default=8"`
	Concurrency  string `env:"IMREPORT_FETCH_CONCURRENCY, default=auto"`
	AuditRate    string `env:"IMREPORT_AUDIT_RATE_LIMIT, default=2"`

	KafkaBrokers       string `env:"IMREPORT_KAFKA_BROKERS"`
	KafkaTopic         string `env:"IMREPORT_KAFKA_TOPIC, default=imreport.messages"`
	KafkaDLQTopic      string `env:"IMREPORT_KAFKA_DLQ_TOPIC"`
	KafkaCreateTopic   string `env:"IMREPORT_KAFKA_CREATE_TOPIC, default=true"`
	KafkaPartitions    string `env:"IMREPORT_KAFKA_PARTITIONS, default=6"`
	KafkaReplication   string `env:"IMREPORT_KAFKA_REPLICATION_FACTOR, default=auto"`
	KafkaCompression   string `env:"IMREPORT_KAFKA_COMPRESSION, default=snappy"`
	KafkaSASLMechanism string `env:"IMREPORT_KAFKA_SASL_MECHANISM"`
	KafkaSASLUsername  string `env:"IMREPORT_KAFKA_SASL_USERNAME"`
	KafkaSASLPassword  string `env:"IMREPORT_KAFKA_SASL_PASSWORD"`
	KafkaTLS           string `env:"IMREPORT_KAFKA_TLS, default=false"`
	KafkaTLSCAFile     string `env:"IMREPORT_KAFKA_TLS_CA_FILE"`
	KafkaTLSSkipVerify string `env:"IMREPORT_KAFKA_TLS_SKIP_VERIFY, default=false"`

	RegistryURL         string `env:"IMREPORT_SCHEMA_REGISTRY_URL"`
	RegistryUsername    string `env:"IMREPORT_SCHEMA_REGISTRY_USERNAME"`
	RegistryPassword    string `env:"IMREPORT_SCHEMA_REGISTRY_PASSWORD"`
	RegistryBearerToken string `env:"IMREPORT_SCHEMA_REGISTRY_BEARER_TOKEN"`
	RegistryTLSCAFile   string `env:"IMREPORT_SCHEMA_REGISTRY_TLS_CA_FILE"`
	SubjectStrategy     string `env:"IMREPORT_SCHEMA_SUBJECT_STRATEGY, default=topic"`
	ValueFormat         string `env:"IMREPORT_VALUE_FORMAT, default=auto"`

	CheckpointPath  string `env:"IMREPORT_CHECKPOINT_PATH, default=imreport.db"`
	CheckpointLock  string `env:"IMREPORT_CHECKPOINT_LOCK_TIMEOUT, default=2s"`
	HTTPAddr        string `env:"IMREPORT_HTTP_ADDR, default=:8080"`
	LogLevel        string `env:"IMREPORT_LOG_LEVEL, default=info"`
	ProgressEvery   string `env:"IMREPORT_PROGRESS_INTERVAL, default=15s"`
	ShutdownTimeout string `env:"IMREPORT_SHUTDOWN_TIMEOUT, default=20s"`

	CallbackAddr        string `env:"IMREPORT_CALLBACK_ADDR"`
	CallbackPath        string `env:"IMREPORT_CALLBACK_PATH, default=/callback"`
	CallbackMaxBody     string `env:"IMREPORT_CALLBACK_MAX_BODY, default=1048576"`
	CallbackReadTimeout string `env:"IMREPORT_CALLBACK_READ_TIMEOUT, default=10s"`
	CallbackAckTimeout  string `env:"IMREPORT_CALLBACK_ACK_TIMEOUT, default=10s"`
}

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
	KafkaCreateTopic   bool
	KafkaPartitions    int
	KafkaReplication   int // 0 = auto: the cluster's default (see sink.Config)
	KafkaCompression   string
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

	CallbackAddr        string // "" = no receiver
	CallbackPath        string
	CallbackMaxBody     int
	CallbackReadTimeout time.Duration
	CallbackAckTimeout  time.Duration
}

// LogValue lists the configuration without its secrets.
func (c Config) LogValue() slog.Value {
	secret := func(s string) string {
		if s == "" {
			return "(unset)"
		}
		return "(set)"
	}
	end := "none (tail)"
	if !c.End.IsZero() {
		end = c.End.Format(time.RFC3339)
	}
	return slog.GroupValue(
		slog.String("app_key", c.AppKey),
		slog.String("master_secret", secret(c.MasterSecret)),
		slog.String("api_url", c.APIURL),
		slog.String("api_timezone", c.Location.String()),
		slog.String("api_version", c.APIVersion),
		slog.Duration("api_timeout", c.APITimeout),
		slog.Int("api_max_attempts", c.APIAttempts),
		slog.Any("users", c.Users),
		slog.Any("groups", c.Groups),
		slog.Any("chatrooms", c.Chatrooms),
		slog.String("start", c.Start.Format(time.RFC3339)),
		slog.String("end", end),
		slog.Duration("window", c.Window),
		slog.Int("window_messages", c.WindowMsgs),
		slog.Duration("settle", c.Settle),
		slog.Duration("lookback", c.Lookback),
		slog.Duration("poll_interval", c.PollInterval),
		slog.Int("page_size", c.PageSize),
		slog.Float64("rate_limit", c.RateLimit),
		slog.String("fetch_concurrency", concurrencyText(c)),
		slog.Any("kafka_brokers", c.KafkaBrokers),
		slog.String("kafka_topic", c.KafkaTopic),
		slog.String("kafka_dlq_topic", c.KafkaDLQTopic),
		slog.Bool("kafka_create_topic", c.KafkaCreateTopic),
		slog.Int("kafka_partitions", c.KafkaPartitions),
		slog.String("kafka_replication_factor", c.replicationShown()),
		slog.String("kafka_compression", c.KafkaCompression),
		slog.String("kafka_sasl_mechanism", c.KafkaSASLMechanism),
		slog.String("kafka_sasl_username", c.KafkaSASLUsername),
		slog.String("kafka_sasl_password", secret(c.KafkaSASLPassword)),
		slog.Bool("kafka_tls", c.KafkaTLS),
		slog.String("kafka_tls_ca_file", c.KafkaTLSCAFile),
		slog.Bool("kafka_tls_skip_verify", c.KafkaTLSSkipVerify),
		slog.Any("schema_registry_url", c.Registry.URLs),
		slog.String("schema_registry_username", c.Registry.Username),
		slog.String("schema_registry_password", secret(c.Registry.Password)),
		slog.String("schema_registry_bearer_token", secret(c.Registry.BearerToken)),
		slog.String("schema_registry_tls_ca_file", c.Registry.TLSCAFile),
		slog.String("schema_subject", c.Subject),
		slog.String("value_format", c.ValueFormat.String()),
		slog.String("checkpoint_path", c.CheckpointPath),
		slog.Duration("checkpoint_lock_timeout", c.CheckpointLock),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("log_level", c.LogLevel.String()),
		slog.Duration("progress_interval", c.ProgressEvery),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.String("callback_addr", c.CallbackAddr),
		slog.String("callback_path", c.CallbackPath),
		slog.Int("callback_max_body", c.CallbackMaxBody),
		slog.Duration("callback_read_timeout", c.CallbackReadTimeout),
		slog.Duration("callback_ack_timeout", c.CallbackAckTimeout),
	)
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
	var e env
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &e, Lookuper: lookup}); err != nil {
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
	c.AppKey = strings.TrimSpace(e.AppKey)
	if c.AppKey == "" {
		p.bad("IMREPORT_APP_KEY", "required")
	}
	c.MasterSecret = e.MasterSecret
	if strings.TrimSpace(c.MasterSecret) == "" {
		p.bad("IMREPORT_MASTER_SECRET", "required")
	}
	c.APIURL = strings.TrimRight(strings.TrimSpace(e.APIURL), "/")
	if !strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://") {
		p.bad("IMREPORT_API_URL", "%q is not an http(s) URL", e.APIURL)
	} else if strings.HasSuffix(c.APIURL, "/v1") || strings.HasSuffix(c.APIURL, "/v2") {
		p.bad("IMREPORT_API_URL", "%q must not include the version path", e.APIURL)
	}
	if loc, err := time.LoadLocation(strings.TrimSpace(e.APITimezone)); err != nil {
		p.bad("IMREPORT_API_TIMEZONE", "%q is not a time zone name like Asia/Shanghai", e.APITimezone)
	} else {
		c.Location = loc
	}
	p.dur("IMREPORT_API_TIMEOUT", e.APITimeout, &c.APITimeout, time.Second)
	p.integer("IMREPORT_API_MAX_ATTEMPTS", e.APIAttempts, &c.APIAttempts, 0, 1_000_000)
	c.APIVersion = strings.ToLower(strings.TrimSpace(e.APIVersion))
	if c.APIVersion != "v1" && c.APIVersion != "v2" {
		p.bad("IMREPORT_API_VERSION", "%q is not v1 or v2", e.APIVersion)
	}
}

// loadStreams reads the users, groups and chatrooms, each supported by the
// API version (needs c.APIVersion).
func (c *Config) loadStreams(e env, p *problems) {
	c.Users = p.ids("IMREPORT_USERS", "user name", e.Users)
	c.Groups = p.ids("IMREPORT_GROUPS", "group id", e.Groups)
	c.Chatrooms = p.ids("IMREPORT_CHATROOMS", "chatroom id", e.Chatrooms)
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
	if start, err := parseStart(e.Start, now); err != nil {
		p.bad("IMREPORT_START", "%v", err)
	} else {
		c.Start = start
	}
	if s := strings.TrimSpace(e.End); s != "" {
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
	p.dur("IMREPORT_WINDOW", e.Window, &c.Window, time.Second)
	p.dur("IMREPORT_SETTLE", e.Settle, &c.Settle, 0)
	p.dur("IMREPORT_LOOKBACK", e.Lookback, &c.Lookback, 0)
	p.dur("IMREPORT_POLL_INTERVAL", e.PollInterval, &c.PollInterval, 100*time.Millisecond)
	p.integer("IMREPORT_PAGE_SIZE", e.PageSize, &c.PageSize, 1, source.MaxPageSize)
	p.rate("IMREPORT_RATE_LIMIT", e.RateLimit, &c.RateLimit)
	p.integer("IMREPORT_WINDOW_MESSAGES", e.WindowMsgs, &c.WindowMsgs, 0, 10_000_000)
	if v := strings.TrimSpace(e.Concurrency); strings.EqualFold(v, "auto") {
		c.Concurrency, c.AutoFetch = autoFetchMost, true
	} else {
		p.integer("IMREPORT_FETCH_CONCURRENCY", e.Concurrency, &c.Concurrency, 1, 64)
	}
	p.rate("IMREPORT_AUDIT_RATE_LIMIT", e.AuditRate, &c.AuditRate)
}

// loadKafka reads the brokers, the topics and how they are created and
// written.
func (c *Config) loadKafka(e env, needKafka bool, p *problems) {
	c.KafkaBrokers = splitList(e.KafkaBrokers)
	if needKafka && len(c.KafkaBrokers) == 0 {
		p.bad("IMREPORT_KAFKA_BROKERS", "required: comma-separated host:port")
	}
	for _, b := range c.KafkaBrokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			p.bad("IMREPORT_KAFKA_BROKERS", "%q is not host:port", b)
		}
	}
	c.KafkaTopic = strings.TrimSpace(e.KafkaTopic)
	if !sink.ValidTopic(c.KafkaTopic) {
		p.bad("IMREPORT_KAFKA_TOPIC", "%q is not a valid topic name (1-249 of a-z A-Z 0-9 . _ -)", e.KafkaTopic)
	}
	c.KafkaDLQTopic = strings.TrimSpace(e.KafkaDLQTopic)
	if c.KafkaDLQTopic == "" {
		c.KafkaDLQTopic = c.KafkaTopic + ".dlq"
	}
	switch {
	case !sink.ValidTopic(c.KafkaDLQTopic):
		p.bad("IMREPORT_KAFKA_DLQ_TOPIC", "%q is not a valid topic name (1-249 of a-z A-Z 0-9 . _ -)", c.KafkaDLQTopic)
	case c.KafkaDLQTopic == c.KafkaTopic:
		p.bad("IMREPORT_KAFKA_DLQ_TOPIC", "must differ from IMREPORT_KAFKA_TOPIC")
	}
	p.boolean("IMREPORT_KAFKA_CREATE_TOPIC", e.KafkaCreateTopic, &c.KafkaCreateTopic)
	p.integer("IMREPORT_KAFKA_PARTITIONS", e.KafkaPartitions, &c.KafkaPartitions, 1, 10000)
	if !strings.EqualFold(strings.TrimSpace(e.KafkaReplication), "auto") {
		p.integer("IMREPORT_KAFKA_REPLICATION_FACTOR", e.KafkaReplication, &c.KafkaReplication, 1, 32)
	}
	c.KafkaCompression = strings.ToLower(strings.TrimSpace(e.KafkaCompression))
	switch c.KafkaCompression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		p.bad("IMREPORT_KAFKA_COMPRESSION", "%q is not one of none, gzip, snappy, lz4, zstd", e.KafkaCompression)
	}
}

// loadKafkaAuth reads Kafka's SASL and TLS settings.
func (c *Config) loadKafkaAuth(e env, p *problems) {
	c.KafkaSASLMechanism = strings.ToUpper(strings.TrimSpace(e.KafkaSASLMechanism))
	c.KafkaSASLUsername = e.KafkaSASLUsername
	c.KafkaSASLPassword = e.KafkaSASLPassword
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
		p.bad("IMREPORT_KAFKA_SASL_MECHANISM", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", e.KafkaSASLMechanism)
	}
	p.boolean("IMREPORT_KAFKA_TLS", e.KafkaTLS, &c.KafkaTLS)
	c.KafkaTLSCAFile = strings.TrimSpace(e.KafkaTLSCAFile)
	p.boolean("IMREPORT_KAFKA_TLS_SKIP_VERIFY", e.KafkaTLSSkipVerify, &c.KafkaTLSSkipVerify)
	if !c.KafkaTLS && (c.KafkaTLSCAFile != "" || c.KafkaTLSSkipVerify) {
		p.bad("IMREPORT_KAFKA_TLS", "TLS options are set but IMREPORT_KAFKA_TLS is false")
	}
}

// loadService reads the checkpoint, the HTTP server, the logs, progress
// and shutdown.
func (c *Config) loadService(e env, p *problems) {
	c.CheckpointPath = strings.TrimSpace(e.CheckpointPath)
	if c.CheckpointPath == "" {
		p.bad("IMREPORT_CHECKPOINT_PATH", "required")
	}
	p.dur("IMREPORT_CHECKPOINT_LOCK_TIMEOUT", e.CheckpointLock, &c.CheckpointLock, 10*time.Millisecond)
	c.HTTPAddr = strings.TrimSpace(e.HTTPAddr)
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			p.bad("IMREPORT_HTTP_ADDR", "%q is not [host]:port (empty disables the server)", e.HTTPAddr)
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(strings.TrimSpace(e.LogLevel))); err != nil {
		p.bad("IMREPORT_LOG_LEVEL", "%q is not one of debug, info, warn, error", e.LogLevel)
	}
	p.dur("IMREPORT_SHUTDOWN_TIMEOUT", e.ShutdownTimeout, &c.ShutdownTimeout, time.Second)
	p.dur("IMREPORT_PROGRESS_INTERVAL", e.ProgressEvery, &c.ProgressEvery, time.Second)
}

// loadCallback reads the message routing receiver's settings (needs
// c.HTTPAddr: the receiver has a listener of its own).
func (c *Config) loadCallback(e env, p *problems) {
	c.CallbackAddr = strings.TrimSpace(e.CallbackAddr)
	if c.CallbackAddr != "" {
		if _, port, err := net.SplitHostPort(c.CallbackAddr); err != nil {
			p.bad("IMREPORT_CALLBACK_ADDR", "%q is not [host]:port (empty disables the receiver)", e.CallbackAddr)
		} else if c.CallbackAddr == c.HTTPAddr && port != "0" {
			p.bad("IMREPORT_CALLBACK_ADDR", "must differ from IMREPORT_HTTP_ADDR (the receiver has its own listener)")
		}
	}
	c.CallbackPath = strings.TrimSpace(e.CallbackPath)
	if !strings.HasPrefix(c.CallbackPath, "/") || strings.ContainsAny(c.CallbackPath, " ?#{}") {
		p.bad("IMREPORT_CALLBACK_PATH", "%q must start with / and hold no space, ?, #, { or }", e.CallbackPath)
	}
	p.integer("IMREPORT_CALLBACK_MAX_BODY", e.CallbackMaxBody, &c.CallbackMaxBody, 4096, 64<<20)
	p.dur("IMREPORT_CALLBACK_READ_TIMEOUT", e.CallbackReadTimeout, &c.CallbackReadTimeout, 100*time.Millisecond)
	p.dur("IMREPORT_CALLBACK_ACK_TIMEOUT", e.CallbackAckTimeout, &c.CallbackAckTimeout, 100*time.Millisecond)
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
