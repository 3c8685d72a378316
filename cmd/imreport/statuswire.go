package main

import (
	"context"
	"net/url"
	"time"

	"github.com/imreport/imreport/retry"
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
// the value schema's id; URLs without any user info.
func registryStatus(cfg Config, codec *schema.Codec) status.Registry {
	r := status.Registry{State: "not configured", ValueFormat: cfg.ValueFormat.String()}
	if len(cfg.Registry.URLs) == 0 {
		return r
	}
	r.State, r.Subject = "configured", cfg.Subject
	for _, u := range cfg.Registry.URLs {
		if p, err := url.Parse(u); err == nil {
			p.User = nil
			u = p.String()
		}
		r.URLs = append(r.URLs, u)
	}
	if codec != nil && codec.Framing() == schema.Confluent {
		r.State, r.SchemaID = "registered", codec.SchemaID()
	}
	return r
}

// startProbe asks Kafka for the topics' end offsets (one cheap request)
// every kafkaProbeInterval, for the board; stop ends it and waits. sleep
// nil = a timer.
func startProbe(ctx context.Context, board *status.Board, w *sink.Writer, sleep func(context.Context, time.Duration) error) (stop func()) {
	if sleep == nil {
		sleep = retry.Sleep
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		board.Probe(ctx, kafkaProbeInterval, 5*time.Second, func(ctx context.Context) error {
			_, err := w.Marks(ctx, time.Time{})
			return err
		}, sleep)
	}()
	return func() {
		cancel()
		<-done
	}
}
