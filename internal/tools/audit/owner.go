package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imreport/imreport/checkpoint"
	"github.com/imreport/imreport/internal/ownership"
	"github.com/imreport/imreport/internal/state"
	"github.com/imreport/imreport/pipeline"
)

// repairAsOwner runs the repair as the owner of the app: it joins the
// owner group without standing by, so while another instance owns the app
// it fails at once (a repair beside a running owner would be a second
// writer; taking over from it is not a repair's business). As the owner it
// opens the checkpoint against the state topic (state.Open: a missing,
// corrupt or superseded file is restored from the newest snapshot, as the
// pipeline's would be), repairs with every Kafka write fenced by the
// ownership, and writes a snapshot of the result: the next owner then
// continues from it (its own file is behind and is moved aside), and its
// read-back covers what the repair published.
func (c *Clients) repairAsOwner(ctx context.Context, rep *Report, job RepairJob) (*RepairReport, error) {
	oc := *job.Owner
	oc.Topic, oc.NoStandby = c.kafka.StateTopic(), true
	var out *RepairReport
	err := ownership.Run(ctx, oc, func(octx context.Context, lease *ownership.Lease) error {
		var err error
		out, err = c.repairOwned(octx, rep, job, lease)
		return err
	})
	switch {
	case errors.Is(err, ownership.ErrOwnedElsewhere):
		return out, fmt.Errorf("repair: %w: an instance of the pipeline runs; stop every instance of the app (kubectl scale --replicas=0), run audit --repair, start them again", err)
	case err != nil:
		return out, err
	case out == nil:
		return nil, fmt.Errorf("repair: stopped before it owned the app: %w", context.Cause(ctx))
	}
	return out, nil
}

// repairOwned is the repair of an owner holding lease.
func (c *Clients) repairOwned(ctx context.Context, rep *Report, job RepairJob, lease *ownership.Lease) (*RepairReport, error) {
	logger := job.Pipeline.Logger
	opened, err := state.Open(ctx, state.Options{Checkpoint: checkpoint.Options{Path: job.CheckpointPath, LockTimeout: job.LockTimeout},
		Identity: c.identity, Kafka: c.kafka, Logger: logger, Now: job.Pipeline.Now})
	if errors.Is(err, checkpoint.ErrLocked) {
		return nil, fmt.Errorf("repair: %w: a pipeline on this checkpoint is running; stop it, run audit --repair, start it again", err)
	}
	if err != nil {
		return nil, fmt.Errorf("repair: %w", err)
	}
	defer opened.Store.Close()
	pub := ownership.Fenced{Writer: c.kafka, Lease: lease}
	out, err := c.repairWith(ctx, rep, job, pub, opened.Store, opened.Lineage)
	if err != nil {
		return out, err
	}
	now := job.Pipeline.Now
	if now == nil {
		now = time.Now
	}
	return out, c.putSnapshot(ctx, pub, opened, now)
}

// putSnapshot writes the checkpoint's state after a repair to the state
// topic (nothing when it has no commit sequence: nothing was committed
// since a version without snapshots).
func (c *Clients) putSnapshot(ctx context.Context, pub ownership.Fenced, opened state.Opened, now func() time.Time) error {
	st, err := opened.Store.Load()
	if err != nil {
		return fmt.Errorf("repair: snapshot: %w", err)
	}
	if st.Sequence == 0 {
		return nil
	}
	ps := pipeline.Snapshot{Cursors: st.Cursors, Sequence: st.Sequence, Floor: st.Floor, PrunedBefore: st.PrunedBefore}
	b, err := state.FromPipeline(ps, c.identity.AppKey, c.identity.Topic, opened.Lineage, now()).Encode()
	if err != nil {
		return fmt.Errorf("repair: snapshot: %w", err)
	}
	if err := pub.PutState(ctx, c.identity.AppKey, b); err != nil {
		return fmt.Errorf("repair: snapshot: %w", err)
	}
	return nil
}
