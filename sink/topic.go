package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// EnsureTopic checks that the main, the dead-letter and the state topic
// exist and, for each that does not and if Config.CreateTopic is set,
// creates it: the first two with Config.Partitions, the state topic with
// one partition, compacted; all with Config.ReplicationFactor. A topic that
// exists is left as it is. It returns the main topic's partition count.
//
// With a cluster far away every round trip counts: the three are looked up
// in one metadata request and the missing ones created in one CreateTopics
// request.
func (w *Writer) EnsureTopic(ctx context.Context) (int, error) {
	client := w.client()
	wanted := []kafka.TopicConfig{
		{Topic: w.cfg.Topic, NumPartitions: w.cfg.Partitions},
		{Topic: w.cfg.DLQTopic, NumPartitions: w.cfg.Partitions},
		{Topic: w.cfg.StateTopic, NumPartitions: statePartitions,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}},
	}
	counts, missing, err := w.lookUpTopics(ctx, client, wanted)
	if err != nil {
		return 0, err
	}
	if len(missing) > 0 {
		how, err := w.createTopics(ctx, client, missing)
		if err != nil {
			return 0, err
		}
		for _, tc := range missing {
			n, replicas, err := w.awaitTopic(ctx, client, tc.Topic)
			if err != nil {
				return 0, fmt.Errorf("kafka create topic %q: %w", tc.Topic, err)
			}
			counts[tc.Topic] = n
			w.created.Store(tc.Topic, struct{}{})
			w.cfg.Logger.Info("created kafka topic", "topic", tc.Topic, "partitions", n,
				"replication_factor", replicas, "replication_factor_from", how)
		}
	}
	return counts[w.cfg.Topic], nil
}

// lookUpTopics returns the partition counts of the wanted topics that
// exist and the configs of those that do not; with Config.CreateTopic off,
// a missing topic is an error (all of them named).
func (w *Writer) lookUpTopics(ctx context.Context, client *kafka.Client, wanted []kafka.TopicConfig) (map[string]int, []kafka.TopicConfig, error) {
	names := make([]string, len(wanted))
	for i, tc := range wanted {
		names[i] = tc.Topic
	}
	found, err := topicsMetadata(ctx, client, names...)
	if err != nil {
		return nil, nil, err
	}
	counts := make(map[string]int, len(wanted))
	for name, t := range found {
		counts[name] = len(t.Partitions)
	}
	var missing []kafka.TopicConfig
	var errs []error
	for _, tc := range wanted {
		if _, ok := counts[tc.Topic]; ok {
			continue
		}
		missing = append(missing, tc)
		if !w.cfg.CreateTopic {
			errs = append(errs, fmt.Errorf("kafka topic %q does not exist and topic creation is off: %w", tc.Topic, kafka.UnknownTopicOrPartition))
		}
	}
	return counts, missing, errors.Join(errs...)
}

// createTopics creates the topics in one request with the replication
// factor to use (replicationFactor), and says how that was chosen; a topic
// created meanwhile by someone else is not an error.
func (w *Writer) createTopics(ctx context.Context, client *kafka.Client, topics []kafka.TopicConfig) (how string, err error) {
	rf, how, err := w.replicationFactor(ctx, client)
	if err != nil {
		return "", fmt.Errorf("kafka create topics: %w", err)
	}
	names := make([]string, len(topics))
	for i := range topics {
		topics[i].ReplicationFactor = rf
		names[i] = topics[i].Topic
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return "", fmt.Errorf("kafka create topics %q: %w", names, err)
	}
	var errs []error
	for _, tc := range topics {
		if e := resp.Errors[tc.Topic]; e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("kafka create topic %q (%d partitions, replication factor %s): %w", tc.Topic, tc.NumPartitions, how, e))
		}
	}
	return how, errors.Join(errs...)
}

// client returns a kafka-go client over the shared transport.
func (w *Writer) client() *kafka.Client {
	return &kafka.Client{Addr: w.addr, Transport: w.transport, Timeout: 30 * time.Second}
}

// awaitTopic returns the partition count of a topic just created and the
// replication factor it got (its first partition's replica count, -1 when
// metadata does not say; for the log only): metadata can lag creation
// briefly.
func (w *Writer) awaitTopic(ctx context.Context, client *kafka.Client, topic string) (partitions, replicas int, err error) {
	for i := 0; ; i++ {
		partitions, replicas, err = topicLayout(ctx, client, topic)
		if err == nil || i >= 50 {
			return partitions, replicas, err
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
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
	found, err := topicsMetadata(ctx, client, topics...)
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int, len(topics))
	for _, topic := range topics {
		t, ok := found[topic]
		if !ok {
			return nil, fmt.Errorf("kafka topic %q: %w", topic, kafka.UnknownTopicOrPartition)
		}
		counts[topic] = len(t.Partitions)
	}
	return counts, nil
}

// topicsMetadata returns the metadata of those of topics that exist, in
// one request; a topic's error other than kafka.UnknownTopicOrPartition is
// an error.
func topicsMetadata(ctx context.Context, client *kafka.Client, topics ...string) (map[string]kafka.Topic, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata: %w", err)
	}
	found := make(map[string]kafka.Topic, len(topics))
	for _, t := range md.Topics {
		switch {
		case !slices.Contains(topics, t.Name), errors.Is(t.Error, kafka.UnknownTopicOrPartition):
		case t.Error != nil:
			return nil, fmt.Errorf("kafka topic %q: %w", t.Name, t.Error)
		default:
			found[t.Name] = t
		}
	}
	return found, nil
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

// topicLayout returns the partition count of topic and its first
// partition's replica count (-1 when metadata does not say), in one
// metadata request. A topic that does not exist is an error wrapping
// kafka.UnknownTopicOrPartition.
func topicLayout(ctx context.Context, client *kafka.Client, topic string) (partitions, replicas int, err error) {
	found, err := topicsMetadata(ctx, client, topic)
	if err != nil {
		return 0, 0, err
	}
	t, ok := found[topic]
	if !ok {
		return 0, 0, fmt.Errorf("kafka topic %q: %w", topic, kafka.UnknownTopicOrPartition)
	}
	replicas = -1
	if len(t.Partitions) > 0 {
		replicas = len(t.Partitions[0].Replicas)
	}
	return len(t.Partitions), replicas, nil
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
