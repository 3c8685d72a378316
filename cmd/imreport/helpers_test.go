package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
)

const (
	testAppKey = simulator.DefaultAppKey
	testSecret = "s3cr3t-master-Secret-value"
)

// history is a simulated Report API over a generated dataset.
type history struct {
	srv        *simulator.Server
	url        string
	msgs       []simulator.Message
	start, end time.Time
	// onRequest, if set, is called after each API request is served (n is 1-based).
	mu        sync.Mutex
	onRequest func(n int64)
}

func newHistory(t testing.TB, spec simulator.GenSpec) *history {
	t.Helper()
	return newHistoryWith(t, spec, simulator.Config{})
}

// newHistoryWith is newHistory with a simulator configuration (its app key
// and secret are the tests').
func newHistoryWith(t testing.TB, spec simulator.GenSpec, cfg simulator.Config) *history {
	t.Helper()
	msgs := simulator.Generate(spec)
	cfg.AppKey, cfg.MasterSecret = testAppKey, testSecret
	h := &history{srv: simulator.New(cfg, msgs), msgs: msgs, start: spec.Start, end: spec.End}
	var n int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.srv.ServeHTTP(w, r)
		h.mu.Lock()
		n++
		cb, k := h.onRequest, n
		h.mu.Unlock()
		if cb != nil {
			cb(k)
		}
	}))
	t.Cleanup(ts.Close)
	h.url = ts.URL
	return h
}

func (h *history) setOnRequest(f func(int64)) {
	h.mu.Lock()
	h.onRequest = f
	h.mu.Unlock()
}

