package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// publisher is the single goroutine that owns the seen set, the trackers and
// the checkpoint. ctx is the stage context: when it ends, a Kafka write in
// flight may still finish within Config.ShutdownTimeout, and whatever Kafka
// acknowledged is committed before returning.
func (p *Pipeline) publisher(ctx context.Context, seen *seenSet, safe marks, items <-chan item) (err error) {
	defer p.stopPushes()
	// Writes run on a context that outlives ctx by ShutdownTimeout, so a
	// batch sent just before a shutdown gets its acknowledgement back.
	writeCtx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.cfg.ShutdownTimeout, cancelWrites)
		context.AfterFunc(writeCtx, func() { t.Stop() })
	})
	defer stop()

	pub := &pageWriter{p: p, ctx: ctx, writeCtx: writeCtx, seen: seen, marks: safe, ends: safe, next: newOutgoing(),
		landedEnds: cloneMarks(safe), landedOK: len(safe) > 0}
	trackers := map[string]*tracker[job]{} // per stream: its windows, by start
	for _, s := range p.cfg.Streams {
		trackers[s.String()] = newTracker(p.firstWindowStart(s.String()), func(_ int64, j job) int64 { return j.window.To.Unix() })
	}
	// release is a job's end, once every record of its pages is
	// acknowledged: its window is published.
	release := func(j job) error {
		if !j.advance {
			p.stats.rescans.Add(1)
		} else {
			key := j.stream.String()
			for _, done := range trackers[key].Ack(j.window.From.Unix(), j) {
				p.stats.windows.Add(1)
				if pub.moved == nil {
					pub.moved = map[string]time.Time{}
				}
				pub.moved[key] = done.window.To
			}
		}
		return p.commitDue(pub)
	}
	defer func() {
		// Whatever happened, persist what Kafka acknowledged: the cursor
		// stays where it was, the msgids are skipped after a restart.
		// Windows published in full are committed too: all they hold is in
		// Kafka. The write in flight gets its answer first (within
		// ShutdownTimeout); what waited for the next write is dropped.
		if lerr := pub.landNow(release); lerr != nil {
			err = errors.Join(err, lerr)
		}
		if cerr := p.waitCommit(pub); cerr != nil {
			err = errors.Join(err, cerr)
			return
		}
		if pub.moved != nil || pub.waiting() > 0 || pub.marksMoved {
			if cerr := p.commit(pub.takeMoved(), pub, true); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
		if cerr := p.waitCommit(pub); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	for {
		var it item
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it, ok = <-pub.intake(items):
			if !ok {
				// Every page is taken: write what waits, then stop.
				return pub.flushWrites(ctx, release)
			}
		case werr := <-pub.flightDone():
			if err := pub.land(werr, release); err != nil {
				return err
			}
			if err := p.commitDue(pub); err != nil {
				return err
			}
			if err := pub.kick(ctx, release); err != nil {
				return err
			}
			continue
		case r := <-p.pushes: // see push.go
			if err := pub.flushWrites(ctx, release); err != nil {
				answer([]*pushRequest{r}, ErrNotRunning)
				return err
			}
			if err := pub.push(ctx, r); err != nil {
				return err
			}
			continue
		case <-pub.flushC():
			if err := pub.flushPushes(); err != nil {
				return err
			}
			continue
		case cerr := <-pub.commitDone():
			if err := p.applyCommit(pub, cerr); err != nil {
				return err
			}
			if err := p.commitDue(pub); err != nil {
				return err
			}
			continue
		}
		// Both cases may be ready at once and select picks at random: once
		// stopped, start no new Kafka write (only one in flight may finish).
		if err := ctx.Err(); err != nil {
			return err
		}
		if it.page != nil {
			began := time.Now()
			if err := pub.write(it.job, *it.page, it.msgs); err != nil {
				return err
			}
			p.notePageCost(time.Since(began))
		} else {
			// The window is fetched: another may start (the gate bounds the
			// windows being fetched; what waits for Kafka is bounded by
			// maxGather). Its end is released once its pages are
			// acknowledged.
			p.gate.release()
			pub.next.ends = append(pub.next.ends, it.job)
		}
		if err := pub.kick(ctx, release); err != nil {
			return err
		}
	}
}

