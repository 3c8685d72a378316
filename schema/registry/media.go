package registry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/schema"
)

// MediaCodec returns the media topic's codec for value format f: for
// Confluent it registers the media schema under subject at cfg's registry
// (retrying temporary failures a few times, as ValueCodec does), else the
// single-object codec.
func MediaCodec(ctx context.Context, f schema.Framing, cfg Config, subject string, logger *slog.Logger) (*schema.MediaCodec, error) {
	codec, err := schema.NewMediaCodec()
	if err != nil || f != schema.Confluent {
		return codec, err
	}
	client, err := New(cfg)
	if err != nil {
		return nil, err
	}
	policy := retry.Policy{Initial: time.Second, Max: 5 * time.Second, MaxAttempts: 6,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			logger.Warn("schema registry not reachable yet, retrying", "attempt", attempt, "wait", wait, "error", err)
		}}
	var id int
	err = policy.Do(ctx, func(ctx context.Context) error {
		id, err = client.Register(ctx, subject, schema.MediaJSON())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w (registry %v)", err, cfg.URLs)
	}
	logger.Info("media schema registered", "subject", subject, "schema_id", id)
	return codec.Confluent(id)
}
