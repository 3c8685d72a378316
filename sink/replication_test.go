package sink

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// With no replication factor configured, a created topic gets the
// cluster's own default where the broker takes -1 for it (Kafka 2.4+), and
// min(3, brokers) from an older broker; the log says which, and what the
// topic got. A configured factor is sent as it is.
func TestEnsureTopicReplicationFactor(t *testing.T) {
	tests := []struct {
		name       string
		brokers    int
		maxVersion *kversion.Versions // nil = kfake's newest
		configured int
		wantSent   int16 // the ReplicationFactor in the CreateTopics request
		wantGot    string
		wantFrom   string
	}{
		{"one broker, cluster default", 1, nil, 0, -1, "replication_factor=1", "the cluster's default.replication.factor"},
		{"three brokers, cluster default", 3, nil, 0, -1, "replication_factor=3", "the cluster's default.replication.factor"},
		{"one broker before Kafka 2.4", 1, kversion.V2_3_0(), 0, 1, "replication_factor=1", "min(3, 1 brokers)"},
		{"four brokers before Kafka 2.4", 4, kversion.V2_3_0(), 0, 3, "replication_factor=3", "min(3, 4 brokers)"},
		{"configured", 3, nil, 2, 2, "replication_factor=2", "2 (configured)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := []kfake.Opt{kfake.NumBrokers(tc.brokers)}
			if tc.maxVersion != nil {
				opts = append(opts, kfake.MaxVersions(tc.maxVersion))
			}
			c := newCluster(t, opts...)
			var mu sync.Mutex
			var sent []int16
			c.ControlKey(int16(kmsg.CreateTopics), func(kr kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				mu.Lock()
				defer mu.Unlock()
				for _, rt := range kr.(*kmsg.CreateTopicsRequest).Topics {
					sent = append(sent, rt.ReplicationFactor)
				}
				return nil, nil, false
			})
			var logs logBuffer
			cfg := loggedConfig(c, "rf", &logs)
			cfg.ReplicationFactor = tc.configured
			w := newWriter(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if _, err := w.EnsureTopic(ctx); err != nil {
				t.Fatalf("EnsureTopic: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sent) != 3 || sent[0] != tc.wantSent || sent[1] != tc.wantSent || sent[2] != tc.wantSent {
				t.Errorf("CreateTopics asked for replication factors %v, want %d for the three topics", sent, tc.wantSent)
			}
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if !strings.Contains(line, "created kafka topic") {
					continue
				}
				if !strings.Contains(line, tc.wantGot) || !strings.Contains(line, tc.wantFrom) {
					t.Errorf("log line %q lacks %q or %q", line, tc.wantGot, tc.wantFrom)
				}
			}
			if n := strings.Count(logs.String(), "created kafka topic"); n != 3 {
				t.Errorf("%d topic creations logged, want 3 (main, dead-letter, state):\n%s", n, logs.String())
			}
		})
	}
}
