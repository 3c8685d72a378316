package service

import (
	"context"
	"fmt"
	"time"

	"github.com/imreport/imreport/internal/ownership"
	"github.com/imreport/imreport/internal/service/status"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// Owner configures the owner group (package ownership).
type Owner struct {
	Enabled        bool
	SessionTimeout time.Duration // 0 = 10s
}

// runMember joins the owner group and runs the pipeline whenever this
// member owns the app, standing by otherwise.
func (r *run) runMember(ctx, pipeCtx context.Context, codec *schema.Codec, client *source.Client, writer *sink.Writer) error {
	dialer, err := r.cfg.Sink.Dialer()
	if err != nil {
		return fmt.Errorf("owner group: %w", err)
	}
	group := ownership.GroupID(r.cfg.Sink.AppKey, r.cfg.Sink.Topic)
	r.board.SetOwner(status.Owner{Role: "standby", Group: group, Since: r.now()})
	callbacks := &standbyCallbacks{addr: r.cfg.CallbackAddr, logger: r.cfg.Logger}
	callbacks.start()
	defer callbacks.stop()
	return ownership.Run(pipeCtx, ownership.Config{
		GroupID: group, Brokers: r.cfg.Sink.Brokers, Dialer: dialer, Topic: writer.StateTopic(),
		SessionTimeout: r.cfg.Owner.SessionTimeout, Logger: r.cfg.Logger, Now: r.now,
		// An owner whose generation ends drains its write in flight (up
		// to the shutdown timeout, then fences it within the write
		// timeout) before it rejoins: the coordinator waits that long.
		RebalanceTimeout: shutdownTimeout(r.cfg.Pipeline.ShutdownTimeout) + 15*time.Second,
		OnChange: func(owner bool, member string, generation int32, since time.Time) {
			r.m.Owner(owner)
			if owner {
				callbacks.stop()
			} else {
				callbacks.start()
			}
			if owner {
				r.board.SetOwner(status.Owner{Role: "owner", Group: group, MemberID: member, Generation: generation, Since: since})
			} else {
				r.board.SetOwner(status.Owner{Role: "standby", Group: group, MemberID: member, Since: r.now()})
			}
		},
	}, func(octx context.Context, lease *ownership.Lease) error {
		return r.runOwned(octx, octx, codec, client, writer, lease)
	})
}

// shutdownTimeout is the pipeline's, with its default.
func shutdownTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return 15 * time.Second
	}
	return d
}
