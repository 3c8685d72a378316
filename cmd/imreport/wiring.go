package main

import (
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// apiConfig is the Report API client's configuration: at most rps
// requests a second, each retried up to IMREPORT_API_MAX_ATTEMPTS times.
func apiConfig(cfg Config, rps float64, logger *slog.Logger) source.Config {
	return source.Config{
		BaseURL:      cfg.APIURL,
		AppKey:       cfg.AppKey,
		MasterSecret: cfg.MasterSecret,
		APIVersion:   cfg.APIVersion,
		Location:     cfg.Location,
		PageSize:     cfg.PageSize,
		Timeout:      cfg.APITimeout,
		Limiter:      rate.NewLimiter(rate.Limit(rps), 1),
		Retry:        retry.Policy{Initial: 500 * time.Millisecond, Max: 30 * time.Second, MaxAttempts: cfg.APIAttempts},
		Logger:       logger,
	}
}

// sinkConfig is the Kafka writer's configuration, for run and audit alike.
func sinkConfig(cfg Config, logger *slog.Logger) sink.Config {
	return sink.Config{
		Brokers:           cfg.KafkaBrokers,
		Topic:             cfg.KafkaTopic,
		DLQTopic:          cfg.KafkaDLQTopic,
		StateTopic:        cfg.KafkaStateTopic,
		AppKey:            cfg.AppKey,
		Compression:       cfg.KafkaCompression,
		ReadTimeout:       cfg.KafkaReadTimeout,
		CreateTopic:       cfg.KafkaCreateTopic,
		Partitions:        cfg.KafkaPartitions,
		ReplicationFactor: cfg.KafkaReplication,
		SASLMechanism:     cfg.KafkaSASLMechanism,
		SASLUsername:      cfg.KafkaSASLUsername,
		SASLPassword:      cfg.KafkaSASLPassword,
		TLS:               cfg.KafkaTLS,
		TLSCAFile:         cfg.KafkaTLSCAFile,
		TLSSkipVerify:     cfg.KafkaTLSSkipVerify,
		Logger:            logger,
	}
}