// commitDue starts a commit of what is due, unless one is in flight: then
// what comes due meanwhile waits for it and goes in the next, all in one
// transaction (group commit: while one fsync runs, the next gathers). Due
// are cursors that published windows moved (a light commit, see commit)
// and, once maxPendingSeen of them wait, the msgids published and not yet
// behind a committed cursor (a full commit).
func (p *Pipeline) commitDue(pub *pageWriter) error {
	if len(pub.committing) > 0 {
		return nil
	}
	if full := pub.waiting() >= maxPendingSeen; full || pub.moved != nil {
		return p.commit(pub.takeMoved(), pub, full)
	}
	return nil
}

// maxPendingSeen is how many msgids published and not yet behind a
// committed cursor make a full commit due. They are held in memory (8
// bytes each, besides the seen set) and, until a full commit writes them,
// read back from Kafka after a crash, so it also bounds that read-back.
const maxPendingSeen = 200_000

// takeMoved returns the cursors due for a commit and forgets them.
func (w *pageWriter) takeMoved() map[string]time.Time {
	m := w.moved
	w.moved = nil
	return m
}

// firstWindowStart is where the first window of stream key starts: its
// committed cursor at the start of Run, on a whole second (NextWindow).
func (p *Pipeline) firstWindowStart(key string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cursors[key].UTC().Truncate(time.Second).Unix()
}

// commit persists moved cursors in one transaction, prunes the seen set
// behind the slowest stream and, in a full commit, stores the msgids
// published since the last full one.
//
// Msgids that this commit's cursors put behind the dedupe horizon are never
// written: no query can return them any more. The others wait in memory
// (held) for a cursor to pass them: a light commit writes none of them and
// stores marks below every record they name (the end offsets taken at the
// commit before the oldest of them was published), so a crash reads them
// back from Kafka. A full commit (held msgids reaching maxPendingSeen, a
// read-back or failed write to account for, the publisher's last commit)
// writes them all with the current end offsets. In a backfill whose
// windows finish before maxPendingSeen msgids wait, no msgid is written at
// all.
//
// What the commit holds is fixed here, in the publisher's goroutine, before
// any further write: the msgids published so far and the Kafka end offsets
// now (so every record below the marks is in this commit, an earlier one or
// behind a cursor). The bbolt transaction and its fsync then run in the
// background while the publisher goes on (a crash before it is durable is a
// crash before the commit: the read-back covers it). Transactions run one
// after another, in order, a commit starting only once the one before
// succeeded; up to maxQueuedCommits wait, then the publisher waits too.
// Results are applied (cursors, OnCommit) in order by applyCommit in the
// publisher's goroutine; waitCommit waits for all.
func (p *Pipeline) commit(moved map[string]time.Time, pub *pageWriter, full bool) error {
	if len(pub.committing) >= maxQueuedCommits {
		if err := p.applyCommit(pub, <-pub.committing[0].done); err != nil {
			return err
		}
	}
	// The cursors as they are once this commit and those before it are
	// durable (the ones still in flight are not applied yet).
	p.mu.Lock()
	after := maps.Clone(p.cursors)
	p.mu.Unlock()
	for _, ic := range pub.committing {
		maps.Copy(after, ic.moved)
	}
	maps.Copy(after, moved)
	horizon := PruneBefore(slices.Collect(maps.Values(after)), p.cfg.Lookback)
	c := checkpoint.Commit{Cursors: moved, Now: p.cfg.Now()}
	if !horizon.IsZero() {
		c.PruneBefore = horizon.Unix()
	}
	full = full || pub.ambiguous || pub.marksMoved
	c.Seen, c.Marks = pub.settle(c.PruneBefore, full)
	if c.PruneBefore > 0 {
		pub.seen.prune(c.PruneBefore)
		p.index.prune(c.PruneBefore)
	}
	p.stats.seen.Store(int64(pub.seen.len()))
	ic := &inflightCommit{moved: moved, done: make(chan error, 1), finished: make(chan struct{})}
	var prev *inflightCommit
	if n := len(pub.committing); n > 0 {
		prev = pub.committing[n-1]
	}
	pub.committing = append(pub.committing, ic)
	go func() {
		defer close(ic.finished)
		if prev != nil {
			if <-prev.finished; prev.failed {
				ic.failed = true
				ic.done <- errors.New("an earlier commit failed")
				return
			}
		}
		err := p.cp.Commit(c)
		ic.failed = err != nil
		ic.done <- err
	}()
	return nil
}

