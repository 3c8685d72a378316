package registry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/schema"
)

// ValueCodec registers the value schema (the full .avsc text) under subject
// at cfg's registry and returns the codec writing the Confluent format with
// its id, kept for the life of the process. It retries what retry.Temporary
// calls temporary (5xx, timeouts, refused connections) a few times; a
// refusal (409, 422, 401, 403) fails at once. The error names the registry.
func ValueCodec(ctx context.Context, cfg Config, subject string, logger *slog.Logger) (*schema.Codec, error) {
	codec, err := schema.NewCodec()
	if err != nil {
		return nil, err
	}
	id, err := register(ctx, cfg, subject, schema.JSON(), logger)
	if err != nil {
		return nil, fmt.Errorf("%w (registry %v; nothing was fetched or published)", err, cfg.URLs)
	}
	logger.Info("value schema registered", "subject", subject, "schema_id", id, "registry", cfg.URLs, "value_format", "confluent")
	return codec.Confluent(id)
}

// FramingCodec returns the codec of value format f: for Confluent the one
// ValueCodec registers, else a plain codec (nothing is asked of a registry).
func FramingCodec(ctx context.Context, f schema.Framing, cfg Config, subject string, logger *slog.Logger) (*schema.Codec, error) {
	if f != schema.Confluent {
		return schema.NewCodec()
	}
	return ValueCodec(ctx, cfg, subject, logger)
}

// register registers schemaJSON under subject and returns its id,
// retrying what retry.Temporary calls temporary (5xx, timeouts, refused
// connections) up to 6 times, 1 s to 5 s apart; a refusal fails at once.
func register(ctx context.Context, cfg Config, subject, schemaJSON string, logger *slog.Logger) (int, error) {
	client, err := New(cfg)
	if err != nil {
		return 0, err
	}
	policy := retry.Policy{Initial: time.Second, Max: 5 * time.Second, MaxAttempts: 6,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			logger.Warn("schema registry not reachable yet, retrying", "attempt", attempt, "wait", wait, "error", err)
		}}
	var id int
	err = policy.Do(ctx, func(ctx context.Context) error {
		id, err = client.Register(ctx, subject, schemaJSON)
		return err
	})
	return id, err
}
