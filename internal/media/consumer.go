package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
)

// Decoder decodes a message record's value: schema.Decoder.
type Decoder interface {
	Decode(ctx context.Context, b []byte) (schema.Decoded, error)
}

// Config configures a Consumer.
type Config struct {
	Kafka          sink.Config // the messages topic (Topic) and how to reach Kafka
	MediaTopic     string
	Group          string
	SessionTimeout time.Duration
	Decoder        Decoder
	Codec          *schema.MediaCodec
	Archiver       *Archiver
	Concurrency    int // downloads at once, in all partitions
	Window         int // references in flight per partition (0 = 4 x Concurrency)
	CommitEvery    time.Duration
	Metrics        *Metrics
	Logger         *slog.Logger
}

// Consumer is imreport media's consumer group member.
type Consumer struct {
	cfg    Config
	w      *sink.Writer // the media topic (main); its dead-letter topic is never written
	client *kafka.Client
	sem    chan struct{}

	Assigned atomic.Int64 // partitions held now (readiness)
	Joined   atomic.Bool
}

// New checks cfg and prepares the media topic's writer (it does not
// connect).
func New(cfg Config) (*Consumer, error) {
	if cfg.Window <= 0 {
		cfg.Window = 4 * cfg.Concurrency
	}
	if cfg.CommitEvery <= 0 {
		cfg.CommitEvery = time.Second
	}
	wcfg := cfg.Kafka
	wcfg.Topic, wcfg.DLQTopic = cfg.MediaTopic, cfg.Kafka.DLQTopic
	if wcfg.DLQTopic == "" {
		wcfg.DLQTopic = cfg.Kafka.Topic + ".dlq"
	}
	w, err := sink.New(wcfg)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	client, err := cfg.Kafka.Client()
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return &Consumer{cfg: cfg, w: w, client: client, sem: make(chan struct{}, cfg.Concurrency)}, nil
}

// Writer is the media topic's writer (topic checks, doctor).
func (c *Consumer) Writer() *sink.Writer { return c.w }

// Run joins the group and archives the partitions it is given until ctx
// ends (nil then) or the group fails for good.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.w.Close()
	dialer, err := c.cfg.Kafka.Dialer()
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: c.cfg.Group, Brokers: c.cfg.Kafka.Brokers, Dialer: dialer, Topics: []string{c.cfg.Kafka.Topic},
		SessionTimeout: c.cfg.SessionTimeout, RebalanceTimeout: 2 * c.cfg.SessionTimeout, HeartbeatInterval: c.cfg.SessionTimeout / 4,
		JoinGroupBackoff: time.Second, StartOffset: kafka.FirstOffset, WatchPartitionChanges: true, PartitionWatchInterval: 10 * time.Second,
		Timeout: 10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("media: consumer group: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = group.Close() })
	defer stop()
	defer group.Close()
	for {
		gen, err := group.Next(ctx)
		if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
			return nil
		}
		if err != nil {
			c.cfg.Logger.Warn("media: joining the consumer group failed; retrying", "error", err)
			if retry.Sleep(ctx, time.Second) != nil {
				return nil
			}
			continue
		}
		c.Joined.Store(true)
		parts := gen.Assignments[c.cfg.Kafka.Topic]
		ids := make([]int, len(parts))
		for i, pa := range parts {
			ids[i] = pa.ID
		}
		c.cfg.Logger.Info("media partitions assigned", "generation", gen.ID, "member", gen.MemberID, "partitions", ids)
		c.cfg.Metrics.assigned.Set(float64(len(ids)))
		c.Assigned.Store(int64(len(ids)))
		for _, p := range ids {
			gen.Start(func(gctx context.Context) {
				// The partition is this member's until the generation ends:
				// after an error it starts over (read-back included), else
				// it would stay idle until the next rebalance.
				for {
					err := c.partition(gctx, gen, p)
					if err == nil || gctx.Err() != nil {
						return
					}
					c.cfg.Logger.Error("media partition stopped; starting it over", "partition", p, "error", err)
					if retry.Sleep(gctx, 2*time.Second) != nil {
						return
					}
				}
			})
		}
	}
}

// pos is where a media record landed.
type pos struct {
	partition int
	offset    int64
}

// part is the state of one assigned partition, owned by its main loop.
type part struct {
	p         int
	gen       *kafka.Generation
	committed int64          // offset committed (or found at the start)
	next      int64          // next offset to read; -1 = none read yet
	pending   map[int64]int  // source offset -> references not yet published
	order     []int64        // source offsets read, ascending, not yet committed
	landed    map[refKey]pos // media records of references at or after committed
	marksNow  map[int]int64  // last committed marks
}

