package sink

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/imreport/imreport/internal/retry"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type marksT = map[string]map[int]int64

// produceHold holds the first produce request the cluster receives (inside
// the broker, before it is handled) until release; later requests pass.
type produceHold struct {
	arrived  chan struct{}
	released chan struct{}
	once     sync.Once
}

func holdFirstProduce(c *kfake.Cluster) *produceHold {
	h := &produceHold{arrived: make(chan struct{}), released: make(chan struct{})}
	var first atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		// While the first request sleeps, later produce requests run this
		// same function (kfake keeps it current): let them through.
		if !first.CompareAndSwap(false, true) {
			return nil, nil, false
		}
		c.DropControl()
		close(h.arrived)
		c.SleepControl(func() { <-h.released })
		return nil, nil, false // the broker then handles it as usual
	})
	return h
}

func (h *produceHold) waitArrived(t testing.TB) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(testTimeout):
		t.Fatal("produce request never reached the broker")
	}
}

func (h *produceHold) release() { h.once.Do(func() { close(h.released) }) }

// publishCancelledWhileHeld runs Publish(recs) with a context it cancels once
// the broker holds the produce request; it checks that Publish does not
// return while the request is held (fencing), releases it, and returns
// Publish's error.
func publishCancelledWhileHeld(t testing.TB, w *Writer, h *produceHold, recs []Record) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Publish(ctx, recs) }()
	h.waitArrived(t)
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Publish returned (%v) while its produce request was still in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	// The held request is handled only now, after the cancellation.
	h.release()
	select {
	case err := <-done:
		return err
	case <-time.After(testTimeout):
		t.Fatal("Publish did not return after its context was canceled")
		return nil
	}
}

// countRequests counts the requests of key the cluster receives, without
// handling them.
func countRequests(c *kfake.Cluster, key kmsg.Key) *atomic.Int64 {
	var n atomic.Int64
	c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		n.Add(1)
		return nil, nil, false
	})
	return &n
}

// hwm returns the cluster's high watermarks of topic by partition, read
// from kfake directly.
func hwm(t testing.TB, c *kfake.Cluster, topic string) map[int]int64 {
	t.Helper()
	out := map[int]int64{}
	for p, v := range produced(t, c, topic) {
		out[p] = v
	}
	return out
}

func mustMarks(t testing.TB, w *Writer) marksT {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	m, err := w.Marks(ctx, time.Time{})
	if err != nil {
		t.Fatalf("Marks: %v", err)
	}
	return m
}

func readBack(t testing.TB, w *Writer, from marksT) ([]Found, marksT) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var out []Found
	ends, err := w.ReadBack(ctx, from, func(f Found) error {
		out = append(out, f)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadBack: %v", err)
	}
	return out, ends
}

// scanTopic reads every record of topic, any partition order.
func scanTopic(t testing.TB, w *Writer, topic string) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	offs, err := w.listOffsets(ctx, w.client(), true, topic)
	if err != nil {
		t.Fatalf("listOffsets(%s): %v", topic, err)
	}
	var out []Message
	reads, release := w.readClient()
	defer release()
	for _, po := range offs[topic] {
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		if err := w.readPartition(ctx, reads, topic, po.Partition, po.FirstOffset, po.LastOffset, func(m kafka.Message) error {
			h := map[string]string{}
			for _, kv := range m.Headers {
				h[kv.Key] = string(kv.Value)
			}
			out = append(out, Message{Partition: po.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: h, Time: m.Time})
			return nil
		}); err != nil {
			t.Fatalf("read %s/%d: %v", topic, po.Partition, err)
		}
	}
	return out
}

// deadLetters returns n dead-letter records with msgids from first; every
// third has no key, every second no msg_type.
func deadLetters(first int64, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		id := first + int64(i)
		r := Record{
			Value: []byte(`{"msgid":` + itoa(id) + `,"msg_body":{"text":"bad \u0000 ü"}}`),
			MsgID: id,
			DeadLetter: &DeadLetter{
				Stage: []string{"decode", "transform", "encode"}[i%3], Reason: "reason " + itoa(id),
				Stream: "users/ü" + itoa(int64(i%2)), Endpoint: "/v1/messages",
			},
		}
		if i%3 != 0 {
			r.Key = "conv-dl-" + itoa(int64(i%4))
		}
		if i%2 != 0 {
			r.MsgType = "text"
		}
		out[i] = r
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func retryTemporary(err error) bool { return retry.Temporary(err) }
