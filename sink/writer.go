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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/imreport/imreport/internal/retry"
)

// Config configures a Writer. Zero values mean the documented defaults.
type Config struct {
	Brokers  []string // host:port, at least one
	Topic    string   // required
	DLQTopic string   // dead-letter topic; "" = Topic + ".dlq"; must differ from Topic
	AppKey   string   // written in every record's app_key header

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

// Record is one message to publish.
type Record struct {
	// Key is the conversation id. For a dead letter it may be empty: the
	// decimal MsgID is used then.
	Key string
	// Value is the Avro record in single-object encoding or the Confluent
	// wire format (ContentType says which); for a dead letter, the vendor's
	// raw JSON of the message.
	Value   []byte
	MsgID   int64
	MsgType string // may be empty for a dead letter
	// Time is the event time (the message's msg_ctime), written as the
	// Kafka record's timestamp; zero = the time of publishing.
	Time time.Time
	// ContentType is written in the content-type header of a main-topic
	// record; "" = ContentType (single-object). A dead letter's is always
	// DeadLetterContentType.
	ContentType string
	// DeadLetter, if set, sends the record to the dead-letter topic instead
	// of the main topic; nil is a normal record.
	DeadLetter *DeadLetter

	// Topic, Partition and Offset are set by Publish on every record Kafka
	// acknowledged: where it landed. Ignored when publishing.
	Topic     string
	Partition int
	Offset    int64
}

// DeadLetter says why a message went to the dead-letter topic. Each field is
// written in a header (HeaderStage, HeaderError, HeaderStream,
// HeaderEndpoint), as given.
type DeadLetter struct {
	Stage    string // where it failed: "decode", "transform", "encode", ...
	Reason   string // the error text
	Stream   string // the stream it was fetched for, e.g. "messages"
	Endpoint string // the API endpoint it was fetched from
}

// Header names. HeaderMsgID, HeaderAppKey, HeaderMsgType and
// HeaderContentType are written on every record, the others on dead letters
// only.
const (
	HeaderMsgID       = "msgid"
	HeaderAppKey      = "app_key"
	HeaderMsgType     = "msg_type"
	HeaderContentType = "content-type"
	HeaderStage       = "imreport-stage"    // DeadLetter.Stage
	HeaderError       = "imreport-error"    // DeadLetter.Reason
	HeaderStream      = "imreport-stream"   // DeadLetter.Stream
	HeaderEndpoint    = "imreport-endpoint" // DeadLetter.Endpoint

	// ContentType says how the value of a main-topic record is encoded,
	// unless Record.ContentType says otherwise (schema.Encoder.ContentType).
	ContentType = "application/vnd.imreport.message.v1+avro; encoding=single-object"
	// DeadLetterContentType is the content type of a dead letter's value:
	// the vendor's JSON as received.
	DeadLetterContentType = "application/json"
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
	closed bool

	// partitionsOf is each topic's partition count as Marks last saw it;
	// Publish sizes kafka-go's batches by it (batchSize).
	partitionsOf sync.Map // topic -> int
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
		BatchBytes:      16 << 20,
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

// Publish writes recs and returns when all are acknowledged, or with a
// *WriteError naming the records that were not (indexes into recs). Records
// with DeadLetter set go to the dead-letter topic, the others to the main
// topic; the two groups are written concurrently. Every record Kafka
// acknowledged has its Topic, Partition and Offset set when Publish
// returns, whatever it returns.
//
// When Publish returns an error, no record of recs can land in Kafka any
// more: each one has landed already or never will (up to a broker that
// appends a request after its WriteTimeout expired; see the package
// documentation, "Fencing"). A read-back tells which landed.
func (w *Writer) Publish(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	var mainIdx, dlqIdx []int
	for i, r := range recs {
		if r.DeadLetter != nil {
			dlqIdx = append(dlqIdx, i)
		} else {
			mainIdx = append(mainIdx, i)
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return &WriteError{Failed: indexes(len(recs)), Errs: []error{ErrClosed}}
	}
	var mainErr, dlqErr *WriteError
	switch {
	case len(dlqIdx) == 0:
		mainErr = w.write(ctx, w.main, recs, mainIdx)
	case len(mainIdx) == 0:
		dlqErr = w.write(ctx, w.dlq, recs, dlqIdx)
	default:
		var wg sync.WaitGroup
		wg.Go(func() { dlqErr = w.write(ctx, w.dlq, recs, dlqIdx) })
		mainErr = w.write(ctx, w.main, recs, mainIdx)
		wg.Wait()
	}
	if mainErr == nil && dlqErr == nil {
		return nil
	}
	w.fence()
	switch {
	case dlqErr == nil:
		return mainErr
	case mainErr == nil:
		return dlqErr
	}
	return mergeErrors(mainErr, dlqErr)
}

// mergeErrors combines the errors of the two groups of one Publish: Failed
// ascending, and Errs aligned with it if both are record by record.
func mergeErrors(a, b *WriteError) *WriteError {
	type pair struct {
		i   int
		err error
	}
	if len(a.Errs) != len(a.Failed) || len(b.Errs) != len(b.Failed) {
		failed := slices.Concat(a.Failed, b.Failed)
		slices.Sort(failed)
		return &WriteError{Failed: failed, Errs: slices.Concat(a.Errs, b.Errs)}
	}
	pairs := make([]pair, 0, len(a.Failed)+len(b.Failed))
	for _, we := range []*WriteError{a, b} {
		for k, i := range we.Failed {
			pairs = append(pairs, pair{i, we.Errs[k]})
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int { return x.i - y.i })
	out := &WriteError{Failed: make([]int, len(pairs)), Errs: make([]error, len(pairs))}
	for k, p := range pairs {
		out.Failed[k], out.Errs[k] = p.i, p.err
	}
	return out
}

// write writes recs[i] for every i in idx with kw and returns nil or the
// failed ones, named by their index in recs.
func (w *Writer) write(ctx context.Context, kw *kafka.Writer, recs []Record, idx []int) *WriteError {
	msgs := make([]kafka.Message, len(idx))
	a := w.newArena(len(idx))
	for j, i := range idx {
		msgs[j] = w.messageIn(a, recs[i])
		msgs[j].WriterData = &recs[i] // landed fills in where it landed
	}
	// kafka-go reads BatchSize only in WriteMessages, in this goroutine
	// (under w.mu), and allocates every batch at that capacity.
	parts, _ := w.partitionsOf.Load(kw.Topic)
	n, _ := parts.(int)
	kw.BatchSize = batchSize(len(msgs), n)
	err := kw.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(msgs) {
		we := &WriteError{Errs: make([]error, 0, werrs.Count())}
		for j, e := range werrs {
			if e != nil {
				we.Failed = append(we.Failed, idx[j])
				we.Errs = append(we.Errs, e)
			}
		}
		if len(we.Failed) == 0 {
			return nil
		}
		return we
	}
	return &WriteError{Failed: slices.Clone(idx), Errs: []error{err}}
}

// landed is the kafka-go writers' Completion: it sets Topic, Partition and
// Offset of every acknowledged record. kafka-go calls it before
// WriteMessages returns (and Close waits for it), from the goroutine of
// each partition's batch: each call writes records no other call does.
func landed(msgs []kafka.Message, err error) {
	if err != nil {
		return
	}
	for i := range msgs {
		if r, ok := msgs[i].WriterData.(*Record); ok {
			r.Topic, r.Partition, r.Offset = msgs[i].Topic, msgs[i].Partition, msgs[i].Offset
		}
	}
}

// batchSize is the kafka-go BatchSize for a write of n records to a topic of
// partitions partitions (0 = unknown): twice a partition's even share and
// 16 more, so that a page still goes out as one batch per partition unless
// its keys crowd one partition (then the rest follows in another batch at
// once, BatchTimeout being a microsecond), instead of n: kafka-go allocates
// every batch at full capacity, and n per partition was most of the
// process's allocations.
func batchSize(n, partitions int) int {
	if partitions <= 0 {
		return max(n, 1)
	}
	return max(min(n, 2*((n+partitions-1)/partitions)+16), 1)
}

// arena holds the headers and small values of the messages of one write,
// allocated together: kafka-go only reads them, until the write returns.
type arena struct {
	headers []kafka.Header
	bytes   []byte
	appKey  []byte
	types   map[string][]byte // msg_type and content-type values, shared
}

// newArena returns an arena for n main-topic messages (a dead letter takes
// more headers; the arena grows).
func (w *Writer) newArena(n int) *arena {
	return &arena{headers: make([]kafka.Header, 0, 4*n), bytes: make([]byte, 0, 20*n),
		appKey: []byte(w.cfg.AppKey), types: map[string][]byte{}}
}

// take returns the next k headers of a.
func (a *arena) take(k int) []kafka.Header {
	if len(a.headers)+k > cap(a.headers) {
		a.headers = make([]kafka.Header, 0, max(k, 2*cap(a.headers)))
	}
	h := a.headers[len(a.headers) : len(a.headers)+k : len(a.headers)+k]
	a.headers = a.headers[:len(a.headers)+k]
	return h
}

// id returns msgid in decimal, in a.
func (a *arena) id(msgid int64) []byte {
	if len(a.bytes)+20 > cap(a.bytes) {
		a.bytes = make([]byte, 0, max(20, 2*cap(a.bytes)))
	}
	n := len(a.bytes)
	a.bytes = strconv.AppendInt(a.bytes, msgid, 10)
	return a.bytes[n:len(a.bytes):len(a.bytes)]
}

// shared returns s as bytes, one copy per distinct s in a.
func (a *arena) shared(s string) []byte {
	b, ok := a.types[s]
	if !ok {
		b = []byte(s)
		a.types[s] = b
	}
	return b
}

// messageIn builds the Kafka message of r with its headers in a.
func (w *Writer) messageIn(a *arena, r Record) kafka.Message {
	id := a.id(r.MsgID)
	if r.DeadLetter == nil {
		ct := r.ContentType
		if ct == "" {
			ct = ContentType
		}
		h := a.take(4)
		h[0] = kafka.Header{Key: HeaderMsgID, Value: id}
		h[1] = kafka.Header{Key: HeaderAppKey, Value: a.appKey}
		h[2] = kafka.Header{Key: HeaderMsgType, Value: a.shared(r.MsgType)}
		h[3] = kafka.Header{Key: HeaderContentType, Value: a.shared(ct)}
		return kafka.Message{Key: []byte(r.Key), Value: r.Value, Time: r.Time, Headers: h}
	}
	key := []byte(r.Key)
	if len(key) == 0 {
		key = id
	}
	dl := r.DeadLetter
	h := a.take(8)
	h[0] = kafka.Header{Key: HeaderMsgID, Value: id}
	h[1] = kafka.Header{Key: HeaderAppKey, Value: a.appKey}
	h[2] = kafka.Header{Key: HeaderMsgType, Value: []byte(r.MsgType)}
	h[3] = kafka.Header{Key: HeaderContentType, Value: []byte(DeadLetterContentType)}
	h[4] = kafka.Header{Key: HeaderStage, Value: []byte(dl.Stage)}
	h[5] = kafka.Header{Key: HeaderError, Value: []byte(dl.Reason)}
	h[6] = kafka.Header{Key: HeaderStream, Value: []byte(dl.Stream)}
	h[7] = kafka.Header{Key: HeaderEndpoint, Value: []byte(dl.Endpoint)}
	return kafka.Message{Key: key, Value: r.Value, Time: r.Time, Headers: h}
}

// fence closes both kafka-go writers, which waits until every batch they
// hold has been written or has failed for good, and replaces them with
// fresh ones. Called with w.mu held, after a failed WriteMessages.
//
// kafka-go v0.4.51 makes this sound (file:line in its module directory):
//   - WriteMessages returns ctx.Err() as soon as its context ends, without
//     waiting for its batches (writer.go:671-676), and documents that the
//     messages "might also still be written after this method has already
//     returned" (writer.go:601-608).
//   - The produce request of a batch does not use the caller's context: it
//     runs under context.Background() with WriteTimeout (writer.go:727-741),
//     retried up to MaxAttempts with backoff (writer.go:1110-1164).
//   - Every partition writer goroutine and every batch timer goroutine is
//     started with spawn, which counts it in the writer's WaitGroup
//     (writer.go:543-549; newPartitionWriter writer.go:1001-1009,
//     newWriteBatch writer.go:1066-1070), and so is every WriteMessages call
//     (enter/leave, writer.go:524-536).
//   - Close (writer.go:555-580) marks the writer closed, hands each
//     partition's pending batch to its queue and closes the queue
//     (partitionWriter.close, writer.go:1187-1199); the partition goroutine
//     drains the queue, writing every batch to completion (writeBatches,
//     writer.go:1011-1024); Close then waits on the WaitGroup
//     (writer.go:573).
//
// So when Close returns, no batch of this writer is pending or in flight:
// each has been acknowledged or has failed its last attempt, and kafka-go no
// longer reads the messages' byte slices. Each attempt ends within
// WriteTimeout (the connection deadline is the request context's,
// transport.go:1273-1281), which bounds the wait.
func (w *Writer) fence() {
	start := time.Now()
	bound := w.fenceBound()
	slow := time.AfterFunc(5*time.Second, func() {
		w.cfg.Logger.Warn("kafka write failed; waiting for its produce requests in flight to finish before retrying",
			"bound_per_batch", bound)
	})
	var wg sync.WaitGroup
	for _, kw := range []*kafka.Writer{w.main, w.dlq} {
		wg.Go(func() { _ = kw.Close() }) // kafka-go's Writer.Close always returns nil
	}
	wg.Wait()
	slow.Stop()
	// Pooled connections may lead to a broker that went away: without this
	// the first write after it returns fails once more on a dead socket.
	w.transport.CloseIdleConnections()
	w.main, w.dlq = w.newKafkaWriter(w.cfg.Topic), w.newKafkaWriter(w.cfg.DLQTopic)
	w.cfg.Logger.Debug("kafka writers fenced after a failed write", "waited", time.Since(start).Round(time.Millisecond))
}

// fenceBound is the longest one batch can keep a partition writer busy:
// writeAttempts requests of WriteTimeout each, plus kafka-go's backoff
// between them (attempt^2 x WriteBackoffMin, capped at WriteBackoffMax).
func (w *Writer) fenceBound() time.Duration {
	d := writeAttempts * w.cfg.WriteTimeout
	for a := 1; a < writeAttempts; a++ {
		d += min(time.Duration(a*a)*100*time.Millisecond, time.Second)
	}
	return d
}

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
	wg.Wait()
	w.transport.CloseIdleConnections()
	return nil
}

// indexes returns 0, 1, ..., n-1.
func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// WriteError is returned by Publish when some or all records were not
// acknowledged. Failed holds their indexes in the slice passed to Publish,
// ascending. Errs holds the causes: one per failed record (in Failed's
// order) when kafka-go reported record by record, or one for each group
// (main, dead-letter) that failed as a whole; so len(Errs) may be less than
// len(Failed).
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
