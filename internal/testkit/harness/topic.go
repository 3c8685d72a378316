package harness

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
)

// Record is one Kafka record decoded with the schema.
type Record struct {
	Msg      sink.Message
	Rec      map[string]any
	Framing  schema.Framing
	SchemaID int // Confluent only
}

// ReadTopic decodes every record of the topic (single-object only).
func ReadTopic(t *testing.T, brokers []string, topic string) []Record {
	t.Helper()
	return ReadTopicWith(t, brokers, topic, nil)
}

// ReadTopicWith decodes every record of the topic by its own framing,
// resolving Confluent schema ids at reg (nil: none).
func ReadTopicWith(t *testing.T, brokers []string, topic string, reg schema.Registry) []Record {
	t.Helper()
	r, err := sink.New(sink.Config{Brokers: brokers, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	codec, err := schema.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	dec := schema.NewDecoder(codec, reg)
	var out []Record
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.Scan(ctx, func(m sink.Message) error {
		d, err := dec.Decode(ctx, m.Value)
		if err != nil {
			t.Fatalf("partition %d offset %d: %v", m.Partition, m.Offset, err)
		}
		out = append(out, Record{Msg: m, Rec: d.Record, Framing: d.Framing, SchemaID: d.SchemaID})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// ScanTopic reads every record of topic, raw (the dead-letter topic holds
// JSON, not Avro).
func ScanTopic(t *testing.T, brokers []string, topic string) []sink.Message {
	t.Helper()
	r, err := sink.New(sink.Config{Brokers: brokers, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out []sink.Message
	if err := r.Scan(ctx, func(m sink.Message) error {
		out = append(out, m)
		return nil
	}); err != nil {
		t.Fatalf("scan %s: %v", topic, err)
	}
	return out
}

// AssertExactlyOnce checks that the topic holds every message of want once
// and nothing else, and compares every record field by field.
func AssertExactlyOnce(t *testing.T, recs []Record, want []simulator.Message, endpoint string) {
	t.Helper()
	byID := make(map[int64]simulator.Message, len(want))
	for _, m := range want {
		byID[m.MsgID] = m
	}
	seen := make(map[int64]int, len(recs))
	bad := 0
	for _, r := range recs {
		id, _ := r.Rec["msgid"].(int64)
		seen[id]++
		m, ok := byID[id]
		if !ok {
			t.Errorf("unexpected msgid %d in the topic", id)
			continue
		}
		if seen[id] == 1 {
			if diffs := CompareRecord(r, m, endpoint); len(diffs) > 0 {
				bad++
				if bad <= 5 {
					t.Errorf("msgid %d differs from the simulator's message:\n  %s", id, strings.Join(diffs, "\n  "))
				}
			}
		}
	}
	dups, missing := 0, 0
	for id, n := range seen {
		if n > 1 {
			dups += n - 1
			if dups <= 5 {
				t.Errorf("msgid %d published %d times", id, n)
			}
		}
	}
	for id := range byID {
		if seen[id] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("msgid %d missing from the topic", id)
			}
		}
	}
	t.Logf("topic: %d records, %d distinct, %d expected, %d duplicates, %d missing, %d differing", len(recs), len(seen), len(byID), dups, missing, bad)
	if dups > 0 || missing > 0 || bad > 0 || len(recs) != len(byID) {
		t.Fatalf("not exactly once: %d records for %d messages (%d duplicates, %d missing, %d differing)", len(recs), len(byID), dups, missing, bad)
	}
}

// CompareRecord lists the differences between a decoded record and the
// simulator's typed message.
func CompareRecord(r Record, m simulator.Message, endpoint string) []string {
	var d []string
	eq := func(field string, got, want any) {
		if got != want {
			d = append(d, field+": got "+strconv.Quote(toString(got))+", want "+strconv.Quote(toString(want)))
		}
	}
	rec := r.Rec
	eq("msgid", rec["msgid"], m.MsgID)
	eq("msg_type", rec["msg_type"], m.MsgType)
	eq("msg_level", rec["msg_level"], m.MsgLevel)
	eq("version", rec["version"], m.Version)
	eq("target_type", rec["target_type"], m.TargetType)
	eq("target_id", rec["target_id"], m.TargetID)
	eq("target_name", rec["target_name"], m.TargetName)
	eq("from_type", rec["from_type"], m.FromType)
	eq("from_id", rec["from_id"], m.FromID)
	eq("from_name", rec["from_name"], m.FromName)
	eq("from_platform", rec["from_platform"], m.FromPlatform)
	eq("create_time", Millis(rec["create_time"]), m.CreateTime*1000)
	eq("msg_ctime", Millis(rec["msg_ctime"]), m.MsgCtime)
	eq("kafka timestamp", r.Msg.Time.UnixMilli(), m.MsgCtime)
	eq("msg_body", rec["msg_body"], string(m.Body))
	wantTarget := any(nil)
	if m.TargetAppKey != "" || m.TargetAppKeyEmpty {
		wantTarget = m.TargetAppKey
	}
	eq("target_appkey", Union(rec["target_appkey"]), wantTarget)
	wantFrom := any(nil)
	if m.FromAppKey != "" {
		wantFrom = m.FromAppKey
	}
	eq("from_appkey", Union(rec["from_appkey"]), wantFrom)
	wantKey := ConversationOf(m)
	eq("conversation_id", rec["conversation_id"], wantKey)
	eq("kafka key", string(r.Msg.Key), wantKey)
	eq("text", Union(rec["text"]), TextOf(m))
	src, _ := rec["source"].(map[string]any)
	eq("source.app_key", src["app_key"], AppKey)
	eq("source.endpoint", src["endpoint"], endpoint)
	eq("source.api_version", src["api_version"], strings.Split(endpoint, "/")[1])
	eq("header msgid", r.Msg.Headers[sink.HeaderMsgID], strconv.FormatInt(m.MsgID, 10))
	eq("header app_key", r.Msg.Headers[sink.HeaderAppKey], AppKey)
	eq("header msg_type", r.Msg.Headers[sink.HeaderMsgType], m.MsgType)
	return d
}

// ConversationOf is the Kafka key a message must get.
func ConversationOf(m simulator.Message) string {
	if m.TargetType != "single" {
		return m.TargetID
	}
	a, b := m.FromID, m.TargetID
	if b < a {
		a, b = b, a
	}
	return a + ":" + b
}

// TextOf is the text field a message must get: msg_body.text of a text
// message, else nil.
func TextOf(m simulator.Message) any {
	var body struct {
		Text any `json:"text"`
	}
	_ = json.Unmarshal(m.Body, &body)
	if s, ok := body.Text.(string); ok && m.MsgType == "text" {
		return s
	}
	return nil
}

// Millis reads a decoded timestamp-millis field (a time.Time or an int64)
// as milliseconds; -1 for anything else.
func Millis(v any) int64 {
	switch x := v.(type) {
	case time.Time:
		return x.UnixMilli()
	case int64:
		return x
	}
	return -1
}

// Union unwraps goavro's decoded union {"type": value}.
func Union(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, x := range m {
			return x
		}
	}
	return v
}

func toString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}
