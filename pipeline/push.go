package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// Paths a published record came by, as given to Config.OnPublished.
const (
	PathPoll     = "poll"     // a Report API page
	PathCallback = "callback" // a message routing callback (Push)
)

// APIVersionCallback is the source.api_version of records that came by a
// callback.
const APIVersionCallback = "callback"

// ErrNotRunning is returned by Push when the publisher is not running: it has
// stopped (a shutdown, the end of a bounded run, a failure). Nothing of the
// batch was published by that call.
var ErrNotRunning = errors.New("pipeline: not running")

const (
	// pushCommitDelay is how long msgids published from callbacks may wait
	// for a checkpoint commit when no window commit takes them along. A
	// crash before it costs a read-back at start, not a duplicate: the
	// commit's marks are behind those records.
	pushCommitDelay = 250 * time.Millisecond
	// maxCoalesce bounds the callback requests one Kafka write carries.
	maxCoalesce = 512
	// pushSkew is added to the receive time for the dedupe horizon of a
	// pushed message whose create_time cannot be read: the vendor's clock
	// may be ahead of ours.
	pushSkew = time.Minute
)

// pushCounters are the Callback* fields of Stats.
type pushCounters struct {
	requests, writes, messages, published, duplicates, stale, outside atomic.Int64
}

// pushRequest is one Push call waiting for the publisher.
type pushRequest struct {
	batch source.PushBatch
	reply chan error // buffered: the publisher never waits for the caller
}

// Push publishes a batch of pushed messages through the publisher, the one
// goroutine that owns the dedupe set: it returns nil once every message is
// acknowledged by Kafka (or was published before, by either path) and its
// msgid is in the dedupe set, so that polling skips it. It returns an error
// when ctx ends first (the batch may still be published; sending it again
// publishes nothing twice), with ErrNotRunning when the publisher is not
// running, and with the publish error when Kafka refused it.
//
// Concurrent calls are coalesced into one Kafka write. Push may be called
// before Run: it waits for the publisher.
func (p *Pipeline) Push(ctx context.Context, b source.PushBatch) error {
	req := &pushRequest{batch: b, reply: make(chan error, 1)}
	select {
	case p.pushes <- req:
	case <-p.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return fmt.Errorf("pipeline: push: %w", ctx.Err())
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("pipeline: push: not acknowledged in time: %w", ctx.Err())
	}
}

// stopPushes makes every Push waiting for the publisher, and every later
// one, return ErrNotRunning. The publisher calls it when it returns.
func (p *Pipeline) stopPushes() { p.stopOnce.Do(func() { close(p.stopped) }) }

// published reports an acknowledged record to Config.OnPublished.
func (p *Pipeline) published(path string, r sink.Record, at time.Time) {
	if path == PathCallback && r.DeadLetter == nil {
		p.push.published.Add(1)
	}
	if p.cfg.OnPublished != nil {
		p.cfg.OnPublished(path, r, at)
	}
}

// pushState is the publisher's side of Push.
type pushState struct {
	flush *time.Timer // armed while msgids published from callbacks wait for a commit
}

// flushC fires when msgids published from callbacks are due for a commit;
// nil (never ready) when none wait.
func (w *pageWriter) flushC() <-chan time.Time {
	if w.pushed.flush == nil {
		return nil
	}
	return w.pushed.flush.C
}

// flushPushes commits what callbacks published, unless a window's commit
// took it along meanwhile.
func (w *pageWriter) flushPushes() error {
	w.pushed.flush = nil
	if w.waiting() == 0 && !w.marksMoved {
		return nil
	}
	return w.p.commit(nil, w, true)
}

// push publishes first and every other request already waiting, in one
// Kafka write, and answers each. It returns an error only when the publisher
// must stop (ctx ended, Kafka refused for good).
func (w *pageWriter) push(ctx context.Context, first *pushRequest) error {
	reqs := w.gather(first)
	if err := ctx.Err(); err != nil {
		// Stopped: start no new Kafka write.
		answer(reqs, ErrNotRunning)
		return err
	}
	recs, horizons := w.pushRecords(reqs)
	if len(recs) > 0 {
		p := w.p
		p.push.writes.Add(1)
		err := w.publish(recs, func(r sink.Record) int64 { return horizons[r.MsgID] }, PathCallback)
		if err != nil {
			err = fmt.Errorf("pipeline: publish %d pushed messages: %w", len(recs), err)
			answer(reqs, err)
			return err
		}
		if w.pushed.flush == nil {
			w.pushed.flush = time.NewTimer(pushCommitDelay)
		}
	}
	answer(reqs, nil)
	return nil
}

// gather returns first and the requests already waiting behind it.
func (w *pageWriter) gather(first *pushRequest) []*pushRequest {
	reqs := []*pushRequest{first}
	for len(reqs) < maxCoalesce {
		select {
		case r := <-w.p.pushes:
			reqs = append(reqs, r)
		default:
			return reqs
		}
	}
	return reqs
}

func answer(reqs []*pushRequest, err error) {
	for _, r := range reqs {
		r.reply <- err
	}
}

