package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/internal/retry"
)

func TestPublishRoundTrip(t *testing.T) {
	for _, brokers := range []int{1, 3} {
		t.Run(fmt.Sprintf("brokers=%d", brokers), func(t *testing.T) {
			c := newCluster(t, kfake.NumBrokers(brokers))
			cfg := testConfig(c, "im.messages")
			w := readyWriter(t, cfg, 3)

			if got := w.Topic(); got != "im.messages" {
				t.Errorf("Topic() = %q", got)
			}
			if ti := c.TopicInfo("im.messages"); ti == nil || ti.NumReplicas != 1 {
				t.Fatalf("created topic info = %+v, want replication factor 1", ti)
			}
			if pis := c.PartitionInfos("im.messages"); len(pis) != 3 {
				t.Fatalf("broker holds %d partitions, want 3", len(pis))
			}

			keys := append(keyList(7), "会话-中文", "émoji-🎉", "")
			recs := records(1000, 90, keys, 300)
			// Two Publish calls so the second goes over warm connections.
			publish(t, w, recs[:45])
			publish(t, w, recs[45:])

			got := scanAll(t, w)
			if len(got) != len(recs) {
				t.Fatalf("Scan returned %d records, want %d", len(got), len(recs))
			}
			var total int64
			for _, hw := range produced(t, c, "im.messages") {
				total += hw
			}
			if total != int64(len(recs)) {
				t.Fatalf("broker holds %d records, want %d", total, len(recs))
			}

			byID := map[int64]Record{}
			for _, r := range recs {
				byID[r.MsgID] = r
			}
			seen := map[int64]bool{}
			lastPartition, lastOffset := -1, int64(-1)
			for _, m := range got {
				id, err := strconv.ParseInt(m.Headers[HeaderMsgID], 10, 64)
				if err != nil {
					t.Fatalf("record at %d/%d: msgid header %q: %v", m.Partition, m.Offset, m.Headers[HeaderMsgID], err)
				}
				want, ok := byID[id]
				if !ok || seen[id] {
					t.Fatalf("record msgid %d unexpected or duplicated (known %v, seen %v)", id, ok, seen[id])
				}
				seen[id] = true
				// Publish said where each record landed.
				if want.Topic != "im.messages" || want.Partition != m.Partition || want.Offset != m.Offset {
					t.Errorf("msgid %d: Publish set %s/%d@%d, the topic holds it at %d@%d", id, want.Topic, want.Partition, want.Offset, m.Partition, m.Offset)
				}
				if !bytes.Equal(m.Value, want.Value) {
					t.Errorf("msgid %d: value % x, want % x", id, m.Value, want.Value)
				}
				if string(m.Key) != want.Key {
					t.Errorf("msgid %d: key %q, want %q", id, m.Key, want.Key)
				}
				wantHeaders := map[string]string{
					HeaderMsgID:       strconv.FormatInt(id, 10),
					HeaderAppKey:      "app-key-42",
					HeaderMsgType:     want.MsgType,
					HeaderContentType: ContentType,
				}
				if len(m.Headers) != len(wantHeaders) {
					t.Errorf("msgid %d: headers %v, want %v", id, m.Headers, wantHeaders)
				}
				for k, v := range wantHeaders {
					if m.Headers[k] != v {
						t.Errorf("msgid %d: header %s = %q, want %q", id, k, m.Headers[k], v)
					}
				}
				if m.Time.IsZero() {
					t.Errorf("msgid %d: zero timestamp", id)
				}
				// Scan promises partition order, and offsets ascend within one.
				if m.Partition < lastPartition || (m.Partition == lastPartition && m.Offset <= lastOffset) {
					t.Errorf("Scan order: partition %d offset %d after partition %d offset %d",
						m.Partition, m.Offset, lastPartition, lastOffset)
				}
				lastPartition, lastOffset = m.Partition, m.Offset
			}
		})
	}
}

