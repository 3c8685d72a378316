package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/segmentio/kafka-go"
)

// The state topic holds the pipeline's snapshots (see internal/state): one
// partition, compacted, keyed by app key, so that its newest record per key
// is the state to restore from.
const (
	statePartitions = 1
	// stateChunk is how many records LatestState reads per step back from
	// the end of the state topic.
	stateChunk = 1000
)

// StateTopic returns the state topic (Config.StateTopic, or Topic + ".state").
func (w *Writer) StateTopic() string { return w.cfg.StateTopic }

// stateWriter returns the kafka-go writer of the state topic, made on first
// use.
func (w *Writer) stateWriter() (*kafka.Writer, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	if w.state == nil {
		w.state = w.newKafkaWriter(w.cfg.StateTopic)
		w.state.Balancer = &kafka.LeastBytes{} // one partition
		w.state.Completion = nil
	}
	return w.state, nil
}

// PutState writes value under key to the state topic and returns once every
// in-sync replica acknowledged it, with the offset it landed at. A failed
// write may have landed; writing the same snapshot again is harmless (the
// newest record per key wins).
func (w *Writer) PutState(ctx context.Context, key string, value []byte) error {
	kw, err := w.stateWriter()
	if err != nil {
		return fmt.Errorf("kafka state write: %w", err)
	}
	if err := kw.WriteMessages(ctx, kafka.Message{Key: []byte(key), Value: value}); err != nil {
		return fmt.Errorf("kafka state write to %q: %w", w.cfg.StateTopic, err)
	}
	return nil
}

// LatestState returns the newest value written under key to the state topic
// and its offset; found is false when the topic holds none. It reads back
// from the end in steps of stateChunk records, so it reads little when the
// key was written recently, and the whole topic when it never was (a
// compacted topic holds about one record per key).
func (w *Writer) LatestState(ctx context.Context, key string) (value []byte, offset int64, found bool, err error) {
	client := w.client()
	offs, err := w.listOffsets(ctx, client, true, w.cfg.StateTopic)
	if err != nil {
		return nil, 0, false, fmt.Errorf("kafka state read: %w", err)
	}
	reads, release := w.readClient()
	defer release()
	for _, po := range offs[w.cfg.StateTopic] {
		first, end := po.FirstOffset, po.LastOffset
		for end > first {
			from := max(first, end-stateChunk)
			err := w.readPartition(ctx, reads, w.cfg.StateTopic, po.Partition, from, end, func(m kafka.Message) error {
				if string(m.Key) == key {
					value, offset, found = m.Value, m.Offset, true
				}
				return nil
			})
			if err != nil {
				return nil, 0, false, fmt.Errorf("kafka state read: %w", err)
			}
			if found {
				return value, offset, true, nil
			}
			end = from
		}
	}
	return nil, 0, false, nil
}

// HoldsRecords reports whether the last tail records of some partition of
// the main or the dead-letter topic include one of this app (by its
// app_key header): a topic that imreport wrote to before.
//
// With a cluster far away every request counts: it asks for the end
// offsets only, on the writers' connections, so that topics whose
// partitions are all empty are told in one round of requests. Only when a
// partition holds records are they read (ReadBack, which lists the offsets
// again on fresh connections).
func (w *Writer) HoldsRecords(ctx context.Context, tail int64) (bool, error) {
	ends, err := w.listOffsets(ctx, w.client(), false, w.cfg.Topic, w.cfg.DLQTopic)
	if err != nil {
		return false, fmt.Errorf("kafka records of this app: %w", err)
	}
	from := map[string]map[int]int64{}
	held := false
	for topic, pos := range ends {
		from[topic] = map[int]int64{}
		for _, po := range pos {
			// ReadBack starts a mark below the first offset at the first.
			from[topic][po.Partition] = max(0, po.LastOffset-tail)
			held = held || po.LastOffset > 0
		}
	}
	if !held {
		return false, nil
	}
	errFound := errors.New("found")
	_, err = w.ReadBack(ctx, from, func(Found) error { return errFound })
	switch {
	case errors.Is(err, errFound):
		return true, nil
	case err != nil:
		return false, err
	}
	return false, nil
}

// CreatedTopics reports whether EnsureTopic created both the main and the
// dead-letter topic: until this process publishes, they hold no record of
// it.
func (w *Writer) CreatedTopics() bool {
	_, mainNew := w.created.Load(w.cfg.Topic)
	_, dlqNew := w.created.Load(w.cfg.DLQTopic)
	return mainNew && dlqNew
}

// closeState closes the state topic's writer, if one was made.
func (w *Writer) closeState(wg *sync.WaitGroup) {
	if w.state != nil {
		wg.Go(func() { _ = w.state.Close() })
	}
}