// maxQueuedCommits is how many commits may wait for their transaction
// before the publisher waits for the first.
const maxQueuedCommits = 4

// inflightCommit is a commit whose transaction runs (or waits to run) in
// the background.
type inflightCommit struct {
	moved    map[string]time.Time
	done     chan error    // its result, for the publisher
	finished chan struct{} // closed after the transaction; failed is set then
	failed   bool
}

// commitDone is ready when the oldest commit in flight is durable (or
// failed); nil (never ready) when none is.
func (w *pageWriter) commitDone() <-chan error {
	if len(w.committing) == 0 {
		return nil
	}
	return w.committing[0].done
}

// waitCommit waits until every commit in flight is durable, and applies
// them.
func (p *Pipeline) waitCommit(pub *pageWriter) error {
	for len(pub.committing) > 0 {
		if err := p.applyCommit(pub, <-pub.committing[0].done); err != nil {
			return err
		}
	}
	return nil
}

// applyCommit records the end of the oldest commit in flight: its cursors
// become the committed ones and OnCommit is told; a failure is a
// *commitError.
func (p *Pipeline) applyCommit(pub *pageWriter, err error) error {
	c := pub.committing[0]
	pub.committing = pub.committing[1:]
	if err != nil {
		return &commitError{err: err}
	}
	p.stats.commits.Add(1)
	p.mu.Lock()
	for k, v := range c.moved {
		p.cursors[k] = v
	}
	p.mu.Unlock()
	if p.cfg.OnCommit != nil {
		p.cfg.OnCommit(Progress{Cursors: p.Cursors(), Stats: p.Stats()})
	}
	return nil
}

// pageWriter turns pages into records and publishes them.
type pageWriter struct {
	p        *Pipeline
	ctx      context.Context // stage context: ends retries on shutdown
	writeCtx context.Context // outlives ctx by the shutdown timeout
	seen     *seenSet
	pending  []int64              // msgids published since the last commit
	held     []heldSeen           // published before it, not yet written nor behind a cursor, oldest first
	ends     marks                // Kafka end offsets at the last commit (at the start: the safe marks)
	moved    map[string]time.Time // cursors of published windows, due for the next commit
	todo     []int                // indexes into the page: the messages to publish

	next   *outgoing // the next Kafka write, gathering (flight.go)
	flight *outgoing // the write in flight; nil when none

	// landedEnds are marks raised past every acknowledged record
	// (landedMarks); commits store them while landedOK.
	landedEnds marks
	landedOK   bool

	// marks are Kafka offsets below which every record of this app is in
	// seen. After a failed write whose records may have landed, ambiguous
	// is set until a read-back resolves it; meanwhile marks do not move.
	marks      marks
	marksMoved bool // a read-back moved marks since the last commit
	ambiguous  bool

	pushed pushState // see push.go

	committing []*inflightCommit // commits whose transaction runs or waits, oldest first
}

// commitMarks returns the marks to store with the next commit, when every
// write so far is accounted for (every record below them is in seen, and
// seen's new entries are in this commit): the marks of the acknowledged
// records (landedEnds), raised to Kafka's end offsets when nothing is in
// flight or waiting (so partitions written by others move too); without
// landed marks, Kafka's end offsets, asked only with nothing in flight.
// While a failed write is unresolved (ambiguous) or the end offsets cannot
// be had, the read-back's marks if they moved, else nil (keep the stored
// ones).
func (w *pageWriter) commitMarks() marks {
	if w.ambiguous {
		return nil
	}
	if w.flight == nil && w.next.empty() {
		ctx, cancel := context.WithTimeout(w.writeCtx, 5*time.Second)
		defer cancel()
		m, err := w.p.pub.Marks(ctx, time.Time{})
		if err == nil && len(m) > 0 {
			if !w.landedOK {
				return m
			}
			raiseMarks(w.landedEnds, m)
		} else if err != nil {
			w.p.cfg.Logger.Debug("kafka end offsets unavailable; the checkpoint keeps its marks", "error", err)
		}
	}
	if w.landedOK {
		return cloneMarks(w.landedEnds)
	}
	if w.marksMoved {
		return w.marks // replaced, never changed in place
	}
	return nil
}

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