// Scan documents that it calls fn in partition order. kafka-go's ListOffsets
// returns partitions in map order, so one lucky scan proves little: scan a few
// times.
func TestScanPartitionOrder(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1))
	cfg := testConfig(c, "scan-order")
	cfg.Partitions = 6
	w := readyWriter(t, cfg, 6)
	publish(t, w, records(1, 60, keyList(30), 50))
	for i := range 4 {
		var parts []int
		for _, m := range scanAll(t, w) {
			if len(parts) == 0 || parts[len(parts)-1] != m.Partition {
				parts = append(parts, m.Partition)
			}
		}
		for j := 1; j < len(parts); j++ {
			if parts[j] <= parts[j-1] {
				t.Fatalf("scan %d visited partitions in order %v, want ascending", i, parts)
			}
		}
	}
}

func TestScanStopsOnCallbackError(t *testing.T) {
	_, w := clusterWriter(t, "scan-stop")
	publish(t, w, records(1, 30, keyList(5), 20))
	stop := errors.New("enough")
	n := 0
	err := w.Scan(context.Background(), func(Message) error {
		n++
		if n == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 4 {
		t.Fatalf("Scan = %v after %d records, want the callback's error after 4", err, n)
	}
}

func TestScanEmptyTopic(t *testing.T) {
	_, w := clusterWriter(t, "empty")
	if got := scanAll(t, w); len(got) != 0 {
		t.Fatalf("Scan of an empty topic returned %d records", len(got))
	}
	if err := w.Publish(context.Background(), nil); err != nil {
		t.Fatalf("Publish(nil) = %v", err)
	}
}

func TestEnsureTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	t.Run("create is idempotent", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(3))
		var logs logBuffer
		cfg := loggedConfig(c, "created", &logs)
		w := readyWriter(t, cfg, 3)
		for _, topic := range []string{"created", "created.dlq"} {
			if !strings.Contains(logs.String(), `msg="created kafka topic" topic=`+topic+" ") {
				t.Errorf("creation of %s not logged: %q", topic, logs.String())
			}
			if pis := c.PartitionInfos(topic); len(pis) != 3 {
				t.Errorf("%s has %d partitions, want 3", topic, len(pis))
			}
		}
		n, err := w.EnsureTopic(ctx)
		if err != nil || n != 3 {
			t.Fatalf("second EnsureTopic = %d, %v; want 3, nil", n, err)
		}
		if got := strings.Count(logs.String(), "created kafka topic"); got != 3 {
			t.Errorf("creation logged %d times, want three times (main, dead-letter and state topic, once each)", got)
		}
		if !strings.Contains(logs.String(), `msg="created kafka topic" topic=created.state partitions=1 `) {
			t.Errorf("state topic not created with one partition: %q", logs.String())
		}
	})

	t.Run("missing topic without CreateTopic", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(1))
		cfg := testConfig(c, "no-such-topic")
		cfg.CreateTopic = false
		w := newWriter(t, cfg)
		for range 2 { // and the failed check did not create it
			n, err := w.EnsureTopic(ctx)
			if err == nil {
				t.Fatalf("EnsureTopic = %d, nil; want an error", n)
			}
			if !strings.Contains(err.Error(), `"no-such-topic"`) || !strings.Contains(err.Error(), "does not exist") {
				t.Errorf("error %q does not name the missing topic", err)
			}
			if !errors.Is(err, kafka.UnknownTopicOrPartition) {
				t.Errorf("error %v does not wrap UnknownTopicOrPartition", err)
			}
		}
		if ti := c.TopicInfo("no-such-topic"); ti != nil {
			t.Fatalf("topic was created: %+v", ti)
		}
	})

	t.Run("creation refused", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(1))
		cfg := testConfig(c, "over-replicated")
		cfg.ReplicationFactor = 3 // one broker
		w := newWriter(t, cfg)
		n, err := w.EnsureTopic(ctx)
		if err == nil {
			t.Fatalf("EnsureTopic = %d, nil; want an error", n)
		}
		for _, want := range []string{`"over-replicated"`, "3 partitions", "replication factor 3"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %s", err, want)
			}
		}
		if !errors.Is(err, kafka.InvalidReplicationFactor) || retry.Temporary(err) {
			t.Errorf("error %v: want InvalidReplicationFactor, not temporary", err)
		}
	})

	t.Run("existing topic left alone", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(5, "existing", "existing.dlq", "existing.state"))
		var logs logBuffer
		cfg := loggedConfig(c, "existing", &logs) // asks for 3 partitions
		w := readyWriter(t, cfg, 5)
		if pis := c.PartitionInfos("existing"); len(pis) != 5 {
			t.Errorf("existing topic now has %d partitions, want 5", len(pis))
		}
		if strings.Contains(logs.String(), "created") {
			t.Errorf("logged a creation for an existing topic: %q", logs.String())
		}
		// And the writer uses all 5 partitions.
		publish(t, w, records(1, 100, keyList(50), 10))
		for p, hw := range produced(t, c, "existing") {
			if hw == 0 {
				t.Errorf("partition %d got no records of 100 over 50 keys", p)
			}
		}
	})
}

