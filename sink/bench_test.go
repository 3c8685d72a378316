package sink

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkPublish publishes 1,000 records of ~400 bytes per call to a
// 1-broker kfake cluster over loopback (acks=all, snappy, 3 partitions).
// Publish is synchronous, so each call waits out BatchTimeout for its
// partial batches: the sub-benchmarks show what that costs.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name         string
		batchTimeout time.Duration
	}{
		{"BatchTimeout=default", 0},
		{"BatchTimeout=1ms", time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := newCluster(b, kfake.NumBrokers(1))
			cfg := testConfig(c, "bench")
			cfg.BatchTimeout = bc.batchTimeout
			w := readyWriter(b, cfg, 3)
			const perCall = 1000
			recs := records(1, perCall, keyList(200), 400)
			ctx := context.Background()
			// Warm metadata and connections outside the measurement.
			if err := w.Publish(ctx, recs); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(perCall * 400))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Publish(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perCall)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
