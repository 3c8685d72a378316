package sink

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// ErrClosed is the cause in the *WriteError of a Publish after Close. It is
// not temporary.
var ErrClosed = errors.New("kafka writer closed")

// writeAttempts is kafka-go's MaxAttempts: one. kafka-go retries a
// timed-out produce request blindly, and the first attempt may still land
// (a duplicate nothing can detect). With one attempt every failure reaches
// the pipeline, which fences the writer, reads back what landed and writes
// only the rest; it also retries longer outages with its own backoff.
const writeAttempts = 1

// maxBatchBytes bounds the records (uncompressed, as kafka-go counts them)
// of one produce request to a partition: 900 KiB, so that a batch stays
// within Kafka's default message.max.bytes (1 MiB) with the record batch's
// own overhead, even uncompressed. A write of many pages goes out as
// several batches per partition, one after another; a single record larger
// than this is refused before anything is sent (MessageSizeTooLarge).
const maxBatchBytes = 900 << 10

// Writer publishes records to a main topic and a dead-letter topic, and
// reads them back.
//
// Concurrent Publish calls are serialised (the pipeline makes one at a
// time). Marks, ReadBack, Scan, EnsureTopic and the accessors may be called
// from any goroutine at any time (they do not use the kafka.Writers). Close
// waits for a Publish in progress.
type Writer struct {
	cfg       Config
	transport *kafka.Transport
	addr      net.Addr
	codec     kafka.Compression

	// mu guards the kafka.Writers, which a failed Publish replaces, and
	// closed.
	mu     sync.Mutex
	main   *kafka.Writer
	dlq    *kafka.Writer
	state  *kafka.Writer // made on the first PutState
	closed bool

	// partitionsOf is each topic's partition count as Marks last saw it;
	// Publish sizes kafka-go's batches by it (batchSize).
	partitionsOf sync.Map // topic -> int
	// created holds the topics EnsureTopic created (CreatedTopics).
	created sync.Map // topic -> struct{}
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
	if cfg.DLQTopic == "" && cfg.Topic != "" {
		cfg.DLQTopic = cfg.Topic + ".dlq"
	}
	if cfg.StateTopic == "" && cfg.Topic != "" {
		cfg.StateTopic = cfg.Topic + ".state"
	}
	if cfg.StateTopic != "" && (cfg.StateTopic == cfg.Topic || cfg.StateTopic == cfg.DLQTopic) {
		problems = append(problems, fmt.Errorf("state topic %q is the main or the dead-letter topic", cfg.StateTopic))
	}
	if cfg.DLQTopic != "" && cfg.DLQTopic == cfg.Topic {
		problems = append(problems, fmt.Errorf("dead-letter topic %q is the main topic", cfg.DLQTopic))
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
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = time.Microsecond
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
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
	w := &Writer{cfg: cfg, transport: transport, addr: kafka.TCP(cfg.Brokers...), codec: codec}
	w.main, w.dlq = w.newKafkaWriter(cfg.Topic), w.newKafkaWriter(cfg.DLQTopic)
	return w, nil
}

// newKafkaWriter returns a kafka-go writer for topic over the shared
// transport. It does not connect.
func (w *Writer) newKafkaWriter(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         w.addr,
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		Async:        false,
		// kafka-go allocates a batch's message slice at BatchSize up
		// front, per partition and write; write sets it for each Publish
		// (batchSize).
		BatchSize:       1000,
		BatchBytes:      maxBatchBytes,
		BatchTimeout:    w.cfg.BatchTimeout,
		WriteTimeout:    w.cfg.WriteTimeout,
		ReadTimeout:     w.cfg.WriteTimeout,
		MaxAttempts:     writeAttempts,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: time.Second,
		Compression:     w.codec,
		Transport:       w.transport,
		Completion:      landed,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			w.cfg.Logger.Warn("kafka writer", "detail", fmt.Sprintf(msg, args...))
		}),
	}
}

// Topic returns the topic the writer publishes to.
func (w *Writer) Topic() string { return w.cfg.Topic }

// DLQTopic returns the dead-letter topic.
func (w *Writer) DLQTopic() string { return w.cfg.DLQTopic }

// Close waits for a Publish in progress, closes the writers and releases
// the transport's idle connections. Publish fails with ErrClosed
// afterwards; Marks, ReadBack and Scan keep working. Calling Close again
// returns nil.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	var wg sync.WaitGroup
	for _, kw := range []*kafka.Writer{w.main, w.dlq} {
		wg.Go(func() { _ = kw.Close() })
	}
	w.closeState(&wg)
	wg.Wait()
	w.transport.CloseIdleConnections()
	return nil
}
