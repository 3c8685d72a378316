package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopic checks that the topic exists and, if it does not and
// Config.CreateTopic is set, creates it. It returns the partition count.
func (w *Writer) EnsureTopic(ctx context.Context) (int, error) {
	client := &kafka.Client{Addr: w.w.Addr, Transport: w.transport, Timeout: 30 * time.Second}
	n, err := w.partitions(ctx, client)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, kafka.UnknownTopicOrPartition) {
		return 0, err
	}
	if !w.cfg.CreateTopic {
		return 0, fmt.Errorf("kafka topic %q does not exist and topic creation is off: %w", w.cfg.Topic, err)
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic:             w.cfg.Topic,
		NumPartitions:     w.cfg.Partitions,
		ReplicationFactor: w.cfg.ReplicationFactor,
	}}})
	if err != nil {
		return 0, fmt.Errorf("kafka create topic %q: %w", w.cfg.Topic, err)
	}
	if e := resp.Errors[w.cfg.Topic]; e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
		return 0, fmt.Errorf("kafka create topic %q (%d partitions, replication factor %d): %w",
			w.cfg.Topic, w.cfg.Partitions, w.cfg.ReplicationFactor, e)
	}
	w.cfg.Logger.Info("created kafka topic", "topic", w.cfg.Topic,
		"partitions", w.cfg.Partitions, "replication_factor", w.cfg.ReplicationFactor)
	// Metadata can lag creation briefly.
	for i := 0; ; i++ {
		n, err := w.partitions(ctx, client)
		if err == nil || i >= 50 {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (w *Writer) partitions(ctx context.Context, client *kafka.Client) (int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{w.cfg.Topic}})
	if err != nil {
		return 0, fmt.Errorf("kafka metadata: %w", err)
	}
	for _, t := range md.Topics {
		if t.Name == w.cfg.Topic {
			if t.Error != nil {
				return 0, fmt.Errorf("kafka topic %q: %w", t.Name, t.Error)
			}
			return len(t.Partitions), nil
		}
	}
	return 0, fmt.Errorf("kafka topic %q: %w", w.cfg.Topic, kafka.UnknownTopicOrPartition)
}
