package main

import (
	"context"
	"time"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/status"
)

// kafkaProbeInterval is how often the status board asks Kafka for its end
// offsets, so that an idle run notices an outage (see package status).
const kafkaProbeInterval = 15 * time.Second

// newBoard returns the status board of a run of cfg.
func newBoard(cfg Config, now func() time.Time) *status.Board {
	endpoints := map[string]string{}
	for _, s := range configStreams(cfg) {
		endpoints[s.Endpoint(cfg.APIVersion)] = s.String()
	}
	return status.New(status.Config{
		Version:   buildVersion(),
		Kafka:     status.Kafka{Brokers: cfg.KafkaBrokers, Topic: cfg.KafkaTopic, DLQTopic: cfg.KafkaDLQTopic},
		Registry:  registryStatus(cfg, nil),
		Endpoints: endpoints,
		Now:       now,
	})
}

// registryStatus describes the configured registry and, once registered,
// the value schema's id (status.RegistryOf).
func registryStatus(cfg Config, codec *schema.Codec) status.Registry {
	return status.RegistryOf(cfg.Registry.URLs, cfg.Subject, cfg.ValueFormat, codec)
}

// startProbe asks Kafka for the topics' end offsets (one cheap request)
// every kafkaProbeInterval, for the board; stop ends it and waits. sleep
// nil = a timer.
func startProbe(ctx context.Context, board *status.Board, w *sink.Writer, sleep func(context.Context, time.Duration) error) (stop func()) {
	return board.StartProbe(ctx, kafkaProbeInterval, 5*time.Second, func(ctx context.Context) error {
		_, err := w.Marks(ctx, time.Time{})
		return err
	}, sleep)
}
