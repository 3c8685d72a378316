package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/imreport/imreport/registry"
	"github.com/imreport/imreport/retry"
	"github.com/imreport/imreport/schema"
)

// loadRegistry reads the Schema Registry and value format variables into c,
// reporting each problem through bad. It needs c.KafkaTopic (the subject).
func (c *Config) loadRegistry(e env, bad func(name, format string, args ...any)) {
	const (
		urlVar   = "IMREPORT_SCHEMA_REGISTRY_URL"
		userVar  = "IMREPORT_SCHEMA_REGISTRY_USERNAME"
		passVar  = "IMREPORT_SCHEMA_REGISTRY_PASSWORD"
		tokenVar = "IMREPORT_SCHEMA_REGISTRY_BEARER_TOKEN"
		caVar    = "IMREPORT_SCHEMA_REGISTRY_TLS_CA_FILE"
	)
	r := registry.Config{
		URLs:        splitList(e.RegistryURL),
		Username:    strings.TrimSpace(e.RegistryUsername),
		Password:    e.RegistryPassword,
		BearerToken: strings.TrimSpace(e.RegistryBearerToken),
		TLSCAFile:   strings.TrimSpace(e.RegistryTLSCAFile),
	}
	https := false
	for _, u := range r.URLs {
		if err := registry.CheckURL(u); err != nil {
			bad(urlVar, "%v", err)
		}
		https = https || strings.HasPrefix(u, "https://")
	}
	if len(r.URLs) == 0 {
		for _, v := range [][2]string{{userVar, r.Username}, {passVar, r.Password}, {tokenVar, r.BearerToken}, {caVar, r.TLSCAFile}} {
			if v[1] != "" {
				bad(v[0], "is set but %s is not", urlVar)
			}
		}
	} else {
		switch {
		case r.Username != "" && r.Password == "":
			bad(passVar, "required with %s", userVar)
		case r.Username == "" && r.Password != "":
			bad(userVar, "required with %s", passVar)
		}
		if r.BearerToken != "" && r.Username != "" {
			bad(tokenVar, "and %s are both set: use one", userVar)
		}
		if r.TLSCAFile != "" {
			if !https {
				bad(caVar, "is set but no %s is https://", urlVar)
			} else if _, err := os.Stat(r.TLSCAFile); err != nil {
				bad(caVar, "%q cannot be read", r.TLSCAFile)
			}
		}
	}
	c.Registry = r

	subject, err := registry.Subject(strings.TrimSpace(e.SubjectStrategy), c.KafkaTopic, schema.FullName)
	if err != nil {
		bad("IMREPORT_SCHEMA_SUBJECT_STRATEGY", "%q is not one of topic, record, topic_record", e.SubjectStrategy)
	}
	c.Subject = subject

	switch f := strings.ToLower(strings.TrimSpace(e.ValueFormat)); f {
	case "auto":
		c.ValueFormat = schema.SingleObject
		if len(r.URLs) > 0 {
			c.ValueFormat = schema.Confluent
		}
	case "confluent", "single-object":
		c.ValueFormat, _ = schema.ParseFraming(f)
		if c.ValueFormat == schema.Confluent && len(r.URLs) == 0 {
			bad("IMREPORT_VALUE_FORMAT", "confluent needs %s", urlVar)
		}
	default:
		bad("IMREPORT_VALUE_FORMAT", "%q is not one of auto, confluent, single-object", e.ValueFormat)
	}
}

// valueCodec returns the codec of the configured value format. For
// Confluent it first registers the schema (the full .avsc text) under the
// subject, retrying what retry.Temporary calls temporary (5xx, timeouts,
// refused connections) a few times; a refusal (409, 422, 401, 403) fails at
// once. The id is kept for the life of the process.
func valueCodec(ctx context.Context, cfg Config, logger *slog.Logger) (*schema.Codec, error) {
	codec, err := schema.NewCodec()
	if err != nil || cfg.ValueFormat != schema.Confluent {
		return codec, err
	}
	client, err := registry.New(cfg.Registry)
	if err != nil {
		return nil, err
	}
	policy := retry.Policy{Initial: time.Second, Max: 5 * time.Second, MaxAttempts: 6,
		OnRetry: func(attempt int, err error, wait time.Duration) {
			logger.Warn("schema registry not reachable yet, retrying", "attempt", attempt, "wait", wait, "error", err)
		}}
	var id int
	err = policy.Do(ctx, func(ctx context.Context) error {
		id, err = client.Register(ctx, cfg.Subject, schema.JSON())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w (registry %v; nothing was fetched or published)", err, cfg.Registry.URLs)
	}
	logger.Info("value schema registered", "subject", cfg.Subject, "schema_id", id, "registry", cfg.Registry.URLs, "value_format", "confluent")
	return codec.Confluent(id)
}
