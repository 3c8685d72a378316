package sink

import (
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
)

// Config configures a Writer. Zero values mean the documented defaults.
type Config struct {
	Brokers  []string // host:port, at least one
	Topic    string   // required
	DLQTopic string   // dead-letter topic; "" = Topic + ".dlq"; must differ from Topic
	// StateTopic is the compacted topic of the pipeline's snapshots; "" =
	// Topic + ".state"; must differ from Topic and DLQTopic.
	StateTopic string
	AppKey     string // written in every record's app_key header

	Compression       string // none, gzip, snappy, lz4, zstd; "" = snappy
	CreateTopic       bool   // create the main and dead-letter topics if they do not exist
	Partitions        int    // for a created topic (main or dead-letter); 0 = 6
	ReplicationFactor int    // for a created topic (main or dead-letter); 0 = the cluster's default (see EnsureTopic)
	// BatchTimeout is how long kafka-go waits for more records to join a
	// partition's batch; 0 = 1µs. A Publish hands over all its records at
	// once and no other runs until it returns, so nothing could join:
	// waiting only delays every page.
	BatchTimeout time.Duration
	// WriteTimeout bounds one produce request (and one metadata request of
	// the writer); 0 = 10s. It also bounds how long a failed Publish waits
	// for its requests in flight before it returns: at most one attempt
	// (writeAttempts) of WriteTimeout per batch queued on a partition (one
	// batch per partition for a page-sized Publish), 10s with the default.
	// See the package documentation, "Fencing".
	WriteTimeout time.Duration
	// ReadTimeout is the budget of every Kafka read (read-back, Marks'
	// end offsets, Scan, Consume): one fetch may take this long to be
	// answered, and a bounded read that makes no progress for this long
	// fails with a temporary error; 0 = 30s. A far or slow broker only makes
	// reads slower: nothing else limits how long an answer may take (see
	// the package documentation, "Reading").
	ReadTimeout time.Duration

	SASLMechanism string // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUsername  string
	SASLPassword  string // never logged
	TLS           bool
	TLSCAFile     string // PEM bundle; "" = system roots
	TLSSkipVerify bool

	Logger *slog.Logger
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
