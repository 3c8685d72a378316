package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// readBackConcurrency is how many partitions ReadBack reads at once.
const readBackConcurrency = 4

// errStopped ends the other partitions' reads once fn has failed; ReadBack
// returns fn's error, never this one.
var errStopped = errors.New("read-back stopped")

// Found is one record of this app that ReadBack found.
type Found struct {
	Topic      string
	Partition  int
	Offset     int64
	MsgID      int64 // from the msgid header
	DeadLetter bool  // read from the dead-letter topic
	Value      []byte
	Time       time.Time // the record's Kafka timestamp
	// Stream is the imreport-stream header (HeaderStream): the stream a
	// dead letter was fetched for; "" on main-topic records.
	Stream string
}

// Marks returns, for every partition of the main and the dead-letter topic,
// as topic -> partition -> offset:
//
//   - with a zero at, the end offset (the high watermark: the offset the
//     next record will get), from one metadata and one ListOffsets request.
//     Every record acknowledged before Marks was called is below its
//     partition's mark.
//   - with a non-zero at, the offset of the first record whose timestamp is
//     at or after at (the end offset when there is none), as a Kafka broker
//     answers a ListOffsets by timestamp. Record timestamps are event times
//     (Record.Time) and not monotonic within a partition, but every record
//     before that offset is older than at, so ReadBack from there reads
//     every record whose timestamp is at or after at (and some older ones).
func (w *Writer) Marks(ctx context.Context, at time.Time) (map[string]map[int]int64, error) {
	client := w.client()
	offs, err := w.listOffsets(ctx, client, false, w.cfg.Topic, w.cfg.DLQTopic)
	if err != nil {
		return nil, fmt.Errorf("kafka marks: %w", err)
	}
	out := make(map[string]map[int]int64, len(offs))
	for topic, pos := range offs {
		m := make(map[int]int64, len(pos))
		for _, po := range pos {
			m[po.Partition] = po.LastOffset
		}
		out[topic] = m
		w.partitionsOf.Store(topic, len(m))
	}
	if at.IsZero() {
		return out, nil
	}
	// A separate request: Kafka refuses a partition twice in one.
	reqs := make(map[string][]kafka.OffsetRequest, len(out))
	for topic, m := range out {
		for p := range m {
			reqs[topic] = append(reqs[topic], kafka.TimeOffsetOf(p, at))
		}
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
	if err != nil {
		return nil, fmt.Errorf("kafka marks at %s: %w", at.UTC().Format(time.RFC3339), err)
	}
	for topic, pos := range resp.Topics {
		for _, po := range pos {
			if po.Error != nil {
				return nil, fmt.Errorf("kafka marks at %s: topic %q partition %d: %w", at.UTC().Format(time.RFC3339), topic, po.Partition, offsetError{po.Error})
			}
			// kafka-go files a found offset under Offsets; "none at or
			// after at" (offset -1) leaves the end offset in place.
			for off := range po.Offsets {
				if off >= 0 && off < out[topic][po.Partition] {
					out[topic][po.Partition] = off
				}
			}
		}
	}
	return out, nil
}

// ReadBack reads, in the main and the dead-letter topic, every partition from
// from[topic][partition] up to the partition's end offset as listed when
// ReadBack starts, and calls fn for each record whose app_key header is
// Config.AppKey. It returns those end offsets (topic -> partition -> offset;
// every partition of both topics), to be stored as the new marks.
//
// A partition missing from from (a new topic, or partitions added since) is
// read from its first offset; a mark below the first offset (retention
// deleted records) starts at the first offset; a mark at or beyond the end
// reads nothing, without connecting to the partition. Topics in from other
// than the two are ignored.
//
// Records of this app without a msgid header that parses as an integer are
// skipped and counted in one Warn log line. fn is never called
// concurrently; within a partition it sees the records in offset order,
// partitions are read concurrently in no particular order. fn's error stops
// ReadBack and is returned as is.
func (w *Writer) ReadBack(ctx context.Context, from map[string]map[int]int64, fn func(Found) error) (map[string]map[int]int64, error) {
	reads, release := w.readClient()
	defer release()
	offs, err := w.listOffsets(ctx, reads, true, w.cfg.Topic, w.cfg.DLQTopic)
	if err != nil {
		return nil, fmt.Errorf("kafka read-back: %w", err)
	}
	type span struct {
		topic      string
		partition  int
		start, end int64
	}
	var spans []span
	ends := make(map[string]map[int]int64, len(offs))
	var records int64
	for topic, pos := range offs {
		ends[topic] = make(map[int]int64, len(pos))
		for _, po := range pos {
			ends[topic][po.Partition] = po.LastOffset
			start := po.FirstOffset
			if m, ok := from[topic][po.Partition]; ok {
				if m > po.LastOffset {
					w.cfg.Logger.Warn("kafka read-back: a mark is beyond the partition's end (topic recreated or truncated?); reading nothing there",
						"topic", topic, "partition", po.Partition, "mark", m, "end", po.LastOffset)
				}
				start = max(start, m)
			}
			if start < po.LastOffset {
				spans = append(spans, span{topic, po.Partition, start, po.LastOffset})
				records += po.LastOffset - start
			}
		}
	}
	w.cfg.Logger.Debug("kafka read-back", "partitions", len(spans), "records_at_most", records)

	var (
		mu      sync.Mutex // serialises fn and guards fnErr
		fnErr   error      // fn's first error: call it no more
		skipped atomic.Int64
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readBackConcurrency)
	for _, sp := range spans {
		dead := sp.topic == w.cfg.DLQTopic
		g.Go(func() error {
			return w.readPartition(gctx, reads, sp.topic, sp.partition, sp.start, sp.end, func(m kafka.Message) error {
				var appKey, msgID, stream []byte
				var hasAppKey, hasMsgID bool
				for _, h := range m.Headers {
					switch h.Key {
					case HeaderAppKey:
						appKey, hasAppKey = h.Value, true
					case HeaderMsgID:
						msgID, hasMsgID = h.Value, true
					case HeaderStream:
						stream = h.Value
					}
				}
				if !hasAppKey || string(appKey) != w.cfg.AppKey {
					return nil
				}
				id, err := strconv.ParseInt(string(msgID), 10, 64)
				if !hasMsgID || err != nil {
					skipped.Add(1)
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				if fnErr != nil {
					return errStopped
				}
				fnErr = fn(Found{Topic: sp.topic, Partition: sp.partition, Offset: m.Offset, MsgID: id, DeadLetter: dead, Value: m.Value,
					Time: m.Time, Stream: string(stream)})
				return fnErr
			})
		})
	}
	if err := g.Wait(); err != nil {
		mu.Lock()
		defer mu.Unlock()
		if fnErr != nil {
			return nil, fnErr
		}
		return nil, err
	}
	if n := skipped.Load(); n > 0 {
		w.cfg.Logger.Warn("kafka read-back: skipped records of this app without a valid msgid header", "records", n)
	}
	return ends, nil
}
