package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// TopicInfo is what Inspect found about a topic.
type TopicInfo struct {
	Exists        bool
	Partitions    int
	CleanupPolicy string // as configured, e.g. "delete" or "compact,delete"
	RetentionMs   int64  // -1 = forever
	// CreateError is, for a missing topic, why EnsureTopic would not
	// create it; nil = it would.
	CreateError error
}

// Inspect describes topic without changing anything: whether it exists,
// its partitions, cleanup.policy and retention.ms, or, when it is missing,
// whether EnsureTopic would create it (creation on, a configured
// replication factor no larger than the brokers). An error means the
// cluster could not be asked.
func (w *Writer) Inspect(ctx context.Context, topic string) (TopicInfo, error) {
	client := w.client()
	n, err := w.partitions(ctx, client, topic)
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		return w.inspectMissing(ctx, client, topic)
	}
	if err != nil {
		return TopicInfo{}, err
	}
	info := TopicInfo{Exists: true, Partitions: n, RetentionMs: -1}
	resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy", "retention.ms"},
	}}})
	if err != nil {
		return info, fmt.Errorf("kafka describe configs of %q: %w", topic, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return info, fmt.Errorf("kafka describe configs of %q: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			switch e.ConfigName {
			case "cleanup.policy":
				info.CleanupPolicy = e.ConfigValue
			case "retention.ms":
				if ms, err := strconv.ParseInt(e.ConfigValue, 10, 64); err == nil {
					info.RetentionMs = ms
				}
			}
		}
	}
	return info, nil
}

// inspectMissing judges whether EnsureTopic could create topic. (Not with
// a validate-only CreateTopics: kafka-go's transport then waits for the
// topic to show up in the metadata, which it never does.)
func (w *Writer) inspectMissing(ctx context.Context, client *kafka.Client, topic string) (TopicInfo, error) {
	info := TopicInfo{}
	if !w.cfg.CreateTopic {
		info.CreateError = errors.New("topic creation is off")
		return info, nil
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		return info, fmt.Errorf("kafka metadata: %w", err)
	}
	if rf := w.cfg.ReplicationFactor; rf > len(md.Brokers) {
		info.CreateError = fmt.Errorf("replication factor %d is more than the %d broker(s): %w", rf, len(md.Brokers), kafka.InvalidReplicationFactor)
	}
	return info, nil
}
