package pipeline

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// write queues the unseen messages of pg for the next Kafka write (see
// flight.go); they are recorded as seen once acknowledged. A message that cannot be decoded, transformed or encoded goes to the
// dead-letter topic instead, with its raw JSON; only a message without a
// readable msgid stops the run. msgs is pg decoded by prepare (nil: not yet).
//
// Decoding and encoding are spread over the cores (see prepare); what
// depends on order (identification errors, the dedupe set, the records'
// order) is done here in page order, so the records and their order are
// exactly those of a one-message-at-a-time loop.
func (w *pageWriter) write(j job, pg source.Page, msgs []decoded) error {
	p := w.p
	if msgs == nil {
		msgs = p.prepare(pg, false)
	}
	todo, err := w.dedupe(j, pg, msgs)
	if err != nil {
		return err
	}
	p.encode(pg, msgs, todo) // those prepare did not encode
	w.records(j, pg, msgs, todo)
	return nil
}

// decoded is one message of a page on its way to a record.
type decoded struct {
	m       source.Message
	err     error  // from DecodeMessage
	encoded bool   // value and encErr are set
	value   []byte // the encoded record
	encErr  error  // from AppendMessage
}

// prepare decodes every message of pg across the cores and, with encode,
// encodes them too (a fresh window's messages are nearly all new; a
// rescan's are nearly all duplicates, encoded only once found new).
func (p *Pipeline) prepare(pg source.Page, encode bool) []decoded {
	msgs := make([]decoded, len(pg.Messages))
	parallel(len(msgs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			msgs[i].m, msgs[i].err = source.DecodeMessage(pg.Messages[i])
		}
	})
	if encode {
		all := make([]int, len(msgs))
		for i := range all {
			all[i] = i
		}
		p.encode(pg, msgs, all)
	}
	return msgs
}

// encode encodes the decoded messages of pg that idx names and that are not
// encoded yet, across the cores.
func (p *Pipeline) encode(pg source.Page, msgs []decoded, idx []int) {
	src := schema.Source{AppKey: p.cfg.AppKey, Endpoint: pg.Endpoint, APIVersion: p.cfg.APIVersion, FetchedAt: pg.FetchedAt}
	parallel(len(idx), func(lo, hi int) {
		var arena []byte // one allocation for the values of a chunk
		for _, i := range idx[lo:hi] {
			d := &msgs[i]
			if d.err != nil || d.encoded {
				continue
			}
			if arena == nil {
				arena = make([]byte, 0, (hi-lo)*(len(pg.Messages[i])+64))
			}
			start := len(arena)
			arena, d.encErr = p.codec.AppendMessage(arena, d.m, src)
			if d.encErr == nil {
				d.value = arena[start:len(arena):len(arena)]
			}
			d.encoded = true
		}
	})
}

// dedupe goes through the decoded messages in page order: it stops at one
// that cannot be identified, records the rest in the rescan index, and
// returns the indexes of those neither in the seen set, nor in a write in
// flight or gathering, nor earlier in the page.
func (w *pageWriter) dedupe(j job, pg source.Page, msgs []decoded) ([]int, error) {
	p := w.p
	stream := j.stream.String()
	inPage := make(map[int64]struct{}, len(msgs))
	todo := w.todo[:0]
	for i := range msgs {
		m, err := msgs[i].m, msgs[i].err
		if err != nil && errors.Is(err, source.ErrNoMsgID) {
			return nil, fmt.Errorf("pipeline: %s %v: message %d of the page at offset %d cannot be identified: %w (raw: %.200s)",
				j.stream, j.window, i, pg.Start, err, pg.Messages[i])
		}
		if sec, ok := createSecond(m, err); ok && p.cfg.Lookback > 0 {
			p.index.add(stream, m.MsgID, sec)
		}
		if _, dup := inPage[m.MsgID]; dup || w.seen.has(m.MsgID) || w.queued(m.MsgID) {
			p.stats.duplicates.Add(1)
			continue
		}
		inPage[m.MsgID] = struct{}{}
		todo = append(todo, i)
	}
	w.todo = todo
	return todo, nil
}

// records appends the records of the messages todo names to the next
// write, in page order: the encoded ones for the topic, the others for the
// dead-letter topic.
func (w *pageWriter) records(j job, pg source.Page, msgs []decoded, todo []int) {
	p := w.p
	o := w.next
	stream := j.stream.String()
	now := pg.FetchedAt // the clock's reading for the future check of event times
	contentType := p.codec.ContentType()
	for _, i := range todo {
		d := &msgs[i]
		o.horizons[d.m.MsgID] = seenHorizon(d.m, d.err, j.window.To.Unix())
		stage, err := "decode", d.err
		if err == nil && d.encErr != nil {
			stage, err = failedStage(d.encErr), d.encErr
		}
		if err != nil {
			o.recs = append(o.recs, sink.Record{Value: pg.Messages[i], MsgID: d.m.MsgID, MsgType: d.m.MsgType, Time: eventTime(d.m, now),
				DeadLetter: &sink.DeadLetter{Stage: stage, Reason: err.Error(), Stream: stream, Endpoint: pg.Endpoint}})
			o.bytes += len(pg.Messages[i])
			p.cfg.Logger.Warn("message sent to the dead-letter topic", "msgid", d.m.MsgID, "stage", stage, "stream", stream, "error", err)
			continue
		}
		o.recs = append(o.recs, sink.Record{Key: schema.ConversationID(d.m), Value: d.value, MsgID: d.m.MsgID, MsgType: d.m.MsgType,
			Time: eventTime(d.m, now), ContentType: contentType})
		o.bytes += len(d.value)
	}
	o.streams[stream] += int64(len(todo))
}

// parallel calls fn over [0, n) cut into one chunk per core (inline when n
// is small: a page of a few messages is not worth the goroutines).
func parallel(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/minChunk)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := range workers {
		lo, hi := k*n/workers, (k+1)*n/workers
		if k == workers-1 {
			fn(lo, hi) // this goroutine takes the last chunk
			break
		}
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// minChunk is the fewest messages worth a goroutine of their own.
const minChunk = 64

// seenHorizon is how long a published message stays in the dedupe set: a
// second past its create_time (the send time queries select by; the
// bounds' overlap and the lookback are added by PruneBefore), as for a
// record found by a read-back, but never past the end of its window, which
// it is when create_time could not be read. A window's msgids are kept only
// while a query can return them again: the set, and each commit, hold the
// lookback's messages, not the whole window's.
func seenHorizon(m source.Message, decodeErr error, windowEnd int64) int64 {
	if sec, ok := createSecond(m, decodeErr); ok {
		return min(sec+1, windowEnd)
	}
	return windowEnd
}

// createSecond returns the create_time of m, when the decoder could read it.
func createSecond(m source.Message, err error) (int64, bool) {
	var fe *source.FieldError
	if err != nil && (!errors.As(err, &fe) || fe.Field == "create_time") {
		return 0, false
	}
	return m.CreateTime, m.CreateTime != 0
}

// failedStage names the stage of an EncodeMessage error for the dead-letter
// header: "transform" (a *schema.TransformError) or "encode".
func failedStage(err error) string {
	var te *schema.TransformError
	if errors.As(err, &te) {
		return "transform"
	}
	return "encode"
}
