package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/imreport/imreport/internal/retry"
)

const (
	// fetchWait is how long the broker may hold a fetch while the partition
	// has nothing at the requested offset (Kafka's fetch.max.wait.ms).
	fetchWait = 500 * time.Millisecond
	// fetchMaxBytes is the most one fetch answers with (as the former
	// reader's MaxBytes); a larger batch is still answered whole.
	fetchMaxBytes = 16 << 20
)

// readPartition calls fn for every record of topic/partition with an offset
// in [first, end), in offset order. It returns fn's error as is; its own
// errors name the topic, partition and offset. Temporary errors of a fetch
// are retried until the read has made no progress for Config.ReadTimeout;
// then it fails with an error wrapping the last one (a read that got no
// answer at all wraps context.DeadlineExceeded: temporary, a broker that
// went away).
func (w *Writer) readPartition(ctx context.Context, reads *kafka.Client, topic string, partition int, first, end int64, fn func(kafka.Message) error) error {
	next := first
	progress := time.Now()
	for attempt := 0; next < end; attempt++ {
		resp, err := fetch(ctx, reads, topic, partition, next)
		if err == nil {
			var n int
			n, next, err = eachRecord(resp, topic, partition, next, end, fn)
			if err != nil {
				return err // fn's, as is
			}
			if n > 0 {
				progress, attempt = time.Now(), 0
			}
			if next >= end || resp.HighWatermark <= next && resp.HighWatermark < end {
				// Read to end, or the partition holds less than end (a
				// gap before end, or records deleted meanwhile): nothing
				// more will come.
				return nil
			}
			if n > 0 {
				continue
			}
			err = fmt.Errorf("no record at offset %d: %w", next, context.DeadlineExceeded)
		}
		if ctx.Err() != nil || !retry.Temporary(err) || time.Since(progress) >= w.cfg.ReadTimeout {
			if ctx.Err() == nil && retry.Temporary(err) {
				err = fmt.Errorf("no progress for %s: %w", w.cfg.ReadTimeout, err)
			}
			return fmt.Errorf("kafka read: topic %q partition %d at offset %d of %d..%d: %w", topic, partition, next, first, end, err)
		}
		if err := retry.Sleep(ctx, fetchBackoff(attempt)); err != nil {
			return fmt.Errorf("kafka read: topic %q partition %d at offset %d of %d..%d: %w", topic, partition, next, first, end, err)
		}
	}
	return nil
}

// followPartition calls fn for every record of topic/partition from offset
// start on, waiting for new ones, until ctx ends (then it returns nil) or fn
// fails (its error, as is). A temporary error is logged and retried with a
// backoff, as long as it lasts.
func (w *Writer) followPartition(ctx context.Context, reads *kafka.Client, topic string, partition int, start int64, fn func(kafka.Message) error) error {
	next := start
	for attempt := 0; ; attempt++ {
		resp, err := fetch(ctx, reads, topic, partition, next)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			var n int
			n, next, err = eachRecord(resp, topic, partition, next, -1, fn)
			if err != nil {
				return err
			}
			if n > 0 || resp.HighWatermark <= next {
				attempt = -1 // caught up or moving: no backoff
				continue
			}
			err = fmt.Errorf("no record at offset %d below the end %d", next, resp.HighWatermark)
		}
		if !retry.Temporary(err) {
			return fmt.Errorf("kafka read: topic %q partition %d at offset %d: %w", topic, partition, next, err)
		}
		w.cfg.Logger.Warn("kafka read failed, retrying", "topic", topic, "partition", partition, "offset", next, "error", err)
		if retry.Sleep(ctx, fetchBackoff(attempt)) != nil {
			return nil
		}
	}
}

// fetch asks the partition's leader for the records from offset on, with
// reads' deadline (Config.ReadTimeout) for the answer. A partition-level
// error in the answer is returned as the error.
func fetch(ctx context.Context, reads *kafka.Client, topic string, partition int, offset int64) (*kafka.FetchResponse, error) {
	resp, err := reads.Fetch(ctx, &kafka.FetchRequest{
		Topic:     topic,
		Partition: partition,
		Offset:    offset,
		MinBytes:  1,
		MaxBytes:  fetchMaxBytes,
		MaxWait:   fetchWait,
	})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return resp, nil
}

// eachRecord calls fn for the records of resp from offset next on, below
// end (end < 0: no limit), and returns how many it passed and the offset
// after the last. A fetch answers whole batches, so records before next are
// skipped.
func eachRecord(resp *kafka.FetchResponse, topic string, partition int, next, end int64, fn func(kafka.Message) error) (int, int64, error) {
	n := 0
	for {
		r, err := resp.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return n, next, nil
		}
		if err != nil {
			return n, next, fmt.Errorf("kafka read: topic %q partition %d at offset %d: %w", topic, partition, next, err)
		}
		if r.Offset < next {
			continue
		}
		if end >= 0 && r.Offset >= end {
			return n, end, nil
		}
		m, err := message(topic, partition, resp.HighWatermark, r)
		if err != nil {
			return n, next, fmt.Errorf("kafka read: topic %q partition %d at offset %d: %w", topic, partition, r.Offset, err)
		}
		next = r.Offset + 1
		n++
		if err := fn(m); err != nil {
			return n, next, err
		}
	}
}

// message copies a fetched record into a kafka.Message, with the
// partition's high watermark as the fetch answered it.
func message(topic string, partition int, highWatermark int64, r *kafka.Record) (kafka.Message, error) {
	m := kafka.Message{Topic: topic, Partition: partition, Offset: r.Offset, HighWaterMark: highWatermark, Time: r.Time, Headers: r.Headers}
	var err error
	if r.Key != nil {
		if m.Key, err = kafka.ReadAll(r.Key); err != nil {
			return m, fmt.Errorf("key: %w", err)
		}
	}
	if r.Value != nil {
		if m.Value, err = kafka.ReadAll(r.Value); err != nil {
			return m, fmt.Errorf("value: %w", err)
		}
	}
	return m, nil
}

// fetchBackoff is the wait before the attempt-th retry of a fetch: 100ms,
// doubling, at most 2s.
func fetchBackoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(max(attempt, 0), 5), 2*time.Second)
}

// readClient returns a kafka-go client for one read (a ReadBack, Scan or
// Consume) over a transport of its own: reads never wait behind the
// writers' produce requests, the partitions and leaders it routes by are
// fetched now (not a cache from before partitions were added), and each
// request gets Config.ReadTimeout. Call release when done.
func (w *Writer) readClient() (reads *kafka.Client, release func()) {
	t := &kafka.Transport{
		Dial:        w.transport.Dial,
		DialTimeout: w.transport.DialTimeout,
		SASL:        w.transport.SASL,
		TLS:         w.transport.TLS,
		ClientID:    "imreport-read",
		IdleTimeout: w.transport.IdleTimeout,
	}
	return &kafka.Client{Addr: w.addr, Transport: t, Timeout: w.cfg.ReadTimeout}, t.CloseIdleConnections
}
