package doctor

import (
	"log/slog"
	"time"

	"github.com/imreport/imreport/internal/retry"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/schema/registry"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// Setup builds the doctor's clients from a run's configurations: the Report
// API client asks one page of one message, within 10 s, with one quick
// retry; nothing is logged. reg without URLs = no registry to check.
// close releases the clients.
func Setup(api source.Config, kafka sink.Config, reg registry.Config, subject string, streams []source.Stream, checkpointPath string) (cfg Config, close func(), err error) {
	quiet := slog.New(slog.DiscardHandler)
	api.PageSize, api.Timeout, api.Logger = 1, min(api.Timeout, 10*time.Second), quiet
	api.Retry = retry.Policy{Initial: 200 * time.Millisecond, Max: time.Second, MaxAttempts: 2}
	client, err := source.New(api)
	if err != nil {
		return Config{}, nil, err
	}
	kafka.Logger = quiet
	writer, err := sink.New(kafka)
	if err != nil {
		return Config{}, nil, err
	}
	close = func() { _ = writer.Close() }
	cfg = Config{
		API: client, AppKey: api.AppKey, APIVersion: api.APIVersion, Streams: streams,
		Kafka: writer, Brokers: kafka.Brokers, Topic: kafka.Topic, DLQTopic: kafka.DLQTopic, StateTopic: writer.StateTopic(),
		SASL: kafka.SASLMechanism != "", CheckpointPath: checkpointPath,
	}
	if len(reg.URLs) > 0 {
		rc, err := registry.New(reg)
		if err != nil {
			close()
			return Config{}, nil, err
		}
		cfg.Registry, cfg.Subject, cfg.SchemaText = rc, subject, schema.JSON()
	}
	return cfg, close, nil
}
