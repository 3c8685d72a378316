package service

import (
	"context"
	"time"

	"github.com/imreport/imreport/internal/ownership"
	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/internal/service/progress"
	"github.com/imreport/imreport/internal/state"
	"github.com/imreport/imreport/pipeline"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
	"github.com/imreport/imreport/source/callback"
)

// runPipeline builds the pipeline, starts its progress reporter and the
// callback receiver, and runs it on pipeCtx; ctx is Run's own.
func (r *run) runPipeline(ctx, pipeCtx context.Context, codec *schema.Codec, client *source.Client, writer *sink.Writer, opened state.Opened, lease *ownership.Lease) error {
	var reporter *progress.Reporter
	var pub interface {
		pipeline.Publisher
		PutState(ctx context.Context, key string, value []byte) error
	} = writer
	if lease != nil {
		pub = ownership.Fenced{Writer: writer, Lease: lease}
	}
	snapshots := state.NewWriter(pub, r.cfg.Sink.AppKey, r.cfg.Logger, func(s state.Snapshot) { r.m.SnapshotWritten(s.Sequence) })
	pc := r.pipelineConfig(codec, client.APIVersion(), func() *progress.Reporter { return reporter })
	pc.Lineage = opened.Lineage
	pc.OnSnapshot = func(s pipeline.Snapshot) {
		snapshots.Offer(state.FromPipeline(s, r.cfg.Sink.AppKey, r.cfg.Sink.Topic, opened.Lineage, r.now()))
	}
	p, err := pipeline.New(pc, client, pub, opened.Store)
	if err != nil {
		return err
	}
	// Snapshots are written in the background until the pipeline returns,
	// then the last one within snapshotGrace.
	snapCtx, stopSnapshots := context.WithCancel(context.WithoutCancel(ctx))
	snapDone := make(chan struct{})
	go func() {
		defer close(snapDone)
		snapshots.Run(snapCtx, snapshotGrace)
	}()
	defer func() {
		stopSnapshots()
		<-snapDone
	}()
	r.m.Watch(p)
	reporter = progress.ForPipeline(r.cfg.Progress, p.StreamProgress, r.cfg.Logger, r.hooks.Bars, r.now, func(st []progress.Status) {
		r.m.ObserveProgress(st)
		r.board.Progress(st)
	})
	reporter.Sleep = r.hooks.ProgressSleep
	defer reporter.Start(pipeCtx)()
	stopCallback, err := r.serveCallback(ctx, p)
	if err != nil {
		return err
	}
	defer stopCallback()
	if r.hooks.OnPipeline != nil {
		r.hooks.OnPipeline(p)
	}
	if ctx.Err() == nil {
		r.board.Running(p.StreamProgress)
	}
	return p.Run(pipeCtx)
}

// snapshotGrace is how long a run that ends may take to write its last
// snapshot to the state topic.
const snapshotGrace = 10 * time.Second

// pipelineConfig is the pipeline's configuration with the run's codec,
// clock and observers; reporter is the progress reporter once it exists.
func (r *run) pipelineConfig(codec *schema.Codec, apiVersion string, reporter func() *progress.Reporter) pipeline.Config {
	pc := r.cfg.Pipeline
	pc.APIVersion, pc.Codec, pc.Now, pc.Sleep = apiVersion, codec, r.now, r.hooks.Sleep
	// Unlimited: a Kafka outage pauses the pipeline (bounded memory: the
	// stages block) until the broker is back. Non-retryable errors stop it.
	pc.PublishRetry = retry.Policy{Initial: 500 * time.Millisecond, Max: 5 * time.Second,
		OnRetry: func(_ int, err error, _ time.Duration) { r.board.KafkaResult(err) }}
	pc.OnPublished = func(path string, rec sink.Record, at time.Time) {
		r.m.ObservePublished(path, rec, at)
		r.board.KafkaResult(nil)
		if r.hooks.OnPublished != nil {
			r.hooks.OnPublished(path, rec, at)
		}
	}
	pc.OnCommit = func(pr pipeline.Progress) {
		r.m.ObserveCommit(pr)
		r.cfg.Progress.AnnounceWait(reporter(), pr.Cursors, r.now())
		if r.hooks.OnCommit != nil {
			r.hooks.OnCommit(pipeline.Oldest(pr.Cursors))
		}
	}
	return pc
}

// serveCallback starts the message routing receiver on its own listener
// when an address is set (callback.Receiver.Start).
func (r *run) serveCallback(ctx context.Context, p *pipeline.Pipeline) (stop func(), err error) {
	if r.cfg.CallbackAddr == "" {
		return func() {}, nil
	}
	cc := r.cfg.Callback
	cc.OnRequest = r.m.ObserveCallback
	rc, err := callback.New(cc, p)
	if err != nil {
		return nil, err
	}
	return rc.Start(ctx, r.cfg.CallbackAddr, r.hooks.OnCallback)
}
