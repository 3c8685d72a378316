package sink

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/imreport/imreport/internal/testkit"
)

// testTimeout bounds any single broker interaction in a test. It only
// protects against hangs; no assertion depends on it.
const testTimeout = 20 * time.Second

// newCluster starts an in-process kfake cluster on 127.0.0.1 with random
// ports and closes it when the test ends.
var newCluster = testkit.Kafka

// logBuffer is a concurrency-safe sink for the writer's slog output, so tests
// can assert on what was (not) logged.
type logBuffer struct{ testkit.Buffer }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// clusterWriter is a 1-broker cluster with a 3-partition topic and a
// writer of it.
func clusterWriter(t testing.TB, topic string) (*kfake.Cluster, *Writer) {
	t.Helper()
	c := newCluster(t, kfake.NumBrokers(1))
	return c, readyWriter(t, testConfig(c, topic), 3)
}

// testConfig is a Config for c with a topic of 3 partitions, replication
// factor 1, created on demand.
func testConfig(c *kfake.Cluster, topic string) Config {
	return Config{
		Brokers:           c.ListenAddrs(),
		Topic:             topic,
		AppKey:            "app-key-42",
		CreateTopic:       true,
		Partitions:        3,
		ReplicationFactor: 1,
		Logger:            slog.New(slog.DiscardHandler),
	}
}

// loggedConfig is testConfig(c, topic) logging into logs.
func loggedConfig(c *kfake.Cluster, topic string, logs *logBuffer) Config {
	cfg := testConfig(c, topic)
	cfg.Logger = logs.logger()
	return cfg
}

func newWriter(t testing.TB, cfg Config) *Writer {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// readyWriter returns a writer whose topic exists with want partitions.
func readyWriter(t testing.TB, cfg Config, want int) *Writer {
	t.Helper()
	w := newWriter(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	n, err := w.EnsureTopic(ctx)
	if err != nil {
		t.Fatalf("EnsureTopic: %v", err)
	}
	if n != want {
		t.Fatalf("EnsureTopic = %d partitions, want %d", n, want)
	}
	return w
}

func scanAll(t testing.TB, w *Writer) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var out []Message
	if err := w.Scan(ctx, func(m Message) error {
		out = append(out, m)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func publish(t testing.TB, w *Writer, recs []Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := w.Publish(ctx, recs); err != nil {
		t.Fatalf("Publish(%d records): %v", len(recs), err)
	}
}

// value builds a deterministic binary value for message id, with bytes that
// are not valid UTF-8 and a NUL, the way an Avro payload may look.
func value(id int64, size int) []byte {
	v := make([]byte, 0, size)
	v = append(v, 0xC3, 0x01, 0x00, 0xFF, 0xFE)
	v = strconv.AppendInt(v, id, 10)
	for len(v) < size {
		v = append(v, byte(id*31+int64(len(v))))
	}
	return v
}

// records returns n records spread over keys, with message ids from first.
func records(first int64, n int, keys []string, size int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		id := first + int64(i)
		recs[i] = Record{
			Key:     keys[i%len(keys)],
			Value:   value(id, size),
			MsgID:   id,
			MsgType: []string{"TIMTextElem", "TIMImageElem", "TIMCustomElem"}[i%3],
		}
	}
	return recs
}

func keyList(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("conv-%04d", i)
	}
	return keys
}

// murmur2 is a transcription of Kafka's org.apache.kafka.common.utils.
// Utils.murmur2 (Java ints become uint32; >>> becomes >>), written here
// independently of kafka-go's copy so the test checks one against the other.
func murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := length &^ 3
	switch length % 4 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// javaPartition is what the Java client's default partitioner picks for a
// non-null key: Utils.toPositive(Utils.murmur2(key)) % numPartitions.
func javaPartition(key []byte, numPartitions int) int {
	return int(murmur2(key)&0x7fffffff) % numPartitions
}

// produceError answers every partition of a Produce request with code,
// without writing anything. It counts the requests it answered in calls.
func produceError(code int16, calls *int, mu *sync.Mutex) func(kmsg.Request) (kmsg.Response, error, bool) {
	return func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				rp.BaseOffset = -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if mu != nil {
			mu.Lock()
			*calls++
			mu.Unlock()
		}
		return resp, nil, true
	}
}

// produced returns the record count per partition the cluster holds for
// topic (the high watermarks), independent of the writer's own Scan.
func produced(t testing.TB, c *kfake.Cluster, topic string) []int64 {
	t.Helper()
	var out []int64
	for _, pi := range c.PartitionInfos(topic) {
		out = append(out, pi.HighWatermark)
	}
	return out
}
