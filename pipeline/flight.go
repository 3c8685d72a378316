package pipeline

import (
	"context"

	"github.com/imreport/imreport/sink"
)

// Writes in flight. The publisher does not wait for Kafka: the records of
// the pages it takes go into the next write (outgoing, gathered while the
// write before it is in flight), and a write starts as soon as the one
// before it is acknowledged. So a Kafka cluster far away bounds how many
// pages one write carries, not how many pages a second the pipeline moves.
// A batch carries its ack: the ends of the windows whose pages it holds are
// released (their cursors may move) only once it is acknowledged, in order.
//
// One write is in flight at a time. kafka-go's writer sends one produce
// request per partition at a time anyway; a second write beside it would
// only queue behind it, and a second writer (another connection) could land
// a conversation's later page before its earlier one. The fencing of a
// failed write (sink.Writer.Publish) and the read-back before writing its
// records again are unchanged: they run in the publisher, with nothing in
// flight.

const (
	// maxGather bounds the records, and maxGatherBytes their values' bytes,
	// that wait for the next write while one is in flight; then the
	// publisher takes no more pages until it lands (a slow Kafka slows the
	// fetchers, memory stays bounded).
	maxGather      = 20_000
	maxGatherBytes = 8 << 20
)

// outgoing is one Kafka write: records of one or more pages, each with its
// dedupe horizon, and the job ends to release once they are acknowledged.
type outgoing struct {
	recs     []sink.Record
	horizons map[int64]int64  // msgid -> dedupe horizon
	streams  map[string]int64 // records per stream, for the per-stream counts
	ends     []job            // released in order once every record is acknowledged
	bytes    int              // of the values
	done     chan error       // Publish's result, once in flight
}

func newOutgoing() *outgoing {
	return &outgoing{horizons: map[int64]int64{}, streams: map[string]int64{}}
}

// full reports whether o may take no more records.
func (o *outgoing) full() bool {
	return o != nil && (len(o.recs) >= maxGather || o.bytes >= maxGatherBytes)
}

// empty reports whether o holds neither records nor job ends (nil holds
// nothing).
func (o *outgoing) empty() bool { return o == nil || len(o.recs) == 0 && len(o.ends) == 0 }

// intake is items while the publisher may take another page: nil (never
// ready) while the next write is full and one is in flight.
func (w *pageWriter) intake(items <-chan item) <-chan item {
	if w.flight != nil && w.next.full() {
		return nil
	}
	return items
}

// flightDone is ready when the write in flight has its answer; nil (never
// ready) when none is in flight.
func (w *pageWriter) flightDone() <-chan error {
	if w.flight == nil {
		return nil
	}
	return w.flight.done
}

// idle reports whether nothing is in flight or waiting to be written.
func (w *pageWriter) idle() bool { return w.flight == nil && w.next.empty() }

// queued reports whether msgid is in the write in flight or the next one.
func (w *pageWriter) queued(msgid int64) bool {
	if w.next != nil {
		if _, ok := w.next.horizons[msgid]; ok {
			return true
		}
	}
	if w.flight != nil {
		_, ok := w.flight.horizons[msgid]
		return ok
	}
	return false
}

// kick starts the next write when none is in flight: its records go to
// Kafka in the background; job ends with no records before them are
// released at once. It starts nothing once ctx ended.
func (w *pageWriter) kick(ctx context.Context) error {
	if w.flight != nil || ctx.Err() != nil {
		return nil
	}
	if len(w.next.recs) == 0 {
		ends := w.next.ends
		w.next.ends = nil
		for _, j := range ends {
			if err := w.release(j); err != nil {
				return err
			}
		}
		return nil
	}
	f := w.next
	w.next = newOutgoing()
	f.done = make(chan error, 1)
	w.flight = f
	pub, writeCtx := w.p.pub, w.writeCtx
	go func() { f.done <- pub.Publish(writeCtx, f.recs) }()
	return nil
}

// land applies the answer of the write in flight: the acknowledged records
// are published, the others are written again (after a read-back, see
// publish) until they are or the run must stop; then the job ends it
// carried are released, in order.
func (w *pageWriter) land(first error) error {
	f := w.flight
	w.flight = nil
	err := w.publishFrom(f.recs, func(r sink.Record) int64 { return f.horizons[r.MsgID] }, PathPoll, &first)
	if err != nil {
		return err
	}
	for stream, n := range f.streams {
		w.p.perStream.published(stream, n)
	}
	for _, j := range f.ends {
		if err := w.release(j); err != nil {
			return err
		}
	}
	return nil
}

// landNow waits for the write in flight, if any, and lands it.
func (w *pageWriter) landNow() error {
	if w.flight == nil {
		return nil
	}
	return w.land(<-w.flight.done)
}

// flushWrites writes everything gathered and waits until it is
// acknowledged: a push then finds every polled message in the seen set.
func (w *pageWriter) flushWrites(ctx context.Context) error {
	for !w.idle() {
		if err := w.landNow(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.kick(ctx); err != nil {
			return err
		}
	}
	return nil
}

// landedMarks raises the marks of acknowledged records to past each
// record's offset: with one write in flight at a time and each partition
// written in order, every record of this app below them is acknowledged (so
// in the seen set) or found by a read-back. A record without a topic (a
// Publisher that does not say where records landed) turns them off: commits
// then ask Kafka for its end offsets, with nothing in flight.
func (w *pageWriter) landedMarks(r sink.Record) {
	if !w.landedOK {
		return
	}
	if r.Topic == "" {
		w.landedOK = false
		return
	}
	ps := w.landedEnds[r.Topic]
	if ps == nil {
		ps = map[int]int64{}
		w.landedEnds[r.Topic] = ps
	}
	if end := r.Offset + 1; end > ps[r.Partition] {
		ps[r.Partition] = end
	}
}

// cloneMarks returns a deep copy of m.
func cloneMarks(m marks) marks {
	out := make(marks, len(m))
	for t, ps := range m {
		c := make(map[int]int64, len(ps))
		for p, o := range ps {
			c[p] = o
		}
		out[t] = c
	}
	return out
}

// raiseMarks raises every offset of m to at least that of by.
func raiseMarks(m, by marks) {
	for t, ps := range by {
		if m[t] == nil {
			m[t] = map[int]int64{}
		}
		for p, o := range ps {
			if o > m[t][p] {
				m[t][p] = o
			}
		}
	}
}
