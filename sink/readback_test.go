package sink

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func equalMarks(t testing.TB, got, want marksT) {
	t.Helper()
	if !maps.EqualFunc(got, want, func(a, b map[int]int64) bool { return maps.Equal(a, b) }) {
		t.Errorf("marks = %v, want %v", got, want)
	}
}

// clusterMarks is what Marks must return, read from kfake directly.
func clusterMarks(t testing.TB, c *kfake.Cluster, topics ...string) marksT {
	out := marksT{}
	for _, topic := range topics {
		out[topic] = hwm(t, c, topic)
	}
	return out
}

func TestMarks(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3))
	cfg := testConfig(c, "marks")
	w := readyWriter(t, cfg, 3)
	equalMarks(t, mustMarks(t, w), marksT{"marks": {0: 0, 1: 0, 2: 0}, "marks.dlq": {0: 0, 1: 0, 2: 0}})

	publish(t, w, append(records(1, 50, keyList(9), 30), deadLetters(100, 7)...))
	publish(t, w, records(200, 10, keyList(9), 30))
	got := mustMarks(t, w)
	equalMarks(t, got, clusterMarks(t, c, "marks", "marks.dlq"))
	var total int64
	for _, ps := range got {
		for _, v := range ps {
			total += v
		}
	}
	if total != 67 {
		t.Errorf("marks add up to %d records, want 67", total)
	}

	// A missing dead-letter topic is an error, not an empty map.
	c2 := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "lonely"))
	w2 := newWriter(t, testConfig(c2, "lonely"))
	if _, err := w2.Marks(context.Background(), time.Time{}); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Errorf("Marks without a dead-letter topic = %v, want UnknownTopicOrPartition", err)
	}
}

func foundIDs(fs []Found) []int64 {
	var ids []int64
	for _, f := range fs {
		ids = append(ids, f.MsgID)
	}
	slices.Sort(ids)
	return ids
}

func recordIDs(recs ...[]Record) []int64 {
	var ids []int64
	for _, rs := range recs {
		for _, r := range rs {
			ids = append(ids, r.MsgID)
		}
	}
	slices.Sort(ids)
	return ids
}

// ReadBack from marks finds exactly the records of this app written after
// them, in both topics, with their values and positions.
func TestReadBackFromMarks(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3))
	var logs logBuffer
	cfg := loggedConfig(c, "rb", &logs)
	w := readyWriter(t, cfg, 3)

	before := append(records(1, 40, keyList(9), 30), deadLetters(100, 6)...)
	publish(t, w, before)
	marks := mustMarks(t, w)

	after := append(records(1000, 60, keyList(13), 30), deadLetters(2000, 9)...)
	publish(t, w, after[:30])
	// Another app writing to the same topics is ignored.
	otherCfg := cfg
	otherCfg.AppKey = "another-app"
	other := newWriter(t, otherCfg)
	publish(t, other, append(records(5000, 20, keyList(5), 30), deadLetters(6000, 4)...))
	publish(t, w, after[30:])
	// A record of this app without a usable msgid header is skipped and
	// counted.
	raw := &kafka.Writer{Addr: kafka.TCP(c.ListenAddrs()...), Topic: "rb", Balancer: &kafka.LeastBytes{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := raw.WriteMessages(ctx,
		kafka.Message{Value: []byte("x"), Headers: []kafka.Header{{Key: HeaderAppKey, Value: []byte("app-key-42")}}},
		kafka.Message{Value: []byte("y"), Headers: []kafka.Header{{Key: HeaderAppKey, Value: []byte("app-key-42")}, {Key: HeaderMsgID, Value: []byte("12x")}}},
		kafka.Message{Value: []byte("z")}, // no headers at all: another producer
	); err != nil {
		t.Fatal(err)
	}

	found, ends := readBack(t, w, marks)
	if got, want := foundIDs(found), recordIDs(after); !slices.Equal(got, want) {
		t.Fatalf("ReadBack found msgids %v, want %v", got, want)
	}
	equalMarks(t, ends, clusterMarks(t, c, "rb", "rb.dlq"))
	equalMarks(t, ends, mustMarks(t, w))
	byID := map[int64]Record{}
	for _, r := range after {
		byID[r.MsgID] = r
	}
	for _, f := range found {
		r := byID[f.MsgID]
		wantTopic := "rb"
		if r.DeadLetter != nil {
			wantTopic = "rb.dlq"
		}
		if f.Topic != wantTopic || f.DeadLetter != (r.DeadLetter != nil) {
			t.Errorf("msgid %d: topic %q dead %v, want %q", f.MsgID, f.Topic, f.DeadLetter, wantTopic)
		}
		if !bytes.Equal(f.Value, r.Value) {
			t.Errorf("msgid %d: value differs", f.MsgID)
		}
		if f.Offset < marks[f.Topic][f.Partition] || f.Offset >= ends[f.Topic][f.Partition] {
			t.Errorf("msgid %d at %s/%d offset %d, outside [%d, %d)", f.MsgID, f.Topic, f.Partition, f.Offset,
				marks[f.Topic][f.Partition], ends[f.Topic][f.Partition])
		}
	}
	if !strings.Contains(logs.String(), "without a valid msgid header") || !strings.Contains(logs.String(), "records=2") {
		t.Errorf("skipped records not logged as 2: %s", logs.String())
	}

	// From the returned ends, nothing is left.
	if again, _ := readBack(t, w, ends); len(again) != 0 {
		t.Errorf("ReadBack from its own ends found %d records", len(again))
	}

	// fn's error stops ReadBack and comes back as is.
	stop := errors.New("stop")
	n := 0
	_, err := w.ReadBack(ctx, marks, func(Found) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ReadBack = %v after %d calls, want fn's error after 1", err, n)
	}
}

// Partitions missing from from are read from their first offset, and the
// topics may have grown partitions since the marks were taken.
func TestReadBackMissingPartitions(t *testing.T) {
	c, w := clusterWriter(t, "grow")
	first := append(records(1, 30, keyList(9), 20), deadLetters(100, 6)...)
	publish(t, w, first)
	marks := mustMarks(t, w)

	// Forget partition 1 of the main topic and the whole dead-letter topic.
	from := marksT{"grow": {0: marks["grow"][0], 2: marks["grow"][2]}, "unrelated": {0: 99}}
	found, _ := readBack(t, w, from)
	var want []int64
	for _, r := range first {
		if r.DeadLetter != nil || javaPartition([]byte(r.Key), 3) == 1 {
			want = append(want, r.MsgID)
		}
	}
	slices.Sort(want)
	if got := foundIDs(found); !slices.Equal(got, want) {
		t.Errorf("found %v, want partition 1 and the dead letters %v", got, want)
	}

	// The main topic grows to 5 partitions; records land in the new ones.
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp, err := w.client().CreatePartitions(ctx, &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: "grow", Count: 5}}})
	if err != nil || resp.Errors["grow"] != nil {
		t.Fatalf("CreatePartitions: %v %v", err, resp)
	}
	for i := 0; ; i++ {
		cl, release := w.readClient()
		n, err := w.partitions(ctx, cl, "grow")
		release()
		if err == nil && n == 5 {
			break
		} else if i > 50 {
			t.Fatalf("grow has %d partitions (%v), want 5", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	raw := &kafka.Writer{Addr: kafka.TCP(c.ListenAddrs()...), Topic: "grow", Transport: &kafka.Transport{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		Balancer: kafka.BalancerFunc(func(_ kafka.Message, ps ...int) int { return ps[len(ps)-1] })}
	defer raw.Close()
	late := records(500, 4, keyList(2), 20)
	for _, r := range late {
		if err := raw.WriteMessages(ctx, w.messageIn(w.newArena(1), r)); err != nil {
			t.Fatal(err)
		}
	}
	if hw := hwm(t, c, "grow"); hw[4] != 4 {
		t.Fatalf("partition 4 holds %d records, want 4 (%v)", hw[4], hw)
	}
	found, ends := readBack(t, w, marks)
	if got := foundIDs(found); !slices.Equal(got, recordIDs(late)) {
		t.Errorf("after growth found %v, want %v", got, recordIDs(late))
	}
	if len(ends["grow"]) != 5 || ends["grow"][4] != 4 || ends["grow"][3] != 0 {
		t.Errorf("ends = %v, want 5 partitions of grow", ends)
	}
}

// Nothing to read means no reader: a fresh topic, marks at the end, marks
// beyond it.
func TestReadBackReadsNothingAtEnd(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1))
	var logs logBuffer
	cfg := loggedConfig(c, "quiet", &logs)
	w := readyWriter(t, cfg, 3)
	fetches := countRequests(c, kmsg.Fetch)

	found, ends := readBack(t, w, nil)
	if len(found) != 0 {
		t.Errorf("fresh topics: found %d records", len(found))
	}
	equalMarks(t, ends, marksT{"quiet": {0: 0, 1: 0, 2: 0}, "quiet.dlq": {0: 0, 1: 0, 2: 0}})

	publish(t, w, append(records(1, 30, keyList(9), 20), deadLetters(100, 5)...))
	m := mustMarks(t, w)
	found, ends = readBack(t, w, m)
	if len(found) != 0 {
		t.Errorf("marks at the end: found %d records", len(found))
	}
	equalMarks(t, ends, m)

	beyond := marksT{"quiet": {0: 1000, 1: 1000, 2: 1000}, "quiet.dlq": {0: 1000, 1: 1000, 2: 1000}}
	if found, _ = readBack(t, w, beyond); len(found) != 0 {
		t.Errorf("marks beyond the end: found %d records", len(found))
	}
	if !strings.Contains(logs.String(), "beyond the partition's end") {
		t.Errorf("a mark beyond the end was not logged")
	}
	if n := fetches.Load(); n != 0 {
		t.Errorf("%d fetch requests for nothing to read", n)
	}

	// And a real read does fetch (the counter works).
	readBack(t, w, marksT{"quiet": {0: 0}})
	if fetches.Load() == 0 {
		t.Error("no fetch request counted for a real read")
	}
}

// A mark below the partition's first offset (retention deleted records)
// starts at the first offset.
func TestReadBackMarkBelowFirstOffset(t *testing.T) {
	c, w := clusterWriter(t, "trimmed")
	recs := records(1, 30, []string{"one-key"}, 20) // one partition
	publish(t, w, recs)
	p := int32(javaPartition([]byte("one-key"), 3))

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "trimmed"
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = p, 10
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("DeleteRecords: %v %+v", err, resp)
	}

	found, _ := readBack(t, w, marksT{"trimmed": {int(p): 3}})
	if got, want := foundIDs(found), recordIDs(recs[10:]); !slices.Equal(got, want) {
		t.Errorf("found %v, want %v (from the first offset 10)", got, want)
	}
}

func TestReadBackBrokerDownIsTemporary(t *testing.T) {
	c, w := clusterWriter(t, "down")
	publish(t, w, records(1, 10, keyList(3), 20))
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := w.ReadBack(ctx, nil, func(Found) error { return nil })
	if err == nil || !retryTemporary(err) {
		t.Errorf("ReadBack with the broker down = %v, want a temporary error", err)
	}
	_, err = w.Marks(ctx, time.Time{})
	if err == nil || !retryTemporary(err) {
		t.Errorf("Marks with the broker down = %v, want a temporary error", err)
	}
}
