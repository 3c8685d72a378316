// Package ownership makes one instance per app key and topic the owner:
// every instance joins one Kafka consumer group over the state topic
// (kafka-go's ConsumerGroup), and only the member the coordinator assigns
// the state topic's partition runs the pipeline; the others stand by until a
// rebalance gives it to them (the owner left, was killed, or stopped
// heartbeating for longer than the session timeout).
//
// The coordinator's word is only as fresh as the last heartbeat: a paused
// owner does not know that it lost the partition. Lease.Check, called
// before every Kafka write, confirms the generation with the coordinator
// (an offset commit carrying the generation, which the coordinator refuses
// for a stale one) whenever the last confirmation is older than a third of
// the session timeout.
package ownership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// ErrNotOwner is returned by Lease.Check (and so by a fenced write) once
// this member's generation has ended or the coordinator refused it: another
// member may own the app now.
var ErrNotOwner = errors.New("not the owner any more")

// ErrOwnedElsewhere is returned by Run with Config.NoStandby when the
// coordinator gives the app to another member.
var ErrOwnedElsewhere = errors.New("another member owns the app")

// GroupID is the owner group of an app key and topic.
func GroupID(appKey, topic string) string { return "imreport.owner." + topic + "." + appKey }

// Config configures Run.
type Config struct {
	GroupID string // one group per app key and topic
	Brokers []string
	Dialer  *kafka.Dialer
	Topic   string // the state topic; its partition 0 is the ownership
	// SessionTimeout is how long the coordinator waits for a silent
	// member before it gives its partition to another; 0 = 10s.
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the coordinator waits, in a rebalance,
	// for a live member to rejoin: an owner whose generation ended first
	// lets its write in flight finish, and no other member may be given
	// the partition meanwhile. 0 = SessionTimeout.
	RebalanceTimeout time.Duration
	Logger           *slog.Logger
	Now              func() time.Time // nil = time.Now
	// OnChange, if set, is told when this member becomes the owner
	// (owner true) and when it stops being one.
	OnChange func(owner bool, memberID string, generation int32, since time.Time)
	// NoStandby makes Run return ErrOwnedElsewhere instead of standing by
	// when another member owns the app (a one-off job such as a repair,
	// which must not wait for, or take over from, a running owner).
	NoStandby bool
}

// Lease is this member's ownership for one generation.
type Lease struct {
	MemberID   string
	Generation int32
	Since      time.Time

	gen    *kafka.Generation
	ctx    context.Context // ends with the generation
	topic  string
	fresh  time.Duration
	now    func() time.Time
	mu     sync.Mutex
	lastOK time.Time
}

// Check returns nil if this member still owns the app: the generation is
// alive and the coordinator confirmed it within the last third of the
// session timeout (else it asks now, synchronously). Otherwise it returns an
// error wrapping ErrNotOwner.
func (l *Lease) Check(ctx context.Context) error {
	if l.ctx.Err() != nil {
		return fmt.Errorf("ownership: generation %d ended: %w", l.Generation, ErrNotOwner)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	asked := l.now()
	if asked.Sub(l.lastOK) < l.fresh {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The offset means nothing: the commit is a question the coordinator
	// answers only for the current generation's members.
	if err := l.gen.CommitOffsets(map[string]map[int]int64{l.topic: {0: 0}}); err != nil {
		return fmt.Errorf("ownership: the coordinator refused generation %d: %w: %w", l.Generation, ErrNotOwner, err)
	}
	// Confirmed as of when it was asked: a pause after the question does
	// not count as fresh.
	l.lastOK = asked
	return nil
}

// Run joins the group and, each time this member is given the state
// partition, calls owned with a context that ends when the generation ends
// (or ctx does) and the generation's Lease. It returns nil when ctx ends or
// owned returns nil while still the owner (a bounded run that finished),
// and owned's error when that is not ErrNotOwner and the generation is still
// alive. While another member owns the app, it waits.
func Run(ctx context.Context, cfg Config, owned func(ctx context.Context, l *Lease) error) error {
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if cfg.RebalanceTimeout < cfg.SessionTimeout {
		cfg.RebalanceTimeout = cfg.SessionTimeout
	}
	heartbeat := max(cfg.SessionTimeout/10, 100*time.Millisecond)
	balancer := newSticky()
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                cfg.GroupID,
		GroupBalancers:    []kafka.GroupBalancer{balancer},
		Brokers:           cfg.Brokers,
		Dialer:            cfg.Dialer,
		Topics:            []string{cfg.Topic},
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		HeartbeatInterval: heartbeat,
		JoinGroupBackoff:  time.Second,
		Timeout:           cfg.SessionTimeout / 2,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Logger.Debug("kafka consumer group", "detail", fmt.Sprintf(msg, args...))
		}),
	})
	if err != nil {
		return fmt.Errorf("ownership: consumer group %q: %w", cfg.GroupID, err)
	}
	defer cg.Close()
	cfg.Logger.Info("joining the owner group: only the member holding the state partition runs the pipeline",
		"group", cfg.GroupID, "state_topic", cfg.Topic, "session_timeout", cfg.SessionTimeout)
	standby := false
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			cfg.Logger.Warn("owner group: joining failed, retrying", "group", cfg.GroupID, "error", err)
			continue
		}
		if !holds(gen, cfg.Topic) {
			balancer.setHeld(-1)
			if cfg.NoStandby {
				return fmt.Errorf("ownership: group %q, generation %d: %w", cfg.GroupID, gen.ID, ErrOwnedElsewhere)
			}
			if !standby {
				cfg.Logger.Info("standing by: another member owns the app", "group", cfg.GroupID, "member", gen.MemberID, "generation", gen.ID)
				standby = true
			}
			continue
		}
		balancer.setHeld(gen.ID)
		standby = false
		since := now()
		type result struct {
			err   error
			ended bool // the generation ended before owned returned
		}
		done := make(chan result, 1)
		gen.Start(func(gctx context.Context) {
			octx, cancel := context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(gctx, cancel)
			defer stop()
			l := &Lease{MemberID: gen.MemberID, Generation: gen.ID, Since: since, gen: gen, ctx: gctx,
				topic: cfg.Topic, fresh: cfg.SessionTimeout / 3, now: now, lastOK: since}
			cfg.Logger.Info("owner of the app: running the pipeline", "group", cfg.GroupID, "member", gen.MemberID, "generation", gen.ID, "since", since.UTC())
			if cfg.OnChange != nil {
				cfg.OnChange(true, gen.MemberID, gen.ID, since)
			}
			err := owned(octx, l)
			done <- result{err: err, ended: gctx.Err() != nil}
		})
		res := <-done
		err = res.err
		if cfg.OnChange != nil {
			cfg.OnChange(false, gen.MemberID, gen.ID, since)
		}
		lost := res.ended || errors.Is(err, ErrNotOwner)
		switch {
		case ctx.Err() != nil:
			return nil
		case lost:
			cfg.Logger.Warn("lost the ownership of the app: the pipeline stopped, standing by", "group", cfg.GroupID,
				"member", gen.MemberID, "generation", gen.ID, "owned_for", now().Sub(since).Round(time.Millisecond), "error", err)
		case err != nil:
			return err
		default:
			return nil // finished while the owner
		}
	}
}

// holds reports whether gen assigns this member partition 0 of topic.
func holds(gen *kafka.Generation, topic string) bool {
	for _, a := range gen.Assignments[topic] {
		if a.ID == 0 {
			return true
		}
	}
	return false
}
