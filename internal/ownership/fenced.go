package ownership

import (
	"context"

	"github.com/imreport/imreport/sink"
)

// Fenced is the Kafka writer with every write checked against the lease
// first: a member that lost the ownership (paused past the session timeout,
// say) writes nothing more. The pipeline of an owner and a repair run as
// the owner publish through it.
type Fenced struct {
	*sink.Writer
	Lease *Lease
}

// Publish checks the lease, then writes.
func (f Fenced) Publish(ctx context.Context, recs []sink.Record) error {
	if err := f.Lease.Check(ctx); err != nil {
		return err
	}
	return f.Writer.Publish(ctx, recs)
}

// PutState checks the lease, then writes the snapshot.
func (f Fenced) PutState(ctx context.Context, key string, value []byte) error {
	if err := f.Lease.Check(ctx); err != nil {
		return err
	}
	return f.Writer.PutState(ctx, key, value)
}
