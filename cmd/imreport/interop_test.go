package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/testkit/harness"
)

// TestInteropReaders: a topic written by `imreport run` in the Confluent
// format (default settings: snappy, event-time timestamps) is read by three
// independent consumers that fetch the writer schema from the registry by
// the id in each value: Node (kafkajs 2.2.4 + @kafkajs/confluent-schema-
// registry 3.9.0 + avsc 5.7.9), Python (Debian python3-confluent-kafka's
// confluent_kafka.avro with python3-avro) and Java (Debian libavro-java's
// GenericDatumReader). Each compares counts and fields (and, where it reads
// Kafka itself, keys and timestamps) with the ground truth from the
// simulator. .ci/run installs them; IMREPORT_INTEROP_NODE_MODULES points at
// the npm packages.
func TestInteropReaders(t *testing.T) {
	if os.Getenv("IMREPORT_INTEROP") != "1" {
		t.Skip("set IMREPORT_INTEROP=1 (bash .ci/run installs the readers)")
	}
	nodeModules := os.Getenv("IMREPORT_INTEROP_NODE_MODULES")
	if nodeModules == "" {
		nodeModules = "/tmp/imreport-interop-node/node_modules"
	}
	for _, p := range []string{filepath.Join(nodeModules, "kafkajs"), filepath.Join(nodeModules, "@kafkajs/confluent-schema-registry"), "/usr/share/java/avro.jar"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing: run bash .ci/run (or install the readers as it does)", p)
		}
	}

	spec := bigSpec()
	spec.Count, spec.Bursts, spec.BurstSize = 3000, 1, 1100
	h, brokers, env := harness.NewRun(t, spec)
	reg, client := newRegistry(t)
	env["IMREPORT_SCHEMA_REGISTRY_URL"] = reg.URL()
	if code, _, stderr := runMain(context.Background(), env, "run"); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}

	dir := t.TempDir()
	truth := filepath.Join(dir, "truth.jsonl")
	var b strings.Builder
	want := h.Srv.Visible(h.Start, h.End)
	for _, m := range want {
		line, _ := json.Marshal(map[string]any{
			"msgid": strconv.FormatInt(m.MsgID, 10), "msg_type": m.MsgType, "msg_ctime": m.MsgCtime,
			"create_time": m.CreateTime * 1000, "from_id": m.FromID, "target_id": m.TargetID,
			"conversation_id": harness.ConversationOf(m), "text": harness.TextOf(m), "msg_body": string(m.Body), "app_key": harness.AppKey,
		})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(truth, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	values := filepath.Join(dir, "values.hex")
	b.Reset()
	for _, r := range harness.ReadTopicWith(t, brokers, "imreport.messages", client) {
		b.WriteString(hex.EncodeToString(r.Msg.Value) + "\n")
	}
	if err := os.WriteFile(values, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages written by run; ground truth in %s", len(want), truth)

	here, err := filepath.Abs(filepath.Join("testdata", "interop"))
	if err != nil {
		t.Fatal(err)
	}
	jars := []string{"avro", "jackson-core-asl", "jackson-mapper-asl", "slf4j-api", "slf4j-nop"}
	for i, j := range jars {
		jars[i] = "/usr/share/java/" + j + ".jar"
	}
	topic := "imreport.messages"
	readers := []struct {
		name string
		cmd  []string
		env  []string
	}{
		{"node", []string{"node", filepath.Join(here, "reader.js"), strings.Join(brokers, ","), reg.URL(), topic, truth}, []string{"NODE_PATH=" + nodeModules}},
		{"python", []string{"/usr/bin/python3", filepath.Join(here, "reader.py"), strings.Join(brokers, ","), reg.URL(), topic, truth}, nil},
		{"java", []string{"java", "-cp", strings.Join(jars, ":"), filepath.Join(here, "Reader.java"), values, reg.URL(), truth}, nil},
		// Single-object values (the golden files) with Java's
		// BinaryMessageDecoder, as docs/consuming.md's "A single-object topic" says.
		{"java single-object", append([]string{"java", "-cp", strings.Join(jars, ":"), filepath.Join(here, "SingleObject.java"),
			filepath.Join("..", "..", "schema", "message.avsc")}, goldenValues(t)...), nil},
		// Not a reader: the schema evolution guard again, with the Java
		// reference implementation's SchemaCompatibility.
		{"java schema compatibility", append([]string{"java", "-cp", strings.Join(jars, ":"), filepath.Join(here, "Compat.java"),
			filepath.Join("..", "..", "schema", "message.avsc")}, released(t)...), nil},
	}
	for _, r := range readers {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, r.cmd[0], r.cmd[1:]...)
		cmd.Env = append(os.Environ(), r.env...)
		began := time.Now()
		out, err := cmd.CombinedOutput()
		cancel()
		t.Logf("%s (%s): %s", r.name, time.Since(began).Round(time.Millisecond), strings.TrimSpace(string(out)))
		if err != nil {
			t.Errorf("%s reader failed: %v", r.name, err)
		}
	}
}

// released lists the released schemas the evolution guard checks.
func released(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "schema", "testdata", "released", "v*.avsc"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no released schemas: %v", err)
	}
	return paths
}

// goldenValues lists the single-object golden values.
func goldenValues(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "schema", "testdata", "*.avro"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden values: %v", err)
	}
	return paths
}
