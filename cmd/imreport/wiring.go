package main

import (
	"log/slog"

	"github.com/imreport/imreport/registry"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
)

// sinkConfig is the Kafka writer's configuration, for run and audit alike.
func sinkConfig(cfg Config, logger *slog.Logger) sink.Config {
	return sink.Config{
		Brokers:           cfg.KafkaBrokers,
		Topic:             cfg.KafkaTopic,
		DLQTopic:          cfg.KafkaDLQTopic,
		AppKey:            cfg.AppKey,
		Compression:       cfg.KafkaCompression,
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

// valueDecoder decodes record values by their framing, resolving Confluent
// schema ids through the configured registry (none: single-object only).
func valueDecoder(cfg Config) (*schema.Decoder, error) {
	return registry.Decoder(cfg.Registry)
}
