package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/schema/registry"
	"github.com/imreport/imreport/sink"
)

const testSubject = "imreport.messages-value"

// newRegistry starts an in-memory Confluent Schema Registry (srfake) over
// HTTP on loopback and returns it with a client for it.
func newRegistry(t *testing.T, opts ...srfake.Option) (*srfake.Registry, *registry.Client) {
	t.Helper()
	reg := srfake.New(opts...)
	t.Cleanup(reg.Close)
	c, err := registry.New(registry.Config{URLs: []string{reg.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	return reg, c
}

// TestRunConfluentSwitchExactlyOnce: a deployment publishes the first half
// of a day in single-object encoding, then is switched to the Confluent
// format (a registry URL set: auto), stopped twice midway and finished.
// Every message is in the topic once; the first half single-object, the
// rest 00 + the registered id; the id resolves at the registry to the full
// .avsc text; every record decodes by its framing and matches the
// simulator's message field by field (timestamps included); the
// content-type header tells the framing.
func TestRunConfluentSwitchExactlyOnce(t *testing.T) {
	spec := bigSpec()
	spec.Count = 12000
	h, brokers, env := harness.NewRun(t, spec)
	reg, client := newRegistry(t)
	env["IMREPORT_WINDOW"] = "20m"
	mid := h.Start.Add(12 * time.Hour)

	runUntil(t, env, mid)
	if reg.SubjectExists(testSubject) {
		t.Fatal("the single-object run registered a schema")
	}
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = reg.URL()
	last := topicSize(t, brokers, "imreport.messages")
	for i, stopAt := range []int64{5, 14} {
		ctx, cancel := context.WithCancel(context.Background())
		// Cancel at this run's stopAt-th request or the first after it at
		// which the topic has grown: how many requests come before the
		// first write depends on the window sizing and the machine's speed
		// (under -race pages are fetched well ahead of their write).
		var served atomic.Int64 // this run's requests (the history counts them all)
		before := last          // a request of this run may still be served after it returned
		h.SetOnRequest(cancelWhenGrown(brokers, before, func(int64) bool { return served.Add(1) >= stopAt }, cancel))
		code, _, stderr := runMain(ctx, env, "run")
		cancel()
		h.SetOnRequest(nil)
		if code != exitOK {
			t.Fatalf("confluent run %d exited %d after cancel:\n%s", i+1, code, stderr)
		}
		n := topicSize(t, brokers, "imreport.messages")
		if n <= last || n >= int64(len(h.Msgs)) {
			t.Fatalf("confluent run %d was meant to stop midway: %d records after it, %d before, %d in all", i+1, n, last, len(h.Msgs))
		}
		last = n
	}
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("final run exited %d:\n%s", code, stderr)
	}

	ss, ok := reg.GetSchema(testSubject, 1)
	if !ok || ss.Schema.Schema != schema.JSON() {
		t.Fatalf("subject %s version 1: %v %q, want the full .avsc text", testSubject, ok, ss.Schema.Schema)
	}
	if _, more := reg.GetSchema(testSubject, 2); more {
		t.Fatal("restarts registered more than one version")
	}
	recs := harness.ReadTopicWith(t, brokers, "imreport.messages", client)
	harness.AssertExactlyOnce(t, recs, h.Srv.Visible(h.Start, h.End), "/v2/messages")
	counts := map[schema.Framing]int{}
	for _, r := range recs {
		created := r.Rec["create_time"].(time.Time)
		want, ct := schema.SingleObject, schema.ContentTypeSingleObject
		if !created.Before(mid) {
			want, ct = schema.Confluent, fmt.Sprintf("%s; schema-id=%d", schema.ContentTypeConfluent, ss.ID)
			if !bytes.Equal(r.Msg.Value[:5], schema.AppendConfluentHeader(nil, ss.ID)) {
				t.Fatalf("msgid %v: value starts %x, want 00 and id %d", r.Rec["msgid"], r.Msg.Value[:5], ss.ID)
			}
		}
		if r.Framing != want || r.Msg.Headers[sink.HeaderContentType] != ct {
			t.Fatalf("msgid %v created %v: framing %v content-type %q, want %v %q", r.Rec["msgid"], created, r.Framing, r.Msg.Headers[sink.HeaderContentType], want, ct)
		}
		counts[r.Framing]++
	}
	t.Logf("framings: %v", counts)
	if counts[schema.SingleObject] == 0 || counts[schema.Confluent] == 0 {
		t.Fatalf("framings %v: want both", counts)
	}
}

// TestRunRegistryIncompatible: the subject already holds an incompatible
// schema (the registry answers 409, as Confluent's does; srfake does not
// check compatibility, so a wrapper answers for it): the run exits 1 within
// seconds, naming the subject, the registry's code and message, having
// fetched and published nothing.
func TestRunRegistryIncompatible(t *testing.T) {
	reg, _ := newRegistry(t)
	reg.SeedSchema(testSubject, 1, 1, sr.Schema{Schema: `{"type":"record","name":"Message","namespace":"io.imreport","fields":[{"name":"msgid","type":"string"}]}`})
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || r.URL.Path != "/subjects/"+testSubject+"/versions" {
			return false
		}
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, `{"error_code":409,"message":"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the new schema does not match with the old schema'}]"}`, testSubject)
		return true
	})
	code, stderr, requests, published := runAgainstRegistry(t, reg.URL(), nil)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	wantIn(t, "stderr", stderr, testSubject, "HTTP 409, error code 409", "TYPE_MISMATCH", "nothing was fetched or published")
	if requests != 0 || published != 0 {
		t.Errorf("%d API requests and %d records published, want none", requests, published)
	}
	t.Logf("%s", stderr)
}

