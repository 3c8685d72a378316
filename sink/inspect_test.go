package sink

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Inspect describes an existing topic's policy and retention, and for a
// missing one asks the broker whether it would create it; it changes
// nothing.
func TestInspect(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1))
	if err := c.CreateTopic("compacted", 2, map[string]string{"cleanup.policy": "compact", "retention.ms": "3600000"}); err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, testConfig(c, "compacted"))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	info, err := w.Inspect(ctx, "compacted")
	if err != nil || !info.Exists || info.Partitions != 2 || info.CleanupPolicy != "compact" || info.RetentionMs != 3600000 {
		t.Errorf("compacted: %+v %v", info, err)
	}
	info, err = w.Inspect(ctx, "missing")
	if err != nil || info.Exists || info.CreateError != nil {
		t.Errorf("missing: %+v %v", info, err)
	}
	if _, err := w.partitions(ctx, w.client(), "missing"); err == nil {
		t.Error("Inspect created the missing topic")
	}
	cfg := testConfig(c, "x")
	cfg.ReplicationFactor = 3 // one broker
	w3 := newWriter(t, cfg)
	info, err = w3.Inspect(ctx, "missing")
	if err != nil || info.Exists || info.CreateError == nil {
		t.Errorf("replication 3 on one broker: %+v %v", info, err)
	}
	cfg.CreateTopic = false
	info, err = newWriter(t, cfg).Inspect(ctx, "missing")
	if err != nil || info.CreateError == nil {
		t.Errorf("creation off: %+v %v", info, err)
	}
}
