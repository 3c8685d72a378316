package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
)

// BenchmarkAuditDay measures what an audit of one day of history costs:
// the demo's day (44,500 messages) published once, then audited with 1h
// buckets. It reports the API requests (deterministic: one count per
// bucket and stream, one bounds probe per stream) and the seconds spent
// reading Kafka; the API part takes requests / IMREPORT_AUDIT_RATE_LIMIT
// seconds (the benchmark lifts the limit to measure the rest).
//
//	go test ./cmd/imreport -run '^$' -bench AuditDay -benchtime 3x
func BenchmarkAuditDay(b *testing.B) {
	end := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	spec := simulator.GenSpec{Seed: 1, Start: end.Add(-24 * time.Hour), End: end, Count: 40000, Bursts: 3, BurstSize: 1500, Poison: 0.001}
	h := harness.NewHistory(b, spec)
	env := harness.BaseEnv(b, h, testkit.Brokers(b))
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		b.Fatalf("run exited %d:\n%s", code, stderr)
	}
	args := []string{"audit", "--from", h.Start.Format(time.RFC3339), "--to", h.End.Format(time.RFC3339), "--json"}
	var kafka, all time.Duration
	var records, requests int64
	b.ResetTimer()
	for range b.N {
		code, out, stderr := runMain(context.Background(), env, args...)
		if code != exitOK {
			b.Fatalf("audit exited %d:\n%s\n%s", code, out, stderr)
		}
		var rep struct {
			Summary struct {
				Records  int64  `json:"records_read"`
				Requests int64  `json:"api_requests"`
				Kafka    string `json:"kafka_elapsed"`
				Elapsed  string `json:"elapsed"`
			} `json:"summary"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			b.Fatal(err)
		}
		k, _ := time.ParseDuration(rep.Summary.Kafka)
		e, _ := time.ParseDuration(rep.Summary.Elapsed)
		kafka, all = kafka+k, all+e
		records, requests = rep.Summary.Records, rep.Summary.Requests
	}
	b.ReportMetric(float64(requests), "requests/day")
	b.ReportMetric(float64(records), "records/day")
	b.ReportMetric(kafka.Seconds()/float64(b.N), "kafka-s/day")
	b.ReportMetric(float64(records)/(kafka.Seconds()/float64(b.N)), "records/s")
	b.ReportMetric(all.Seconds()/float64(b.N), "unlimited-s/day")
}