// TestRunRegistryUnreachable: nothing listens at the registry URL: the
// registration is retried with backoff, then the run fails with the
// cause, having fetched and published nothing.
func TestRunRegistryUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	code, stderr, requests, published := runAgainstRegistry(t, url, nil)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	wantIn(t, "stderr", stderr, "connection refused", testSubject, "schema registry not reachable yet, retrying")
	if requests != 0 || published != 0 {
		t.Errorf("%d API requests and %d records published, want none", requests, published)
	}
}

// TestRunRegistryWrongCredentials: a wrong password (403) and a missing or
// wrong token (401/403) stop the run at once; neither secret appears in any
// output.
func TestRunRegistryWrongCredentials(t *testing.T) {
	good := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:right-password"))
	reg, _ := newRegistry(t, srfake.WithAuth(good))
	for _, creds := range []map[string]string{
		{"IMREPORT_SCHEMA_REGISTRY_USERNAME": "svc", "IMREPORT_SCHEMA_REGISTRY_PASSWORD": "wrong-pass-31337"},
		{"IMREPORT_SCHEMA_REGISTRY_BEARER_TOKEN": "wrong-token-4242"},
	} {
		code, out, requests, published := runAgainstRegistry(t, reg.URL(), creds)
		if code != exitFailed {
			t.Fatalf("%v: exit %d, want 1:\n%s", creds, code, out)
		}
		if !strings.Contains(out, "HTTP 403") || !strings.Contains(out, testSubject) || !strings.Contains(out, "User not authorized") {
			t.Errorf("the error lacks the status, subject or message:\n%s", out)
		}
		for _, secret := range []string{"wrong-pass-31337", "wrong-token-4242", base64.StdEncoding.EncodeToString([]byte("svc:wrong-pass-31337"))} {
			if strings.Contains(out, secret) {
				t.Errorf("a secret in the output:\n%s", out)
			}
		}
		if requests != 0 || published != 0 {
			t.Errorf("%d API requests and %d records published, want none", requests, published)
		}
	}
	// The right password works.
	code, out, _, published := runAgainstRegistry(t, reg.URL(), map[string]string{"IMREPORT_SCHEMA_REGISTRY_USERNAME": "svc", "IMREPORT_SCHEMA_REGISTRY_PASSWORD": "right-password"})
	if code != exitOK || published == 0 || strings.Contains(out, "right-password") {
		t.Fatalf("right password: exit %d, %d published:\n%s", code, published, out)
	}
}

// TestRunRegistryRecoversFrom5xx: two 503s, then the registry answers:
// the run retries and finishes.
func TestRunRegistryRecoversFrom5xx(t *testing.T) {
	reg, _ := newRegistry(t)
	var failures atomic.Int64
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && failures.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error_code":50003,"message":"Error while forwarding the request to the primary"}`)
			return true
		}
		return false
	})
	code, out, _, published := runAgainstRegistry(t, reg.URL(), nil)
	if code != exitOK || published == 0 {
		t.Fatalf("exit %d, %d published:\n%s", code, published, out)
	}
	if strings.Count(out, "schema registry not reachable yet, retrying") != 2 {
		t.Errorf("want two retries logged:\n%s", out)
	}
}

// runAgainstRegistry runs a small bounded backfill with the registry at url
// (and extra variables) and returns the exit code, stderr, the API
// requests served and the records in the topic. It fails the test if the
// run takes a minute or more.
func runAgainstRegistry(t *testing.T, url string, extra map[string]string) (code int, stderr string, requests int64, published int64) {
	t.Helper()
	spec := bigSpec()
	spec.Count = 500
	h := harness.NewHistory(t, spec)
	var n atomic.Int64
	h.SetOnRequest(func(int64) { n.Add(1) })
	brokers := testkit.Brokers(t)
	env := harness.BaseEnv(t, h, brokers)
	env["IMREPORT_LOG_LEVEL"] = "info"
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = url
	for k, v := range extra {
		env[k] = v
	}
	began := time.Now()
	code, stdout, stderr := runMain(context.Background(), env, "run")
	if d := time.Since(began); d >= time.Minute {
		t.Errorf("the run took %s, want under a minute", d)
	}
	return code, stdout + stderr, n.Load(), topicSize(t, brokers, "imreport.messages")
}