// Records with one key always land in one partition, and that partition is
// the Java default partitioner's: toPositive(murmur2(key)) % numPartitions.
func TestPartitioningMatchesJava(t *testing.T) {
	// Reference values from Kafka's UtilsTest.testMurmur2, so the reference
	// implementation is checked against Java and not only against kafka-go.
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := murmur2([]byte(key)); got != want {
			t.Fatalf("reference murmur2(%q) = %d, want %d (Java)", key, got, want)
		}
	}

	c := newCluster(t, kfake.NumBrokers(3))
	w := readyWriter(t, testConfig(c, "partitioning"), 3)

	var keys []string
	for i := range 240 {
		keys = append(keys, fmt.Sprintf("c2c_%d_%d", i*7919, i)) // ASCII, varying length
	}
	for i := range 60 {
		// Non-ASCII keys of every length mod 4 in bytes.
		keys = append(keys,
			strings.Repeat("会", i%5)+fmt.Sprint(i),
			"группа-"+strings.Repeat("й", i%3)+fmt.Sprint(i),
			"🎉"+strings.Repeat("x", i%4)+fmt.Sprint(i),
		)
	}
	keys = append(keys, "", "a", "ab", "abc", "abcd", "\x00", "\xff\xfe")

	// Each key three times, in three Publish calls.
	var id int64
	for range 3 {
		recs := make([]Record, len(keys))
		for i, k := range keys {
			id++
			recs[i] = Record{Key: k, Value: []byte(k), MsgID: id, MsgType: "t"}
		}
		publish(t, w, recs)
	}

	partOf := map[string]int{}
	count := map[string]int{}
	perPartition := make([]int, 3)
	for _, m := range scanAll(t, w) {
		k := string(m.Key)
		count[k]++
		perPartition[m.Partition]++
		if p, ok := partOf[k]; ok && p != m.Partition {
			t.Errorf("key %q in partitions %d and %d", k, p, m.Partition)
		}
		partOf[k] = m.Partition
	}
	for _, k := range keys {
		if count[k] != 3 {
			t.Errorf("key %q: %d records, want 3", k, count[k])
			continue
		}
		if want := javaPartition([]byte(k), 3); partOf[k] != want {
			t.Errorf("key %q (% x) in partition %d, Java partitioner picks %d", k, k, partOf[k], want)
		}
	}
	for p, n := range perPartition {
		if n == 0 {
			t.Errorf("partition %d is empty: distribution %v", p, perPartition)
		}
	}
}

// Within a partition, one key's records appear in the order published, over
// several Publish calls and within each.
func TestPublishOrderPerKey(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3))
	w := readyWriter(t, testConfig(c, "order"), 3)
	keys := keyList(12)
	var id int64
	for range 6 {
		recs := records(id+1, 10*len(keys), keys, 64)
		id += int64(len(recs))
		publish(t, w, recs)
	}
	last := map[string]int64{}
	n := 0
	for _, m := range scanAll(t, w) {
		n++
		got, err := strconv.ParseInt(m.Headers[HeaderMsgID], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		k := string(m.Key)
		if got <= last[k] {
			t.Errorf("key %s: msgid %d at partition %d offset %d after msgid %d", k, got, m.Partition, m.Offset, last[k])
		}
		last[k] = got
	}
	if n != int(id) {
		t.Fatalf("scanned %d records, want %d", n, id)
	}
}

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
