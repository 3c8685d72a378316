package registry

import (
	"context"
	"fmt"
	"log/slog"

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
	id, err := register(ctx, cfg, subject, schema.MediaJSON(), logger)
	if err != nil {
		return nil, fmt.Errorf("%w (registry %v)", err, cfg.URLs)
	}
	logger.Info("media schema registered", "subject", subject, "schema_id", id)
	return codec.Confluent(id)
}