// newKafka starts an in-process Kafka-protocol broker on loopback.
func newKafka(t testing.TB) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// baseEnv is a complete configuration for a bounded run over h into brokers.
func baseEnv(t testing.TB, h *history, brokers []string) map[string]string {
	return map[string]string{
		"IMREPORT_APP_KEY":                  testAppKey,
		"IMREPORT_MASTER_SECRET":            testSecret,
		"IMREPORT_API_URL":                  h.url,
		"IMREPORT_START":                    h.start.Format(time.RFC3339),
		"IMREPORT_END":                      h.end.Format(time.RFC3339),
		"IMREPORT_RATE_LIMIT":               "2000",
		"IMREPORT_AUDIT_RATE_LIMIT":         "2000",
		"IMREPORT_KAFKA_BROKERS":            strings.Join(brokers, ","),
		"IMREPORT_KAFKA_PARTITIONS":         "3",
		"IMREPORT_KAFKA_REPLICATION_FACTOR": "1",
		"IMREPORT_CHECKPOINT_PATH":          filepath.Join(t.TempDir(), "imreport.db"),
		"IMREPORT_HTTP_ADDR":                "",
		"IMREPORT_LOG_LEVEL":                "warn",
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runMain runs Main with env and returns its exit code, stdout and stderr.
func runMain(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	var out, errb syncBuffer
	code := Main(ctx, args, &out, &errb, envconfig.MapLookuper(env))
	return code, out.String(), errb.String()
}

// record is one Kafka record decoded with the schema.
type record struct {
	msg      sink.Message
	rec      map[string]any
	framing  schema.Framing
	schemaID int // Confluent only
}

// readTopic decodes every record of the topic (single-object only).
func readTopic(t *testing.T, brokers []string, topic string) []record {
	t.Helper()
	return readTopicWith(t, brokers, topic, nil)
}

// readTopicWith decodes every record of the topic by its own framing,
// resolving Confluent schema ids at reg (nil: none).
func readTopicWith(t *testing.T, brokers []string, topic string, reg schema.Registry) []record {
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
	var out []record
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.Scan(ctx, func(m sink.Message) error {
		d, err := dec.Decode(ctx, m.Value)
		if err != nil {
			t.Fatalf("partition %d offset %d: %v", m.Partition, m.Offset, err)
		}
		out = append(out, record{msg: m, rec: d.Record, framing: d.Framing, schemaID: d.SchemaID})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertExactlyOnce checks that the topic holds every message of want once
// and nothing else, and compares every record field by field.
func assertExactlyOnce(t *testing.T, recs []record, want []simulator.Message, endpoint string) {
	t.Helper()
	byID := make(map[int64]simulator.Message, len(want))
	for _, m := range want {
		byID[m.MsgID] = m
	}
	seen := make(map[int64]int, len(recs))
	bad := 0
	for _, r := range recs {
		id, _ := r.rec["msgid"].(int64)
		seen[id]++
		m, ok := byID[id]
		if !ok {
			t.Errorf("unexpected msgid %d in the topic", id)
			continue
		}
		if seen[id] == 1 {
			if diffs := compareRecord(r, m, endpoint); len(diffs) > 0 {
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

// compareRecord lists the differences between a decoded record and the
// simulator's typed message.
func compareRecord(r record, m simulator.Message, endpoint string) []string {
	var d []string
	eq := func(field string, got, want any) {
		if got != want {
			d = append(d, field+": got "+strconv.Quote(toString(got))+", want "+strconv.Quote(toString(want)))
		}
	}
	rec := r.rec
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
	eq("create_time", millis(rec["create_time"]), m.CreateTime*1000)
	eq("msg_ctime", millis(rec["msg_ctime"]), m.MsgCtime)
	eq("kafka timestamp", r.msg.Time.UnixMilli(), m.MsgCtime)
	eq("msg_body", rec["msg_body"], string(m.Body))
	wantTarget := any(nil)
	if m.TargetAppKey != "" || m.TargetAppKeyEmpty {
		wantTarget = m.TargetAppKey
	}
	eq("target_appkey", union(rec["target_appkey"]), wantTarget)
	wantFrom := any(nil)
	if m.FromAppKey != "" {
		wantFrom = m.FromAppKey
	}
	eq("from_appkey", union(rec["from_appkey"]), wantFrom)
	wantKey := conversationOf(m)
	eq("conversation_id", rec["conversation_id"], wantKey)
	eq("kafka key", string(r.msg.Key), wantKey)
	eq("text", union(rec["text"]), textOf(m))
	src, _ := rec["source"].(map[string]any)
	eq("source.app_key", src["app_key"], testAppKey)
	eq("source.endpoint", src["endpoint"], endpoint)
	eq("source.api_version", src["api_version"], strings.Split(endpoint, "/")[1])
	eq("header msgid", r.msg.Headers[sink.HeaderMsgID], strconv.FormatInt(m.MsgID, 10))
	eq("header app_key", r.msg.Headers[sink.HeaderAppKey], testAppKey)
	eq("header msg_type", r.msg.Headers[sink.HeaderMsgType], m.MsgType)
	return d
}

// conversationOf is the Kafka key a message must get.
func conversationOf(m simulator.Message) string {
	if m.TargetType != "single" {
		return m.TargetID
	}
	a, b := m.FromID, m.TargetID
	if b < a {
		a, b = b, a
	}
	return a + ":" + b
}

// textOf is the text field a message must get: msg_body.text of a text
// message, else nil.
func textOf(m simulator.Message) any {
	var body struct {
		Text any `json:"text"`
	}
	_ = json.Unmarshal(m.Body, &body)
	if s, ok := body.Text.(string); ok && m.MsgType == "text" {
		return s
	}
	return nil
}

func millis(v any) int64 {
	switch x := v.(type) {
	case time.Time:
		return x.UnixMilli()
	case int64:
		return x
	}
	return -1
}

// union unwraps goavro's decoded union {"type": value}.
func union(v any) any {
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

func basic(appKey, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(appKey + ":" + secret))
}

func mapLookup(env map[string]string) envconfig.Lookuper { return envconfig.MapLookuper(env) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
