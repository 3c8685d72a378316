package main

import (
	"log/slog"

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
