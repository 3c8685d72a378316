package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/imreport/imreport/retry"
)

// Config configures a Writer. Zero values mean the documented defaults.
type Config struct {
	Brokers []string // host:port, at least one
	Topic   string   // required
	AppKey  string   // written in every record's app_key header

	Compression       string        // none, gzip, snappy, lz4, zstd; "" = snappy
	CreateTopic       bool          // create the topic if it does not exist
	Partitions        int           // for a created topic; 0 = 6
	ReplicationFactor int           // for a created topic; 0 = 3
	BatchTimeout      time.Duration // 0 = 1ms: Publish hands over whole pages, so a batch is full at once
	WriteTimeout      time.Duration // per produce request; 0 = 30s

	SASLMechanism string // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUsername  string
	SASLPassword  string // never logged
	TLS           bool
	TLSCAFile     string // PEM bundle; "" = system roots
	TLSSkipVerify bool

	Logger *slog.Logger
}

// Record is one message to publish.
type Record struct {
	Key     string // conversation id
	Value   []byte // Avro single-object encoding
	MsgID   int64
	MsgType string
}

// Header names written on every record.
const (
	HeaderMsgID       = "msgid"
	HeaderAppKey      = "app_key"
	HeaderMsgType     = "msg_type"
	HeaderContentType = "content-type"
	// ContentType says how the value is encoded.
	ContentType = "application/vnd.imreport.message.v1+avro; encoding=single-object"
)

// Writer publishes records to one topic.
type Writer struct {
	cfg       Config
	w         *kafka.Writer
	transport *kafka.Transport
}

// New checks cfg and returns a Writer. It does not connect.
func New(cfg Config) (*Writer, error) {
	var problems []error
	if len(cfg.Brokers) == 0 {
		problems = append(problems, errors.New("no brokers"))
	}
	for _, b := range cfg.Brokers {
		if !hostPort(b) {
			problems = append(problems, fmt.Errorf("broker %q is not host:port", b))
		}
	}
	if cfg.Topic == "" {
		problems = append(problems, errors.New("topic is empty"))
	}
	codec, err := compression(cfg.Compression)
	if err != nil {
		problems = append(problems, err)
	}
	mech, err := mechanism(cfg)
	if err != nil {
		problems = append(problems, err)
	}
	tlsConfig, err := tlsConfig(cfg)
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("kafka writer: %w", errors.Join(problems...))
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 6
	}
	if cfg.ReplicationFactor == 0 {
		cfg.ReplicationFactor = 3
	}
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = time.Millisecond
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	transport := &kafka.Transport{
		DialTimeout: 10 * time.Second,
		SASL:        mech,
		TLS:         tlsConfig,
		ClientID:    "imreport",
		IdleTimeout: 30 * time.Second,
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		Async:        false,
		BatchSize:    10000,
		BatchBytes:   16 << 20,
		BatchTimeout: cfg.BatchTimeout,
		WriteTimeout: cfg.WriteTimeout,
		ReadTimeout:  cfg.WriteTimeout,
		// A few quick attempts inside kafka-go; the pipeline retries longer
		// outages itself and keeps track of what was acknowledged.
		MaxAttempts:     3,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: time.Second,
		Compression:     codec,
		Transport:       transport,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Logger.Warn("kafka writer", "detail", fmt.Sprintf(msg, args...))
		}),
	}
	return &Writer{cfg: cfg, w: w, transport: transport}, nil
}

// Topic returns the topic the writer publishes to.
func (w *Writer) Topic() string { return w.cfg.Topic }

// Publish writes recs and returns when all are acknowledged, or with a
// *WriteError naming the records that were not.
func (w *Writer) Publish(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{
			Key:   []byte(r.Key),
			Value: r.Value,
			Headers: []kafka.Header{
				{Key: HeaderMsgID, Value: strconv.AppendInt(nil, r.MsgID, 10)},
				{Key: HeaderAppKey, Value: []byte(w.cfg.AppKey)},
				{Key: HeaderMsgType, Value: []byte(r.MsgType)},
				{Key: HeaderContentType, Value: []byte(ContentType)},
			},
		}
	}
	err := w.w.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(recs) {
		we := &WriteError{Errs: make([]error, 0, werrs.Count())}
		for i, e := range werrs {
			if e != nil {
				we.Failed = append(we.Failed, i)
				we.Errs = append(we.Errs, e)
			}
		}
		if len(we.Failed) == 0 {
			return nil
		}
		return we
	}
	all := make([]int, len(recs))
	for i := range all {
		all[i] = i
	}
	return &WriteError{Failed: all, Errs: []error{err}}
}

// Close flushes and closes the writer.
func (w *Writer) Close() error {
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("kafka writer close: %w", err)
	}
	return nil
}

// WriteError is returned by Publish when some or all records were not
// acknowledged. Failed holds their indexes in the slice passed to Publish.
type WriteError struct {
	Failed []int
	Errs   []error
}

func (e *WriteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kafka write: %d record(s) failed", len(e.Failed))
	seen := map[string]bool{}
	for _, err := range e.Errs {
		if s := err.Error(); !seen[s] && len(seen) < 3 {
			seen[s] = true
			b.WriteString(": " + s)
		}
	}
	return b.String()
}

// Unwrap returns the causes: one per failed record, or the one error of the
// whole call.
func (e *WriteError) Unwrap() []error { return e.Errs }

// Temporary reports whether every failure may succeed on retry.
func (e *WriteError) Temporary() bool {
	for _, err := range e.Errs {
		if !retry.Temporary(err) {
			return false
		}
	}
	return true
}

// hostPort reports whether b is host:port with a numeric port in 1-65535, as
// a Kafka broker address always is. (An empty host dials the local system.)
func hostPort(b string) bool {
	_, port, err := net.SplitHostPort(b)
	if err != nil {
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n > 0
}

func compression(name string) (kafka.Compression, error) {
	switch strings.ToLower(name) {
	case "", "snappy":
		return kafka.Snappy, nil
	case "none":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("compression %q is not one of none, gzip, snappy, lz4, zstd", name)
}

func mechanism(cfg Config) (sasl.Mechanism, error) {
	switch strings.ToUpper(cfg.SASLMechanism) {
	case "":
		return nil, nil
	case "PLAIN":
		if cfg.SASLUsername == "" {
			return nil, errors.New("SASL PLAIN needs a username")
		}
		return plain.Mechanism{Username: cfg.SASLUsername, Password: cfg.SASLPassword}, nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		if cfg.SASLUsername == "" {
			return nil, fmt.Errorf("SASL %s needs a username", cfg.SASLMechanism)
		}
		algo := scram.SHA256
		if strings.HasSuffix(strings.ToUpper(cfg.SASLMechanism), "512") {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, cfg.SASLUsername, cfg.SASLPassword)
		if err != nil {
			// The scram library quotes the offending string, which may be
			// the password: never pass its message on.
			return nil, fmt.Errorf("SASL %s: the username or password has a character SASLprep prohibits (a control or unassigned character)", cfg.SASLMechanism)
		}
		return m, nil
	}
	return nil, fmt.Errorf("SASL mechanism %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", cfg.SASLMechanism)
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	if !cfg.TLS {
		if cfg.TLSCAFile != "" || cfg.TLSSkipVerify {
			return nil, errors.New("TLS options are set but TLS is off")
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TLSSkipVerify} //nolint:gosec // operator's explicit choice
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA file %s holds no PEM certificate", cfg.TLSCAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}