type event struct {
	offset int64
	items  []Item
}

// partition archives partition p for one generation: it reads back what
// the media topic already holds for the partition's uncommitted records,
// then reads from the committed offset, archives every reference not yet
// recorded, publishes its record, and commits the offset below which every
// reference is recorded, with the media topic's offsets from which a later
// read-back finds every record above it (the commit's metadata).
func (c *Consumer) partition(ctx context.Context, gen *kafka.Generation, p int) error {
	st := &part{p: p, gen: gen, next: -1, pending: map[int64]int{}, landed: map[refKey]pos{}}
	committed, marks, err := c.fetchCommitted(ctx, p)
	if err != nil {
		return err
	}
	st.committed, st.marksNow = committed, marks
	if err := c.readBack(ctx, p, committed, marks, st.landed); err != nil {
		return err
	}
	c.cfg.Logger.Info("media partition resumed", "partition", p, "committed", committed, "already_recorded", len(st.landed))

	g, gctx := errgroup.WithContext(ctx)
	events := make(chan event)
	results := make(chan Result)
	g.Go(func() error { return c.read(gctx, p, committed, st.landed, events) })

	var queue []Item
	inFlight := 0
	tick := time.NewTicker(c.cfg.CommitEvery)
	defer tick.Stop()
	var loopErr error
loop:
	for {
		in := events
		if len(queue) >= c.cfg.Window {
			in = nil
		}
		for inFlight < c.cfg.Window && len(queue) > 0 {
			it := queue[0]
			queue = queue[1:]
			inFlight++
			g.Go(func() error {
				select {
				case c.sem <- struct{}{}:
				case <-gctx.Done():
					return nil
				}
				res, err := c.cfg.Archiver.Archive(gctx, it)
				<-c.sem
				if err != nil {
					return nil // the generation ended
				}
				select {
				case results <- res:
				case <-gctx.Done():
				}
				return nil
			})
		}
		select {
		case ev := <-in:
			st.pending[ev.offset] = len(ev.items)
			st.order = append(st.order, ev.offset)
			st.next = ev.offset + 1
			queue = append(queue, ev.items...)
		case res := <-results:
			batch := gather(res, results)
			inFlight -= len(batch)
			ats, err := c.publish(gctx, p, batch)
			if err != nil {
				loopErr = err
				break loop
			}
			for i, res := range batch {
				c.cfg.Metrics.published(res)
				st.pending[res.Offset]--
				st.landed[refKey{res.Offset, res.Role}] = ats[i]
			}
		case <-tick.C:
			if err := c.commit(gctx, st); err != nil {
				c.cfg.Logger.Warn("media commit failed", "partition", p, "error", err)
			}
		case <-gctx.Done():
			break loop
		}
	}
	// Commit what is done (the generation may have ended: then the broker
	// refuses, and the next owner reads back instead).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if err := c.commit(cctx, st); err != nil {
		c.cfg.Logger.Debug("media final commit", "partition", p, "error", err)
	}
	cancel()
	g.Go(func() error { return context.Canceled }) // stop the reader and workers
	err = g.Wait()
	if loopErr != nil {
		return loopErr
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	return err
}

