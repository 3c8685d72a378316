package pipeline

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, []sink.Record) error { return nil }
func (nopPublisher) Marks(context.Context, time.Time) (map[string]map[int]int64, error) {
	return nil, nil
}
func (nopPublisher) ReadBack(context.Context, map[string]map[int]int64, func(sink.Found) error) (map[string]map[int]int64, error) {
	return nil, nil
}

// benchPage is a page of 1000 generated messages (every type, numbers
// sometimes as strings, non-ASCII text), as the simulator serves them.
func benchPage(b *testing.B) source.Page {
	ms := simulator.Generate(simulator.GenSpec{Seed: 12, Start: t0, End: t0.Add(time.Hour), Count: 1000})
	if len(ms) != 1000 {
		b.Fatalf("generated %d messages", len(ms))
	}
	raws := make([]json.RawMessage, len(ms))
	for i, m := range ms {
		raws[i] = m.JSON
	}
	w := win(t0, t0.Add(time.Hour))
	return source.Page{Stream: source.Messages, Window: w, Part: w, Endpoint: "/v2/messages", Total: len(raws), Messages: raws, FetchedAt: t0}
}

// benchWrite runs pageWriter.write over pg with pub as b's loop and reports
// messages/second, bytes and allocations per message.
func benchWrite(b *testing.B, pub Publisher, pg source.Page) float64 {
	p, err := New(Config{Streams: []source.Stream{source.Messages}, AppKey: simulator.DefaultAppKey, APIVersion: "v2", Logger: discard}, nil, pub, nil)
	if err != nil {
		b.Fatal(err)
	}
	j := job{stream: source.Messages, window: pg.Window, advance: true}
	pw := &pageWriter{p: p, ctx: b.Context(), writeCtx: b.Context()}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		pw.seen, pw.pending, pw.next = newSeenSet(nil), make([]int64, 0, len(pg.Messages)), newOutgoing()
		if err := pw.write(j, pg, p.prepare(pg, true)); err != nil {
			b.Fatal(err)
		}
		if err := pw.flushWrites(b.Context()); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if got := p.Stats().Published; got != int64(n*len(pg.Messages)) {
		b.Fatalf("published %d, want %d", got, n*len(pg.Messages))
	}
	runtime.ReadMemStats(&after)
	msgs := float64(n * len(pg.Messages))
	rate := msgs / b.Elapsed().Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/msgs, "B/msg")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/msgs, "allocs/msg")
	return rate
}

// BenchmarkPublishPage measures the page path: decode, dedupe, transform,
// encode and publish one page of 1000 messages, reporting msgs/s, B/msg and
// allocs/msg (all the process allocated during the loop, per message).
//
//   - nop: the publisher does nothing, so this is the CPU cost of the path
//     alone.
//   - kafka: published with the sink to a kfake broker on loopback (acks=all,
//     snappy, 6 partitions), and, in the same run, the ceiling: the same
//     records, encoded beforehand, published the same way. x_ceiling is the
//     path's msgs/s over the ceiling's.
func BenchmarkPublishPage(b *testing.B) {
	pg := benchPage(b)
	b.Run("nop", func(b *testing.B) {
		benchWrite(b, nopPublisher{}, pg)
	})
	b.Run("kafka", func(b *testing.B) {
		w := benchSink(b)
		rate := benchWrite(b, w, pg)
		b.ReportMetric(rate/publishCeiling(b, w, pg), "x_ceiling")
	})
}

// benchSink is a sink.Writer on a one-broker kfake cluster with 6 partitions.
func benchSink(b *testing.B) *sink.Writer {
	c := testkit.Kafka(b, kfake.NumBrokers(1), kfake.DefaultNumPartitions(6))
	w, err := sink.New(sink.Config{Brokers: c.ListenAddrs(), Topic: "bench", AppKey: simulator.DefaultAppKey,
		CreateTopic: true, Partitions: 6, ReplicationFactor: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.Close() })
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	if _, err := w.EnsureTopic(ctx); err != nil {
		b.Fatal(err)
	}
	return w
}

// publishCeiling is how many messages per second w publishes when the
// records of pg are encoded already: what the page path cannot beat.
func publishCeiling(b *testing.B, w *sink.Writer, pg source.Page) float64 {
	p, err := New(Config{Streams: []source.Stream{source.Messages}, AppKey: simulator.DefaultAppKey, APIVersion: "v2", Logger: discard}, nil, nopPublisher{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	pw := &pageWriter{p: p, ctx: b.Context(), writeCtx: b.Context(), seen: newSeenSet(nil), next: newOutgoing()}
	if err := pw.write(job{stream: source.Messages, window: pg.Window, advance: true}, pg, nil); err != nil {
		b.Fatal(err)
	}
	recs := append([]sink.Record(nil), pw.next.recs...)
	const rounds = 30
	began := time.Now()
	for range rounds {
		if err := w.Publish(b.Context(), recs); err != nil {
			b.Fatal(err)
		}
	}
	return float64(rounds*len(recs)) / time.Since(began).Seconds()
}
