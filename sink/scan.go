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
}

// Scan reads every partition of the topic from its first offset to the end
// offset it has when Scan starts, calling fn for each record in partition
// order. It is used by the demo, tests and operators' checks.
func (w *Writer) Scan(ctx context.Context, fn func(Message) error) error {
	client := &kafka.Client{Addr: w.w.Addr, Transport: w.transport, Timeout: 30 * time.Second}
	n, err := w.partitions(ctx, client)
	if err != nil {
		return fmt.Errorf("kafka scan: %w", err)
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*n)
	for p := range n {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{w.cfg.Topic: reqs}})
	if err != nil {
		return fmt.Errorf("kafka scan: list offsets: %w", err)
	}
	// kafka-go returns the partitions in map order; Scan promises partition order.
	offsets := resp.Topics[w.cfg.Topic]
	slices.SortFunc(offsets, func(a, b kafka.PartitionOffsets) int { return cmp.Compare(a.Partition, b.Partition) })
	for _, po := range offsets {
		if po.Error != nil {
			return fmt.Errorf("kafka scan: partition %d offsets: %w", po.Partition, po.Error)
		}
		if po.LastOffset <= po.FirstOffset {
			continue
		}
		if err := w.scanPartition(ctx, po.Partition, po.FirstOffset, po.LastOffset, fn); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) scanPartition(ctx context.Context, partition int, first, end int64, fn func(Message) error) error {
	dialer := &kafka.Dialer{Timeout: 10 * time.Second, SASLMechanism: w.transport.SASL, TLS: w.transport.TLS, ClientID: "imreport-scan"}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   w.cfg.Brokers,
		Topic:     w.cfg.Topic,
		Partition: partition,
		Dialer:    dialer,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   200 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return fmt.Errorf("kafka scan: partition %d: %w", partition, err)
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("kafka scan: partition %d at offset %d: %w", partition, r.Offset(), err)
		}
		h := make(map[string]string, len(m.Headers))
		for _, kv := range m.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if err := fn(Message{Partition: partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: h, Time: m.Time}); err != nil {
			return err
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}