// topicSize is the number of records in topic, 0 if it does not exist.
func topicSize(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	n, err := countRecords(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cancelWhenGrown returns a request hook for the history: once reached says
// the request is far enough in and imreport.messages holds more than before
// records, it cancels the run, once.
func cancelWhenGrown(brokers []string, before int64, reached func(n int64) bool, cancel func()) func(int64) {
	var stopped atomic.Bool
	return func(n int64) {
		if !reached(n) || stopped.Load() {
			return
		}
		if size, err := countRecords(brokers, "imreport.messages"); err == nil && size > before {
			stopped.Store(true)
			cancel()
		}
	}
}

// countRecords returns how many records topic holds (0 when it does not
// exist). Safe to call from any goroutine.
func countRecords(brokers []string, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(brokers...)}
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	if len(meta.Topics) == 0 || meta.Topics[0].Error != nil {
		return 0, nil
	}
	reqs := map[string][]kafka.OffsetRequest{}
	for _, p := range meta.Topics[0].Partitions {
		reqs[topic] = append(reqs[topic], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: reqs})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, po := range resp.Topics[topic] {
		n += po.LastOffset - po.FirstOffset
	}
	return n, nil
}

func copyEnv(env map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = v
	}
	return out
}

// TestDemoFormats: the demo writes the Confluent format through its
// embedded registry by default and names the subject and id; --format
// single-object keeps the other path.
func TestDemoFormats(t *testing.T) {
	for format, want := range map[string]string{
		"":              "value framing         1500 confluent (00 + schema id 1, subject imreport.messages-value)",
		"single-object": "value framing         1500 single-object",
	} {
		args := []string{"demo", "--messages", "1500", "--hours", "2", "--bursts", "0"}
		if format != "" {
			args = append(args, "--format", format)
		}
		code, out, stderr := runMain(context.Background(), nil, args...)
		if code != exitOK || !strings.Contains(out, want) || !strings.Contains(out, "OK: every simulated message") {
			t.Errorf("demo %v: exit %d, want %q in:\n%s\n%s", args, code, want, out, stderr)
		}
	}
}

// TestRunWarnsOfShortRetention: record timestamps are event times, so a
// topic whose retention is shorter than the history's age would delete the
// records; the run says so (and still runs).
func TestRunWarnsOfShortRetention(t *testing.T) {
	spec := bigSpec()
	spec.Count = 300
	h := harness.NewHistory(t, spec)
	brokers := testkit.Brokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(brokers...)}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: "imreport.messages", NumPartitions: 3, ReplicationFactor: 1, ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}},
	}})
	if err != nil || resp.Errors["imreport.messages"] != nil {
		t.Fatalf("create topic: %v %v", err, resp)
	}
	code, _, stderr := runMain(context.Background(), harness.BaseEnv(t, h, brokers), "run")
	if code != exitOK || !strings.Contains(stderr, "retention.ms (1h0m0s) is shorter than the age of the oldest messages") {
		t.Fatalf("exit %d; want the retention warning:\n%s", code, stderr)
	}
}

// runUntil runs env as a bounded backfill up to end instead of its
// IMREPORT_END (the first part of a history) and fails the test unless it
// exits 0.
func runUntil(t *testing.T, env map[string]string, end time.Time) {
	t.Helper()
	first := copyEnv(env)
	first["IMREPORT_END"] = end.Format(time.RFC3339)
	if code, _, stderr := runMain(context.Background(), first, "run"); code != exitOK {
		t.Fatalf("run up to %s exited %d:\n%s", end.Format(time.RFC3339), code, stderr)
	}
}

// TestRunRegistryDownAfterStartup: once the schema is registered the
// registry is not needed: it answers 503 to everything from then on and the
// run publishes every message in the Confluent format with the id it got.
func TestRunRegistryDownAfterStartup(t *testing.T) {
	reg, client := newRegistry(t)
	var registered atomic.Bool
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if registered.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		if r.Method == http.MethodPost {
			registered.Store(true) // this one goes through
		}
		return false
	})
	spec := bigSpec()
	spec.Count = 2000
	h, brokers, env := harness.NewRun(t, spec)
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = reg.URL()
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	if !registered.Load() {
		t.Fatal("nothing was registered")
	}
	reg.ClearInterceptors() // for the check below
	recs := harness.ReadTopicWith(t, brokers, "imreport.messages", client)
	harness.AssertExactlyOnce(t, recs, h.Srv.Visible(h.Start, h.End), "/v2/messages")
	for _, r := range recs {
		if r.Framing != schema.Confluent || r.SchemaID != 1 {
			t.Fatalf("msgid %v: %v id %d, want confluent id 1", r.Rec["msgid"], r.Framing, r.SchemaID)
		}
	}
}
