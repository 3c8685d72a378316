package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/retry"
	"github.com/imreport/imreport/sink"
)

// Marks are Kafka offsets, topic -> partition -> offset: every record of this
// app below them is known to the checkpoint.
type marks = map[string]map[int]int64

// reconcile runs before anything is published. A crash between Kafka's
// acknowledgement and the checkpoint commit leaves records in Kafka that the
// checkpoint does not know: it reads every record of this app written at or
// after the checkpoint's marks, takes their msgids as published, and commits
// them with the new marks. The work is bounded by what was written after the
// last commit.
func (p *Pipeline) reconcile(ctx context.Context, state checkpoint.State, seen *seenSet) (marks, error) {
	old := state.Marks
	if len(old) == 0 && state.Commits > 0 {
		p.cfg.Logger.Warn("the checkpoint holds no Kafka offsets (written by an older imreport): records written after its last commit cannot be reconciled; from now on they are")
	}
	policy := p.kafkaPolicy(ctx, "kafka read-back failed, retrying")
	pending := map[int64]int64{}
	horizon := p.cfg.Now().Unix()
	var ends marks
	var records int
	began := time.Now()
	err := policy.Do(ctx, func(ctx context.Context) error {
		if len(old) == 0 {
			// A new checkpoint: nothing of this pipeline can be in Kafka
			// yet. Record where the topics end now.
			m, err := p.pub.Marks(ctx)
			ends = m
			return err
		}
		records = 0
		p.stats.readBacks.Add(1)
		m, err := p.pub.ReadBack(ctx, old, func(f sink.Found) error {
			records++
			if !seen.has(f.MsgID) {
				pending[f.MsgID] = horizon
			}
			return nil
		})
		ends = m
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: reconcile with kafka: %w", err)
	}
	for id, h := range pending {
		seen.add(id, h)
	}
	p.stats.recovered.Add(int64(len(pending)))
	p.stats.seen.Store(int64(seen.len()))
	if len(old) > 0 {
		p.cfg.Logger.Info("reconciled with kafka", "records_after_checkpoint", records,
			"unknown_to_checkpoint", len(pending), "elapsed", time.Since(began).Round(time.Millisecond))
	}
	if err := p.cp.Commit(checkpoint.Commit{Seen: pending, Marks: ends, Now: p.cfg.Now()}); err != nil {
		return nil, &commitError{err: err}
	}
	p.stats.commits.Add(1)
	return ends, nil
}

// kafkaPolicy is Config.PublishRetry with its waits cut short by ctx and
// every retry counted and logged.
func (p *Pipeline) kafkaPolicy(ctx context.Context, msg string) retry.Policy {
	policy := p.cfg.PublishRetry
	sleep := policy.Sleep
	if sleep == nil {
		sleep = retry.Sleep
	}
	policy.Sleep = func(_ context.Context, d time.Duration) error { return sleep(ctx, d) }
	policy.OnRetry = func(attempt int, err error, wait time.Duration) {
		p.stats.retries.Add(1)
		p.cfg.Logger.Warn(msg, "attempt", attempt, "wait", wait, "error", err)
	}
	return policy
}

// copyMarks returns a deep copy of m.
func copyMarks(m marks) marks {
	out := make(marks, len(m))
	for t, ps := range m {
		c := make(map[int]int64, len(ps))
		for k, v := range ps {
			c[k] = v
		}
		out[t] = c
	}
	return out
}