// read reads partition p from offset (committed; -1 = the first) and sends
// each record's references not in landed. It reads through the sink, whose
// reads have a budget and no client deadline shorter than it: a broker far
// away makes it slower, never stuck.
func (c *Consumer) read(ctx context.Context, p int, offset int64, landed map[refKey]pos, out chan<- event) error {
	skip := make(map[refKey]bool, len(landed))
	for k := range landed { // landed is the main loop's from now on
		skip[k] = true
	}
	opts := sink.ConsumeOptions{Topic: c.cfg.Kafka.Topic, Partition: p, Start: sink.FromOffset, Offset: offset, Follow: true}
	if offset < 0 {
		opts.Start = sink.FromBeginning
	}
	fn := func(m sink.Message) error {
		c.cfg.Metrics.setLag(p, max(m.HighWatermark-m.Offset-1, 0))
		ev := event{offset: m.Offset}
		for _, x := range c.items(ctx, m) {
			if !skip[refKey{m.Offset, x.Role}] {
				ev.items = append(ev.items, x)
			}
		}
		select {
		case out <- ev:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := c.w.Consume(ctx, opts, fn)
	if errors.Is(err, sink.ErrOffsetOutOfRange) && opts.Start == sink.FromOffset {
		// Retention deleted records past the committed offset: what is
		// left is read from its first offset.
		c.cfg.Logger.Warn("media: the committed offset is no longer in the topic; reading from its first offset", "partition", p, "offset", offset)
		opts.Start = sink.FromBeginning
		err = c.w.Consume(ctx, opts, fn)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("media: read partition %d: %w", p, err)
	}
	return ctx.Err()
}

// items decodes a message record and lists its references.
func (c *Consumer) items(ctx context.Context, m sink.Message) []Item {
	d, err := c.cfg.Decoder.Decode(ctx, m.Value)
	if err != nil {
		c.cfg.Logger.Warn("media: a record of the messages topic does not decode; skipped", "partition", m.Partition, "offset", m.Offset, "error", err)
		return nil
	}
	body, _ := d.Record["msg_body"].(string)
	if !strings.Contains(body, "media_id") {
		return nil
	}
	refs := Refs(body)
	out := make([]Item, 0, len(refs))
	msgid, _ := d.Record["msgid"].(int64)
	msgType, _ := d.Record["msg_type"].(string)
	appKey := c.cfg.Kafka.AppKey
	if src, ok := d.Record["source"].(map[string]any); ok {
		if k, ok := src["app_key"].(string); ok && k != "" {
			appKey = k
		}
	}
	for _, r := range refs {
		out = append(out, Item{Ref: r, MsgID: msgid, AppKey: appKey, MsgType: msgType, Topic: c.cfg.Kafka.Topic, Partition: m.Partition, Offset: m.Offset})
	}
	return out
}

// maxBatch bounds the records of one write to the media topic.
const maxBatch = 512

// gather returns first and the results already waiting behind it, up to
// maxBatch: one write carries them all.
func gather(first Result, results <-chan Result) []Result {
	batch := []Result{first}
	for len(batch) < maxBatch {
		select {
		case r := <-results:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// publish writes the records of batch (results of source partition p) in
// one write and returns where each landed. After a failed write (the
// writer fenced it) it takes the acknowledged ones as landed, reads back
// whether the others did, and writes again only those that did not.
func (c *Consumer) publish(ctx context.Context, p int, batch []Result) ([]pos, error) {
	recs := make([]sink.Record, len(batch))
	from := batch[0].Offset
	for i, res := range batch {
		value, err := c.cfg.Codec.Encode(res.Native())
		if err != nil {
			return nil, fmt.Errorf("media: %w", err)
		}
		recs[i] = sink.Record{Key: strconv.FormatInt(res.MsgID, 10), Value: value, MsgID: res.MsgID, MsgType: res.MsgType,
			Time: res.FetchedAt, ContentType: c.cfg.Codec.ContentType()}
		from = min(from, res.Offset)
	}
	at := make([]pos, len(batch))
	done := make([]bool, len(batch))
	wait := 500 * time.Millisecond
	for {
		var todo []int
		for i := range batch {
			if !done[i] {
				todo = append(todo, i)
			}
		}
		if len(todo) == 0 {
			return at, nil
		}
		before, err := c.w.Marks(ctx, time.Time{})
		if err == nil {
			sub := make([]sink.Record, len(todo))
			for k, i := range todo {
				sub[k] = recs[i]
			}
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			err = c.w.Publish(pctx, sub)
			cancel()
			for k, i := range todo {
				if sub[k].Topic != "" { // acknowledged, whatever Publish returned
					at[i], done[i] = pos{sub[k].Partition, sub[k].Offset}, true
				}
			}
			if err == nil {
				continue
			}
			found := map[refKey]pos{}
			if rerr := c.readBackFrom(ctx, p, from, before, found); rerr == nil {
				for _, i := range todo {
					if a, ok := found[refKey{batch[i].Offset, batch[i].Role}]; ok && !done[i] {
						at[i], done[i] = a, true
					}
				}
			}
		}
		c.cfg.Logger.Warn("media: publishing failed; retrying", "partition", p, "records", len(todo), "error", err)
		if retry.Sleep(ctx, wait) != nil {
			return nil, ctx.Err()
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// fetchCommitted returns the group's committed offset of p (-1 = none) and
// the media topic marks stored with it (nil = none: read it all back).
func (c *Consumer) fetchCommitted(ctx context.Context, p int) (int64, map[int]int64, error) {
	resp, err := c.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.Group, Topics: map[string][]int{c.cfg.Kafka.Topic: {p}}})
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	if err != nil {
		return 0, nil, fmt.Errorf("media: committed offset of partition %d: %w", p, err)
	}
	for _, fp := range resp.Topics[c.cfg.Kafka.Topic] {
		if fp.Partition == p {
			if fp.Error != nil {
				return 0, nil, fmt.Errorf("media: committed offset of partition %d: %w", p, fp.Error)
			}
			return fp.CommittedOffset, parseMarks(fp.Metadata), nil
		}
	}
	return -1, nil, nil
}

// readBack finds the media records of partition p's references at or
// after offset, reading the media topic from marks.
func (c *Consumer) readBack(ctx context.Context, p int, offset int64, marks map[int]int64, into map[refKey]pos) error {
	ends, err := c.w.Marks(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("media: read-back: %w", err)
	}
	from := map[string]map[int]int64{c.w.DLQTopic(): ends[c.w.DLQTopic()]}
	if marks != nil {
		from[c.cfg.MediaTopic] = marks
	}
	return c.readBackFrom(ctx, p, offset, from, into)
}

func (c *Consumer) readBackFrom(ctx context.Context, p int, offset int64, from map[string]map[int]int64, into map[refKey]pos) error {
	if from[c.w.DLQTopic()] == nil {
		ends, err := c.w.Marks(ctx, time.Time{})
		if err != nil {
			return fmt.Errorf("media: read-back: %w", err)
		}
		from = maps.Clone(from)
		from[c.w.DLQTopic()] = ends[c.w.DLQTopic()]
	}
	_, err := c.w.ReadBack(ctx, from, func(f sink.Found) error {
		if f.Topic != c.cfg.MediaTopic {
			return nil
		}
		rec, err := c.cfg.Codec.Decode(f.Value)
		if err != nil {
			c.cfg.Logger.Warn("media: a media record does not decode; ignored", "partition", f.Partition, "offset", f.Offset, "error", err)
			return nil
		}
		if rec["source_topic"] != c.cfg.Kafka.Topic || rec["source_partition"] != int32(p) {
			return nil
		}
		off, _ := rec["source_offset"].(int64)
		role, _ := rec["role"].(string)
		if off >= offset {
			k := refKey{off, role}
			if _, dup := into[k]; !dup {
				into[k] = pos{f.Partition, f.Offset}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("media: read-back: %w", err)
	}
	return nil
}

// commit commits the offset below which every reference is recorded, with
// marks: per media partition the lowest offset of a record of a reference
// at or after it, else the partition's end (the main loop publishes, so no
// write of this partition is in flight).
func (c *Consumer) commit(ctx context.Context, st *part) error {
	for len(st.order) > 0 && st.pending[st.order[0]] <= 0 {
		delete(st.pending, st.order[0])
		st.order = st.order[1:]
	}
	off := st.next
	if len(st.order) > 0 {
		off = st.order[0]
	}
	if off < 0 || off == st.committed {
		return nil
	}
	ends, err := c.w.Marks(ctx, time.Time{})
	if err != nil {
		return err
	}
	marks := maps.Clone(ends[c.cfg.MediaTopic])
	for k, at := range st.landed {
		if k.offset < off {
			delete(st.landed, k)
		} else if m, ok := marks[at.partition]; !ok || at.offset < m {
			marks[at.partition] = at.offset
		}
	}
	resp, err := c.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: c.cfg.Group, GenerationID: int(st.gen.ID), MemberID: st.gen.MemberID,
		Topics: map[string][]kafka.OffsetCommit{c.cfg.Kafka.Topic: {{Partition: st.p, Offset: off, Metadata: formatMarks(marks)}}}})
	if err != nil {
		return err
	}
	for _, ps := range resp.Topics {
		for _, pr := range ps {
			if pr.Error != nil {
				return pr.Error
			}
		}
	}
	st.committed, st.marksNow = off, marks
	return nil
}

// Marks are stored as "m1 p=o,p=o".
func formatMarks(m map[int]int64) string {
	var b strings.Builder
	b.WriteString("m1 ")
	first := true
	for p, o := range m {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Itoa(p) + "=" + strconv.FormatInt(o, 10))
	}
	return b.String()
}

func parseMarks(s string) map[int]int64 {
	rest, ok := strings.CutPrefix(s, "m1 ")
	if !ok {
		return nil
	}
	out := map[int]int64{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		p, err1 := strconv.Atoi(k)
		o, err2 := strconv.ParseInt(v, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil
		}
		out[p] = o
	}
	return out
}
