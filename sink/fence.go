package sink

import (
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

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
