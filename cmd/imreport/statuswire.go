package main

import (
	"github.com/imreport/imreport/internal/service/status"
)

// statusConfig is the status board's configuration for a run of cfg: the
// version, Kafka, and which stream each API endpoint serves.
func statusConfig(cfg Config) status.Config {
	endpoints := map[string]string{}
	for _, s := range configStreams(cfg) {
		endpoints[s.Endpoint(cfg.APIVersion)] = s.String()
	}
	return status.Config{
		Version:   buildVersion(),
		Kafka:     status.Kafka{Brokers: cfg.KafkaBrokers, Topic: cfg.KafkaTopic, DLQTopic: cfg.KafkaDLQTopic},
		Endpoints: endpoints,
	}
}