// publish writes recs to Kafka, retrying temporary failures, and records each
// acknowledged one as seen with its horizon; path says which path the records
// came by (PathPoll or PathCallback). After a failed write it reads back
// before writing again, so that a record that landed despite the error is
// not written twice.
func (w *pageWriter) publish(recs []sink.Record, horizon func(sink.Record) int64, path string) error {
	return w.publishFrom(recs, horizon, path, nil)
}

// publishFrom is publish whose first attempt, when first is not nil, was
// made already (a write in flight, see flight.go): *first is its result.
func (w *pageWriter) publishFrom(recs []sink.Record, horizon func(sink.Record) int64, path string, first *error) error {
	p := w.p
	done := func(r sink.Record, at time.Time) {
		h := horizon(r)
		w.seen.add(r.MsgID, h)
		w.landedMarks(r)
		w.pending = append(w.pending, r.MsgID)
		if r.DeadLetter != nil {
			p.stats.deadLettered.Add(1)
		} else {
			p.stats.published.Add(1)
		}
		p.published(path, r, at)
	}
	remaining := recs
	policy := p.kafkaPolicy(w.ctx, "kafka publish failed, retrying")
	return policy.Do(w.writeCtx, func(ctx context.Context) error {
		if w.ambiguous {
			// The last write failed, and some of its records may have
			// landed: find out which before writing them again.
			if err := w.readBack(ctx); err != nil {
				return err
			}
			next := remaining[:0:0]
			for _, r := range remaining {
				if w.seen.has(r.MsgID) {
					continue // landed after all: found by the read-back
				}
				next = append(next, r)
			}
			remaining = next
			if len(remaining) == 0 {
				return nil
			}
		}
		var err error
		if first != nil {
			err, first = *first, nil
		} else {
			err = p.pub.Publish(ctx, remaining)
		}
		at := p.cfg.Now()
		var failed []int
		var we *sink.WriteError
		switch {
		case err == nil:
		case errors.As(err, &we):
			failed = we.Failed
		default:
			// Nothing is known about any record.
			failed = make([]int, len(remaining))
			for i := range failed {
				failed[i] = i
			}
		}
		// Failed is not promised to be sorted: mark by index, so that no
		// failed record is taken for acknowledged.
		bad := make([]bool, len(remaining))
		for _, i := range failed {
			if i >= 0 && i < len(bad) {
				bad[i] = true
			}
		}
		next := make([]sink.Record, 0, len(failed))
		for i, r := range remaining {
			if bad[i] {
				next = append(next, r)
				continue
			}
			done(r, at)
		}
		remaining = next
		if len(remaining) > 0 {
			w.ambiguous = true
		}
		return err
	})
}

// readBack reads what this app wrote at or after the marks and takes every
// msgid found as published. It resolves an ambiguous write: Publish promises
// that a failed write can no longer land, so after the read-back every
// record below the new marks is known.
func (w *pageWriter) readBack(ctx context.Context) error {
	p := w.p
	p.stats.readBacks.Add(1)
	now := p.cfg.Now().Unix()
	found := map[int64]int64{}
	ends, err := p.pub.ReadBack(ctx, w.marks, func(f sink.Found) error {
		found[f.MsgID] = p.horizonOf(f, now)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read back after a failed write: %w", err)
	}
	recovered := 0
	for id, h := range found {
		if !w.seen.has(id) {
			w.seen.add(id, h)
			w.pending = append(w.pending, id)
			recovered++
		}
	}
	p.stats.recovered.Add(int64(recovered))
	w.marks, w.marksMoved, w.ambiguous = ends, true, false
	raiseMarks(w.landedEnds, ends) // nothing is in flight: every record below ends is known now
	p.cfg.Logger.Info("read back kafka after a failed write", "records", len(found), "landed_despite_the_error", recovered)
	return nil
}

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

// commitError is a failed checkpoint commit. Run reports it even during a
// shutdown: acknowledged records whose msgids were not saved would be
// published again after the restart.
type commitError struct{ err error }

func (e *commitError) Error() string { return "pipeline: commit checkpoint: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }
