package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/imreport/imreport/internal/retry"
)

func TestDLQTopicConfig(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1))
	w := newWriter(t, testConfig(c, "im.messages"))
	if got := w.DLQTopic(); got != "im.messages.dlq" {
		t.Errorf("default DLQTopic() = %q, want im.messages.dlq", got)
	}
	cfg := testConfig(c, "im.messages")
	cfg.DLQTopic = "im.dead"
	if got := newWriter(t, cfg).DLQTopic(); got != "im.dead" {
		t.Errorf("DLQTopic() = %q, want im.dead", got)
	}
	cfg.DLQTopic = "im.messages"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "dead-letter topic") {
		t.Errorf("New with DLQTopic == Topic = %v, want an error", err)
	}
}

// Dead letters go to the dead-letter topic with their raw JSON and the
// documented headers; normal records of the same Publish to the main topic.
func TestPublishDeadLetters(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3))
	w := readyWriter(t, testConfig(c, "dl"), 3)
	if pis := c.PartitionInfos("dl.dlq"); len(pis) != 3 {
		t.Fatalf("EnsureTopic created dl.dlq with %d partitions, want 3", len(pis))
	}

	normal := records(1, 40, keyList(7), 80)
	dead := deadLetters(1000, 12)
	// Interleave: the caller's order is arbitrary.
	var recs []Record
	for i := range 40 {
		recs = append(recs, normal[i])
		if i%4 == 3 {
			recs = append(recs, dead[i/4])
		}
	}
	recs = append(recs, dead[10:]...)
	publish(t, w, recs)

	main := scanAll(t, w)
	if len(main) != len(normal) {
		t.Fatalf("main topic holds %d records, want %d", len(main), len(normal))
	}
	for _, m := range main {
		if m.Headers[HeaderContentType] != ContentType || len(m.Headers) != 4 {
			t.Errorf("main record %s has headers %v", m.Headers[HeaderMsgID], m.Headers)
		}
		if id, _ := strconv.ParseInt(m.Headers[HeaderMsgID], 10, 64); id >= 1000 {
			t.Errorf("dead letter %d in the main topic", id)
		}
	}

	got := scanTopic(t, w, "dl.dlq")
	if len(got) != len(dead) {
		t.Fatalf("dead-letter topic holds %d records, want %d", len(got), len(dead))
	}
	byID := map[int64]Record{}
	for _, r := range dead {
		byID[r.MsgID] = r
	}
	seen := map[int64]bool{}
	for _, m := range got {
		id, err := strconv.ParseInt(m.Headers[HeaderMsgID], 10, 64)
		want, ok := byID[id]
		if err != nil || !ok || seen[id] {
			t.Fatalf("dead letter with msgid header %q unexpected or repeated", m.Headers[HeaderMsgID])
		}
		seen[id] = true
		if !bytes.Equal(m.Value, want.Value) {
			t.Errorf("msgid %d: value %q, want the raw JSON %q", id, m.Value, want.Value)
		}
		wantKey := want.Key
		if wantKey == "" {
			wantKey = strconv.FormatInt(id, 10)
		}
		if string(m.Key) != wantKey {
			t.Errorf("msgid %d: key %q, want %q", id, m.Key, wantKey)
		}
		if p := javaPartition([]byte(wantKey), 3); m.Partition != p {
			t.Errorf("msgid %d: partition %d, want %d (murmur2 of the key)", id, m.Partition, p)
		}
		wantHeaders := map[string]string{
			HeaderMsgID:       strconv.FormatInt(id, 10),
			HeaderAppKey:      "app-key-42",
			HeaderMsgType:     want.MsgType,
			HeaderContentType: "application/json",
			HeaderStage:       want.DeadLetter.Stage,
			HeaderError:       want.DeadLetter.Reason,
			HeaderStream:      want.DeadLetter.Stream,
			HeaderEndpoint:    want.DeadLetter.Endpoint,
		}
		if len(m.Headers) != len(wantHeaders) {
			t.Errorf("msgid %d: headers %v, want %v", id, m.Headers, wantHeaders)
		}
		for k, v := range wantHeaders {
			if m.Headers[k] != v {
				t.Errorf("msgid %d: header %s = %q, want %q", id, k, m.Headers[k], v)
			}
		}
	}
	// The header names are the documented ones.
	for k, v := range map[string]string{HeaderStage: "imreport-stage", HeaderError: "imreport-error",
		HeaderStream: "imreport-stream", HeaderEndpoint: "imreport-endpoint", DeadLetterContentType: "application/json"} {
		if k != v {
			t.Errorf("constant %q, want %q", k, v)
		}
	}

	// A Publish of dead letters only.
	publish(t, w, deadLetters(2000, 3))
	if n := len(scanTopic(t, w, "dl.dlq")); n != len(dead)+3 {
		t.Errorf("dead-letter topic holds %d records, want %d", n, len(dead)+3)
	}
}

// One group fails, the other is written: Failed names exactly the failed
// group's records by their index in the caller's slice, and the writer is
// usable afterwards.
func TestPublishMixedPartialFailure(t *testing.T) {
	for _, failTopic := range []string{"mixed.dlq", "mixed"} {
		t.Run(failTopic, func(t *testing.T) {
			c, w := clusterWriter(t, "mixed")
			var failing atomic.Bool
			failing.Store(true)
			answer := produceError(kerr.TopicAuthorizationFailed.Code, nil, nil)
			c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				req := r.(*kmsg.ProduceRequest)
				if !failing.Load() || len(req.Topics) != 1 || req.Topics[0].Topic != failTopic {
					return nil, nil, false
				}
				return answer(r)
			})
			normal := records(1, 27, keyList(6), 40)
			dead := deadLetters(1, 27)
			var recs []Record
			var wantFailed []int
			for i := range 27 {
				r := normal[i]
				if i%3 == 1 {
					r = dead[i]
				}
				if (r.DeadLetter != nil) == (failTopic == "mixed.dlq") {
					wantFailed = append(wantFailed, i)
				}
				recs = append(recs, r)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			err := w.Publish(ctx, recs)
			we := asWriteError(t, fmtWrap(err))
			if !slices.Equal(we.Failed, wantFailed) {
				t.Errorf("Failed = %v, want %v", we.Failed, wantFailed)
			}
			if len(we.Errs) != len(we.Failed) {
				t.Errorf("%d errors for %d failed records", len(we.Errs), len(we.Failed))
			}
			if retry.Temporary(fmtWrap(err)) || !errors.Is(err, kafka.TopicAuthorizationFailed) {
				t.Errorf("Publish = %v: want a fatal TopicAuthorizationFailed", err)
			}
			other := "mixed"
			if failTopic == "mixed" {
				other = "mixed.dlq"
			}
			var stored int64
			for _, v := range hwm(t, c, other) {
				stored += v
			}
			if want := int64(len(recs) - len(wantFailed)); stored != want {
				t.Errorf("%s holds %d records, want %d", other, stored, want)
			}
			for p, v := range hwm(t, c, failTopic) {
				if v != 0 {
					t.Errorf("%s partition %d holds %d records, want none", failTopic, p, v)
				}
			}

			// The (fenced, replaced) writer works once the broker does.
			failing.Store(false)
			publish(t, w, recs)
		})
	}
}

func fmtWrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("pipeline: publish page: %w", err)
}

// EnsureTopic creates a missing dead-letter topic next to an existing main
// topic, keeps an existing one, and fails without CreateTopic.
func TestEnsureTopicDeadLetter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	t.Run("main exists, dead-letter created", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(5, "only-main"))
		w := readyWriter(t, testConfig(c, "only-main"), 5)
		if pis := c.PartitionInfos("only-main.dlq"); len(pis) != 3 {
			t.Errorf("dead-letter topic has %d partitions, want Config.Partitions 3", len(pis))
		}
		publish(t, w, deadLetters(1, 5))
	})
	t.Run("dead-letter exists", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "custom.dead"))
		cfg := testConfig(c, "with-dlq")
		cfg.DLQTopic = "custom.dead"
		readyWriter(t, cfg, 3)
		if pis := c.PartitionInfos("custom.dead"); len(pis) != 2 {
			t.Errorf("existing dead-letter topic now has %d partitions, want 2", len(pis))
		}
	})
	t.Run("dead-letter missing, creation off", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "no-dlq"))
		cfg := testConfig(c, "no-dlq")
		cfg.CreateTopic = false
		w := newWriter(t, cfg)
		_, err := w.EnsureTopic(ctx)
		if err == nil || !strings.Contains(err.Error(), `"no-dlq.dlq"`) || !errors.Is(err, kafka.UnknownTopicOrPartition) {
			t.Fatalf("EnsureTopic = %v, want an error naming no-dlq.dlq", err)
		}
		if c.TopicInfo("no-dlq.dlq") != nil {
			t.Error("the dead-letter topic was created")
		}
	})
}
