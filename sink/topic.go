package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopic checks that the main and the dead-letter topic exist and, for
// each that does not and if Config.CreateTopic is set, creates it with
// Config.Partitions and Config.ReplicationFactor. A topic that exists is
// left as it is. It returns the main topic's partition count.
func (w *Writer) EnsureTopic(ctx context.Context) (int, error) {
	client := w.client()
	n, err := w.ensureTopic(ctx, client, w.cfg.Topic)
	if err != nil {
		return 0, err
	}
	if _, err := w.ensureTopic(ctx, client, w.cfg.DLQTopic); err != nil {
		return 0, fmt.Errorf("dead-letter topic: %w", err)
	}
	return n, nil
}

// client returns a kafka-go client over the shared transport.
func (w *Writer) client() *kafka.Client {
	return &kafka.Client{Addr: w.addr, Transport: w.transport, Timeout: 30 * time.Second}
}

// freshClient returns a kafka-go client over a transport of its own, so its
// metadata (partition counts, leaders) is fetched now rather than served
// from the shared transport's cache; call release when done.
func (w *Writer) freshClient() (client *kafka.Client, release func()) {
	t := &kafka.Transport{
		Dial:        w.transport.Dial,
		DialTimeout: w.transport.DialTimeout,
		SASL:        w.transport.SASL,
		TLS:         w.transport.TLS,
		ClientID:    w.transport.ClientID,
		IdleTimeout: w.transport.IdleTimeout,
	}
	return &kafka.Client{Addr: w.addr, Transport: t, Timeout: 30 * time.Second}, t.CloseIdleConnections
}

// ensureTopic is EnsureTopic for one topic.
func (w *Writer) ensureTopic(ctx context.Context, client *kafka.Client, topic string) (int, error) {
	n, err := w.partitions(ctx, client, topic)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, kafka.UnknownTopicOrPartition) {
		return 0, err
	}
	if !w.cfg.CreateTopic {
		return 0, fmt.Errorf("kafka topic %q does not exist and topic creation is off: %w", topic, err)
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic:             topic,
		NumPartitions:     w.cfg.Partitions,
		ReplicationFactor: w.cfg.ReplicationFactor,
	}}})
	if err != nil {
		return 0, fmt.Errorf("kafka create topic %q: %w", topic, err)
	}
	if e := resp.Errors[topic]; e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
		return 0, fmt.Errorf("kafka create topic %q (%d partitions, replication factor %d): %w",
			topic, w.cfg.Partitions, w.cfg.ReplicationFactor, e)
	}
	w.cfg.Logger.Info("created kafka topic", "topic", topic,
		"partitions", w.cfg.Partitions, "replication_factor", w.cfg.ReplicationFactor)
	// Metadata can lag creation briefly.
	for i := 0; ; i++ {
		n, err := w.partitions(ctx, client, topic)
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

// partitions returns the partition count of topic.
func (w *Writer) partitions(ctx context.Context, client *kafka.Client, topic string) (int, error) {
	counts, err := w.partitionCounts(ctx, client, topic)
	if err != nil {
		return 0, err
	}
	return counts[topic], nil
}

// partitionCounts returns the partition count of each topic, in one
// metadata request. A topic that does not exist is an error wrapping
// kafka.UnknownTopicOrPartition.
func (w *Writer) partitionCounts(ctx context.Context, client *kafka.Client, topics ...string) (map[string]int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata: %w", err)
	}
	counts := make(map[string]int, len(topics))
	for _, t := range md.Topics {
		if !slices.Contains(topics, t.Name) {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("kafka topic %q: %w", t.Name, t.Error)
		}
		counts[t.Name] = len(t.Partitions)
	}
	for _, topic := range topics {
		if _, ok := counts[topic]; !ok {
			return nil, fmt.Errorf("kafka topic %q: %w", topic, kafka.UnknownTopicOrPartition)
		}
	}
	return counts, nil
}
