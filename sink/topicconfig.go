package sink

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// TimeConfig is what the main topic's configuration says about record
// timestamps, which are event times (Record.Time).
type TimeConfig struct {
	// Retention is the topic's retention.ms; negative = kept forever.
	Retention time.Duration
	// TimestampType is message.timestamp.type: CreateTime keeps the
	// producer's (event) times, LogAppendTime replaces them with the
	// broker's clock.
	TimestampType string
}

// TimeConfig reads the main topic's retention.ms and message.timestamp.type
// (effective values, defaults included) with one DescribeConfigs request.
func (w *Writer) TimeConfig(ctx context.Context) (TimeConfig, error) {
	resp, err := w.client().DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: w.cfg.Topic,
			ConfigNames: []string{"retention.ms", "message.timestamp.type"},
		}},
	})
	if err != nil {
		return TimeConfig{}, fmt.Errorf("kafka describe configs of %q: %w", w.cfg.Topic, err)
	}
	out := TimeConfig{Retention: -1}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return TimeConfig{}, fmt.Errorf("kafka describe configs of %q: %w", w.cfg.Topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			switch e.ConfigName {
			case "retention.ms":
				ms, err := strconv.ParseInt(e.ConfigValue, 10, 64)
				if err != nil {
					return TimeConfig{}, fmt.Errorf("kafka topic %q: retention.ms %q", w.cfg.Topic, e.ConfigValue)
				}
				if ms >= 0 {
					out.Retention = time.Duration(ms) * time.Millisecond
				}
			case "message.timestamp.type":
				out.TimestampType = e.ConfigValue
			}
		}
	}
	return out, nil
}

// TimeWarnings says what in tc works against event-time timestamps when
// messages sent as early as oldest are published at now: a retention that
// deletes them (Kafka deletes a segment once its newest timestamp is older
// than retention.ms) or LogAppendTime. Empty when nothing does.
func (tc TimeConfig) TimeWarnings(oldest, now time.Time) []string {
	var out []string
	if tc.Retention >= 0 && now.Sub(oldest) > tc.Retention {
		out = append(out, fmt.Sprintf("the topic's retention.ms (%s) is shorter than the age of the oldest messages to publish (%s, sent %s): record timestamps are the messages' msg_ctime, so Kafka will delete those records soon after they are written; raise retention.ms (-1 keeps everything)",
			tc.Retention, now.Sub(oldest).Round(time.Minute), oldest.UTC().Format(time.RFC3339)))
	}
	if tc.TimestampType == "LogAppendTime" {
		out = append(out, "the topic's message.timestamp.type is LogAppendTime: the broker replaces each record's event time (msg_ctime) with its own clock; set CreateTime for time-based partitioners, watermarks and retention on send time")
	}
	return out
}

// WarnTimeConfig logs, as warnings, what TimeConfig's TimeWarnings finds
// for messages sent as early as oldest. It never fails: without the
// topic's configuration (no DescribeConfigs permission) it logs that at
// debug level.
func (w *Writer) WarnTimeConfig(ctx context.Context, oldest, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tc, err := w.TimeConfig(ctx)
	if err != nil {
		w.cfg.Logger.Debug("kafka topic configuration unavailable; retention not checked", "error", err)
		return
	}
	for _, msg := range tc.TimeWarnings(oldest, now) {
		w.cfg.Logger.Warn(msg, "topic", w.cfg.Topic)
	}
}
