package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/internal/tools/reader"
	"github.com/imreport/imreport/sink"
)

// readLine is one line of `imreport read`, its value decoded.
type readLine struct {
	reader.Line
	Value map[string]any `json:"value"`
}

func parseLines(t *testing.T, out string) []readLine {
	t.Helper()
	var lines []readLine
	for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
		if s == "" {
			continue
		}
		var l readLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", s, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// TestRead: a topic written by run in single-object, then in the Confluent
// format, plus two records in neither framing: read prints every record,
// each decoded by its own framing (matching what scanning with the
// decoder gives), reports the two others on their lines and goes on;
// --partition/--offset/--count select; the end without --follow prints
// nothing; --follow waits for new records.
func TestRead(t *testing.T) {
	spec := bigSpec()
	spec.Count = 1500
	h, brokers, env := harness.NewRun(t, spec)
	reg, client := newRegistry(t)
	runUntil(t, env, h.Start.Add(12*time.Hour)) // single-object
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = reg.URL()
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run: %d\n%s", code, stderr)
	}
	junk := []sink.Record{
		{Key: "k1", Value: []byte(`{"not":"avro"}`), MsgID: 1, MsgType: "text"},
		{Key: "k2", Value: []byte{0xC3, 0x01, 1, 2}, MsgID: 2, MsgType: "text"},
	}
	want := map[string]harness.Record{} // partition/offset -> what the decoder read
	for _, r := range harness.ReadTopicWith(t, brokers, "imreport.messages", client) {
		want[strconv.Itoa(r.Msg.Partition)+"/"+strconv.FormatInt(r.Msg.Offset, 10)] = r
	}
	publishRaw(t, brokers, junk)

	code, out, stderr := runMain(context.Background(), env, "read", "--from-beginning")
	if code != exitOK {
		t.Fatalf("read exited %d:\n%s", code, stderr)
	}
	lines := parseLines(t, out)
	if len(lines) != len(want)+len(junk) {
		t.Fatalf("%d lines, want %d", len(lines), len(want)+len(junk))
	}
	framings := map[string]int{}
	for _, l := range lines {
		framings[l.Framing]++
		r, ok := want[strconv.Itoa(l.Partition)+"/"+strconv.FormatInt(l.Offset, 10)]
		if !ok {
			if l.Error == "" || (l.Raw == nil && l.RawBase64 == nil) || l.Value != nil {
				t.Errorf("undecodable record %+v: want an error and the raw bytes", l)
			}
			continue
		}
		if l.Error != "" || l.Framing != r.Framing.String() || l.SchemaID != r.SchemaID {
			t.Fatalf("%d/%d: framing %s id %d error %q, want %s %d", l.Partition, l.Offset, l.Framing, l.SchemaID, l.Error, r.Framing, r.SchemaID)
		}
		if l.Value["msgid"] != float64(r.Rec["msgid"].(int64)) || l.Key != string(r.Msg.Key) || l.Headers[sink.HeaderMsgID] != r.Msg.Headers[sink.HeaderMsgID] {
			t.Fatalf("%d/%d: value %v key %q, want msgid %v key %q", l.Partition, l.Offset, l.Value["msgid"], l.Key, r.Rec["msgid"], r.Msg.Key)
		}
		ctime := r.Rec["msg_ctime"].(time.Time).UTC().Format("2006-01-02T15:04:05.000Z07:00")
		if l.Value["msg_ctime"] != ctime || l.Timestamp != ctime {
			t.Fatalf("%d/%d: msg_ctime %v timestamp %s, want %s", l.Partition, l.Offset, l.Value["msg_ctime"], l.Timestamp, ctime)
		}
		src, _ := l.Value["source"].(map[string]any)
		if src["app_key"] != harness.AppKey {
			t.Fatalf("%d/%d: source %v", l.Partition, l.Offset, l.Value["source"])
		}
	}
	if framings["single-object"] == 0 || framings["confluent"] == 0 {
		t.Errorf("framings %v: want both", framings)
	}
	if !strings.Contains(stderr, "not decodable") || !strings.Contains(stderr, strconv.Itoa(len(lines))+" record(s), 2 not decodable") {
		t.Errorf("summary: %s", stderr)
	}

	// Without the registry, Confluent values are reported, not fatal.
	noReg := copyEnv(env)
	delete(noReg, "IMREPORT_SCHEMA_REGISTRY_URL")
	code, out, _ = runMain(context.Background(), noReg, "read", "--from-beginning")
	bad := 0
	for _, l := range parseLines(t, out) {
		if l.Framing == "confluent" && strings.Contains(l.Error, "no schema registry is configured") {
			bad++
		}
	}
	if code != exitOK || bad != framings["confluent"] {
		t.Errorf("without a registry: exit %d, %d confluent records reported, want %d", code, bad, framings["confluent"])
	}

	code, out, stderr = runMain(context.Background(), env, "read", "--partition", "1", "--offset", "2", "--count", "3")
	sel := parseLines(t, out)
	if code != exitOK || len(sel) != 3 {
		t.Fatalf("selection: exit %d, %d lines:\n%s", code, len(sel), stderr)
	}
	for i, l := range sel {
		if l.Partition != 1 || l.Offset != int64(2+i) {
			t.Errorf("selection line %d: %d/%d", i, l.Partition, l.Offset)
		}
	}
	if code, out, _ := runMain(context.Background(), env, "read"); code != exitOK || strings.TrimSpace(out) != "" {
		t.Errorf("from the end without --follow: exit %d, printed %q", code, out)
	}
	if code, _, stderr := runMain(context.Background(), env, "read", "--partition", "1", "--offset", "999999"); code != exitFailed || !strings.Contains(stderr, "out of range") {
		t.Errorf("offset beyond the end: exit %d: %s", code, stderr)
	}

	// --follow from the end sees records written later.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan string)
	go func() {
		_, out, _ := runMain(ctx, env, "read", "--follow", "--count", "2")
		done <- out
	}()
	deadline := time.After(20 * time.Second)
	for {
		publishRaw(t, brokers, []sink.Record{{Key: "later", Value: []byte("x"), MsgID: 3}})
		select {
		case out := <-done:
			got := parseLines(t, out)
			if len(got) != 2 || got[0].Key != "later" || got[1].Key != "later" {
				t.Fatalf("follow: %+v", got)
			}
			return
		case <-deadline:
			t.Fatal("read --follow printed nothing for records written later")
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// publishRaw writes records to the main topic as they are.
func publishRaw(t *testing.T, brokers []string, recs []sink.Record) {
	t.Helper()
	w, err := sink.New(sink.Config{Brokers: brokers, Topic: "imreport.messages", AppKey: "someone-else"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Publish(ctx, recs); err != nil {
		t.Fatal(err)
	}
}
