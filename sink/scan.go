package sink

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// Message is one record read back from the topic.
type Message struct {
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
	Time      time.Time
	// HighWatermark is the partition's end offset as the read that
	// returned the record saw it (Consume: how far behind the record is).
	HighWatermark int64
}

// Scan reads every partition of the main topic from its first offset to the
// end offset it has when Scan starts, calling fn for each record in
// partition order. It is used by the demo, tests and operators' checks.
func (w *Writer) Scan(ctx context.Context, fn func(Message) error) error {
	offs, err := w.listOffsets(ctx, w.client(), true, w.cfg.Topic)
	if err != nil {
		return fmt.Errorf("kafka scan: %w", err)
	}
	// kafka-go returns the partitions in map order; Scan promises partition order.
	offsets := offs[w.cfg.Topic]
	slices.SortFunc(offsets, func(a, b kafka.PartitionOffsets) int { return cmp.Compare(a.Partition, b.Partition) })
	reads, release := w.readClient()
	defer release()
	for _, po := range offsets {
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		err := w.readPartition(ctx, reads, w.cfg.Topic, po.Partition, po.FirstOffset, po.LastOffset, func(m kafka.Message) error {
			h := make(map[string]string, len(m.Headers))
			for _, kv := range m.Headers {
				h[kv.Key] = string(kv.Value)
			}
			return fn(Message{Partition: po.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: h, Time: m.Time})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// listOffsets returns the end offset (high watermark), and with first also
// the first offset, of every partition of topics, in one metadata and one
// ListOffsets request. Every partition is present and without error.
//
// The partition counts come from client's transport, which caches metadata
// (kafka-go refreshes it every 6s): through w.client() they are those the
// writer itself partitions by.
func (w *Writer) listOffsets(ctx context.Context, client *kafka.Client, first bool, topics ...string) (map[string][]kafka.PartitionOffsets, error) {
	counts, err := w.partitionCounts(ctx, client, topics...)
	if err != nil {
		return nil, err
	}
	reqs := make(map[string][]kafka.OffsetRequest, len(topics))
	for _, t := range topics {
		for p := range counts[t] {
			if first {
				reqs[t] = append(reqs[t], kafka.FirstOffsetOf(p))
			}
			reqs[t] = append(reqs[t], kafka.LastOffsetOf(p))
		}
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	out := make(map[string][]kafka.PartitionOffsets, len(topics))
	for _, t := range topics {
		offsets := resp.Topics[t]
		if len(offsets) != counts[t] {
			return nil, fmt.Errorf("list offsets: topic %q: %d of %d partitions answered", t, len(offsets), counts[t])
		}
		for _, po := range offsets {
			if po.Error != nil {
				return nil, fmt.Errorf("list offsets: topic %q partition %d: %w", t, po.Partition, offsetError{po.Error})
			}
			if po.LastOffset < 0 || (first && po.FirstOffset < 0) {
				return nil, fmt.Errorf("list offsets: topic %q partition %d: offsets %d..%d", t, po.Partition, po.FirstOffset, po.LastOffset)
			}
		}
		out[t] = offsets
	}
	return out, nil
}

// offsetError is a partition's error in a ListOffsets answer. kafka-go
// splits the request by partition and, when some sub-requests fail on the
// network and others do not, reports the failed partitions with code -1
// (kafka.Unknown) instead of the network error (protocol/listoffsets,
// Response.Merge): that is a broker that could not be reached, so temporary.
// Any other code keeps kafka-go's classification.
type offsetError struct{ err error }

func (e offsetError) Error() string { return e.err.Error() }
func (e offsetError) Unwrap() error { return e.err }
func (e offsetError) Temporary() bool {
	if e.err == kafka.Unknown {
		return true
	}
	t, ok := e.err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}
