package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// EnsureTopic checks that the main and the dead-letter topic exist and, for
// each that does not and if Config.CreateTopic is set, creates it with
// Config.Partitions and Config.ReplicationFactor. A topic that exists is
// left as it is. It returns the main topic's partition count.
//
// The two topics are checked (and created) at the same time: with a
// cluster far away, each takes a few round trips.
func (w *Writer) EnsureTopic(ctx context.Context) (int, error) {
	client := w.client()
	var n int
	var mainErr, dlqErr error
	var wg sync.WaitGroup
	wg.Go(func() { n, mainErr = w.ensureTopic(ctx, client, w.cfg.Topic) })
	wg.Go(func() {
		if _, err := w.ensureTopic(ctx, client, w.cfg.DLQTopic); err != nil {
			dlqErr = fmt.Errorf("dead-letter topic: %w", err)
		}
	})
	wg.Wait()
	if mainErr != nil {
		return 0, mainErr
	}
	if dlqErr != nil {
		return 0, dlqErr
	}
	if err := w.ensureStateTopic(ctx, client); err != nil {
		return 0, err
	}
	return n, nil
}

// client returns a kafka-go client over the shared transport.
func (w *Writer) client() *kafka.Client {
	return &kafka.Client{Addr: w.addr, Transport: w.transport, Timeout: 30 * time.Second}
}

// ensureTopic is EnsureTopic for one topic.
func (w *Writer) ensureTopic(ctx context.Context, client *kafka.Client, topic string) (int, error) {
	return w.ensureTopicWith(ctx, client, topic, w.cfg.Partitions, nil)
}

// ensureTopicWith is ensureTopic with the partitions and configuration a
// created topic gets.
func (w *Writer) ensureTopicWith(ctx context.Context, client *kafka.Client, topic string, partitions int, configs []kafka.ConfigEntry) (int, error) {
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
	rf, how, err := w.replicationFactor(ctx, client)
	if err != nil {
		return 0, fmt.Errorf("kafka create topic %q: %w", topic, err)
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic:             topic,
		NumPartitions:     partitions,
		ReplicationFactor: rf,
		ConfigEntries:     configs,
	}}})
	if err != nil {
		return 0, fmt.Errorf("kafka create topic %q: %w", topic, err)
	}
	if e := resp.Errors[topic]; e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
		return 0, fmt.Errorf("kafka create topic %q (%d partitions, replication factor %s): %w",
			topic, partitions, how, e)
	}
	n, err = w.awaitTopic(ctx, client, topic)
	if err != nil {
		return 0, err
	}
	w.cfg.Logger.Info("created kafka topic", "topic", topic, "partitions", n,
		"replication_factor", w.replicas(ctx, client, topic), "replication_factor_from", how)
	return n, nil
}

// awaitTopic returns the partition count of a topic just created: metadata
// can lag creation briefly.
func (w *Writer) awaitTopic(ctx context.Context, client *kafka.Client, topic string) (int, error) {
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

// createTopicsDefaultReplication is the first CreateTopics version whose
// ReplicationFactor may be -1, "the broker's default.replication.factor"
// (KIP-464, Kafka 2.4).
const createTopicsDefaultReplication = 4

// replicationFactor is the replication factor to ask for when creating a
// topic, and where it comes from, for the log: Config.ReplicationFactor when
// set, else -1 (the cluster's default) when the broker accepts it, else
// min(3, brokers).
func (w *Writer) replicationFactor(ctx context.Context, client *kafka.Client) (int, string, error) {
	if w.cfg.ReplicationFactor > 0 {
		return w.cfg.ReplicationFactor, strconv.Itoa(w.cfg.ReplicationFactor) + " (configured)", nil
	}
	versions, err := client.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	if err != nil {
		return 0, "", fmt.Errorf("kafka api versions: %w", err)
	}
	for _, k := range versions.ApiKeys {
		if k.ApiKey == int(protocol.CreateTopics) && k.MaxVersion >= createTopicsDefaultReplication {
			return -1, "the cluster's default.replication.factor", nil
		}
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		return 0, "", fmt.Errorf("kafka metadata: %w", err)
	}
	n := min(3, len(md.Brokers))
	return n, fmt.Sprintf("%d (min(3, %d brokers): the broker predates Kafka 2.4)", n, len(md.Brokers)), nil
}

// replicas is the replication factor topic got (its first partition's
// replica count), or -1 when metadata does not say; for the log only.
func (w *Writer) replicas(ctx context.Context, client *kafka.Client, topic string) int {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return -1
	}
	for _, t := range md.Topics {
		if t.Name == topic && len(t.Partitions) > 0 {
			return len(t.Partitions[0].Replicas)
		}
	}
	return -1
}

// TooFewBrokers reports whether err is the cluster's refusal of a topic
// whose replication factor is more than its brokers.
func TooFewBrokers(err error) bool { return errors.Is(err, kafka.InvalidReplicationFactor) }

// ValidTopic reports whether t is a valid Kafka topic name: 1 to 249 of
// a-z A-Z 0-9 . _ -, and neither "." nor "..".
func ValidTopic(t string) bool {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
