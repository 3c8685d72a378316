package sink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// Where Consume starts in each partition.
type Start int

const (
	FromEnd       Start = iota // the end offset when Consume starts: only records written later
	FromBeginning              // the first offset still kept
	FromOffset                 // ConsumeOptions.Offset
)

// ConsumeOptions says what Consume reads. The zero value reads every
// partition from its end and stops at once (nothing to read): set Follow or
// another Start.
type ConsumeOptions struct {
	Topic     string // "" = the main topic
	Partition int    // -1 = every partition
	Start     Start
	Offset    int64 // with FromOffset: the first offset read in each partition read
	Count     int   // stop after this many records; 0 = no limit
	// Follow keeps waiting for new records until ctx ends or Count is
	// reached; without it each partition is read up to its end offset as
	// listed when Consume starts.
	Follow bool
	// Planned, if set, is called once before the first record with the
	// number of records the read will pass to fn when it does not follow
	// (up to the end offsets listed at the start, capped by Count); -1 when
	// following. Progress bars use it.
	Planned func(records int64)
}

// ErrOffsetOutOfRange is returned (wrapped) by Consume when a FromOffset
// offset is below a partition's first offset or beyond its end.
var ErrOffsetOutOfRange = errors.New("offset out of range")

// Consume reads records as opts says and calls fn for each, never
// concurrently: in offset order within a partition, partitions
// interleaved. It returns nil when every partition is read to its end (not
// following), when Count records were passed to fn, or when ctx ends while
// following; fn's error stops it and is returned as is.
func (w *Writer) Consume(ctx context.Context, opts ConsumeOptions, fn func(Message) error) error {
	topic := cmp.Or(opts.Topic, w.cfg.Topic)
	offs, err := w.listOffsets(ctx, w.client(), true, topic)
	if err != nil {
		return fmt.Errorf("kafka consume: %w", err)
	}
	parts := offs[topic]
	slices.SortFunc(parts, func(a, b kafka.PartitionOffsets) int { return cmp.Compare(a.Partition, b.Partition) })
	if opts.Partition >= 0 {
		parts = slices.DeleteFunc(parts, func(po kafka.PartitionOffsets) bool { return po.Partition != opts.Partition })
		if len(parts) == 0 {
			return fmt.Errorf("kafka consume: topic %q has no partition %d", topic, opts.Partition)
		}
	}
	type span struct {
		partition  int
		start, end int64
	}
	var spans []span
	for _, po := range parts {
		sp := span{partition: po.Partition, start: po.LastOffset, end: po.LastOffset}
		switch opts.Start {
		case FromBeginning:
			sp.start = po.FirstOffset
		case FromOffset:
			if opts.Offset < po.FirstOffset || opts.Offset > po.LastOffset {
				return fmt.Errorf("kafka consume: topic %q partition %d: %w: %d is outside %d..%d", topic, po.Partition, ErrOffsetOutOfRange, opts.Offset, po.FirstOffset, po.LastOffset)
			}
			sp.start = opts.Offset
		}
		if opts.Follow || sp.start < sp.end {
			spans = append(spans, sp)
		}
	}

	if opts.Planned != nil {
		planned := int64(-1)
		if !opts.Follow {
			planned = 0
			for _, sp := range spans {
				planned += sp.end - sp.start
			}
			if opts.Count > 0 {
				planned = min(planned, int64(opts.Count))
			}
		}
		opts.Planned(planned)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan Message)
	reads, release := w.readClient()
	defer release()
	g, gctx := errgroup.WithContext(ctx)
	for _, sp := range spans {
		g.Go(func() error {
			return w.consumePartition(gctx, reads, topic, sp.partition, sp.start, sp.end, opts.Follow, msgs)
		})
	}
	go func() {
		_ = g.Wait()
		close(msgs)
	}()
	n := 0
	for m := range msgs {
		if err := fn(m); err != nil {
			cancel()
			_ = g.Wait()
			return err
		}
		if n++; opts.Count > 0 && n >= opts.Count {
			cancel()
			_ = g.Wait()
			return nil
		}
	}
	if err := g.Wait(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("kafka consume: %w", err)
	}
	return nil
}

// consumePartition sends the records of one partition from start to msgs:
// up to end, or, following, until ctx ends.
func (w *Writer) consumePartition(ctx context.Context, reads *kafka.Client, topic string, partition int, start, end int64, follow bool, msgs chan<- Message) error {
	send := func(m kafka.Message) error {
		h := make(map[string]string, len(m.Headers))
		for _, kv := range m.Headers {
			h[kv.Key] = string(kv.Value)
		}
		select {
		case msgs <- Message{Partition: partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: h, Time: m.Time, HighWatermark: m.HighWaterMark}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !follow {
		return w.readPartition(ctx, reads, topic, partition, start, end, send)
	}
	err := w.followPartition(ctx, reads, topic, partition, start, send)
	if ctx.Err() != nil {
		return nil // send failed because ctx ended
	}
	return err
}