// pushItem is one message of a push request on its way to a record.
type pushItem struct {
	m       source.Message
	err     error // decode error
	src     schema.Source
	horizon int64
}

// pushRecords turns the messages of reqs that are new into records, ordered
// by send time, and returns each one's dedupe horizon: a second past its
// create_time, the latest a poll query can return it at.
func (w *pageWriter) pushRecords(reqs []*pushRequest) ([]sink.Record, map[int64]int64) {
	p := w.p
	floor := p.pruneHorizon()
	horizons := map[int64]int64{}
	var todo []pushItem
	for _, req := range reqs {
		b := req.batch
		p.push.requests.Add(1)
		p.push.messages.Add(int64(len(b.Messages)))
		src := schema.Source{AppKey: p.cfg.AppKey, Endpoint: b.Endpoint, APIVersion: APIVersionCallback, FetchedAt: b.ReceivedAt}
		for i, m := range b.Messages {
			var derr error
			if i < len(b.Errs) {
				derr = b.Errs[i]
			}
			if !p.covered(m) {
				p.push.outside.Add(1)
				continue
			}
			if _, dup := horizons[m.MsgID]; dup || w.seen.has(m.MsgID) {
				p.stats.duplicates.Add(1)
				p.push.duplicates.Add(1)
				continue
			}
			h := b.ReceivedAt.Add(pushSkew).Unix()
			if sec, ok := createSecond(m, derr); ok {
				h = sec + 1
			}
			if floor > 0 && h < floor {
				p.push.stale.Add(1)
				p.cfg.Logger.Info("pushed message skipped: sent before the poller's dedupe horizon, so polling published it",
					"msgid", m.MsgID, "create_time", time.Unix(m.CreateTime, 0).UTC(), "horizon", time.Unix(floor, 0).UTC())
				continue
			}
			horizons[m.MsgID] = h
			todo = append(todo, pushItem{m: m, err: derr, src: src, horizon: h})
		}
	}
	// Coalesced requests may come out of order: keep each conversation's
	// records in send order within the write.
	slices.SortStableFunc(todo, func(a, b pushItem) int {
		return cmp.Or(cmp.Compare(a.m.CreateTime, b.m.CreateTime), cmp.Compare(a.m.MsgCtime, b.m.MsgCtime))
	})
	recs := make([]sink.Record, 0, len(todo))
	for _, t := range todo {
		recs = append(recs, w.pushRecord(t))
	}
	return recs, horizons
}

// pushRecord encodes one pushed message, or makes it a dead letter.
func (w *pageWriter) pushRecord(t pushItem) sink.Record {
	p := w.p
	m := t.m
	dead := func(stage string, err error) sink.Record {
		p.cfg.Logger.Warn("message sent to the dead-letter topic", "msgid", m.MsgID, "stage", stage, "stream", PathCallback, "error", err)
		return sink.Record{Value: m.Raw, MsgID: m.MsgID, MsgType: m.MsgType, Time: eventTime(m, t.src.FetchedAt),
			DeadLetter: &sink.DeadLetter{Stage: stage, Reason: err.Error(), Stream: PathCallback, Endpoint: t.src.Endpoint}}
	}
	if t.err != nil {
		return dead("decode", t.err)
	}
	native, err := schema.Native(m, t.src)
	if err != nil {
		return dead("transform", err)
	}
	value, err := p.codec.Encode(native)
	if err != nil {
		return dead("encode", err)
	}
	return sink.Record{Key: schema.ConversationID(m), Value: value, MsgID: m.MsgID, MsgType: m.MsgType,
		Time: eventTime(m, t.src.FetchedAt), ContentType: p.codec.ContentType()}
}

// covered reports whether a configured stream serves m, so that polling
// reconciles it: every message for the app's /messages; for a user, what the
// user sent and single messages to the user; for a group or chatroom, its
// messages. The vendor routes every message of the app; the others are not
// published.
func (p *Pipeline) covered(m source.Message) bool {
	for _, s := range p.cfg.Streams {
		switch s.Kind {
		case source.KindMessages:
			return true
		case source.KindUsers:
			if m.FromID == s.Name || (m.TargetType == "single" && m.TargetID == s.Name) {
				return true
			}
		case source.KindGroups:
			if m.TargetType == "group" && m.TargetID == s.Name {
				return true
			}
		case source.KindChatrooms:
			if m.TargetType == "chatroom" && m.TargetID == s.Name {
				return true
			}
		}
	}
	return false
}

// pruneHorizon is the horizon below which the dedupe set drops msgids at the
// next commit (0: none): a poll query can no longer return a message whose
// horizon is below it.
func (p *Pipeline) pruneHorizon() int64 {
	p.mu.Lock()
	all := make([]time.Time, 0, len(p.cursors))
	for _, c := range p.cursors {
		all = append(all, c)
	}
	p.mu.Unlock()
	h := PruneBefore(all, p.cfg.Lookback)
	if h.IsZero() {
		return 0
	}
	return h.Unix()
}
