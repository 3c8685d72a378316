package testkit

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka starts an in-process Kafka-protocol broker (kfake) on loopback
// with opts and closes it when the test ends.
func Kafka(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake.NewCluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Brokers starts a one-broker kfake cluster with 3 partitions per topic
// and returns its addresses.
func Brokers(t testing.TB, opts ...kfake.Opt) []string {
	t.Helper()
	return Kafka(t, append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3)}, opts...)...).ListenAddrs()
}
