package schema

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// TestPythonAvroInterop decodes the golden .avro files with the Apache Avro
// Python library (Debian python3-avro) through testdata/decode_avro.py, which
// also checks the single-object header against a fingerprint it computes on its
// own, and compares the records with Go's decoding.
func TestPythonAvroInterop(t *testing.T) {
	if os.Getenv("IMREPORT_INTEROP") != "1" {
		t.Skip("set IMREPORT_INTEROP=1 to run (needs /usr/bin/python3 with python3-avro)")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.avro"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden .avro files: %v", err)
	}
	sort.Strings(files)
	cmd := exec.Command("/usr/bin/python3", append([]string{filepath.Join("testdata", "decode_avro.py"), "message.avsc"}, files...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("decode_avro.py: %v\n%s", err, stderr.Bytes())
	}
	c := testCodec(t)
	fp := c.Fingerprint()
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			File        string
			Fingerprint string
			Record      map[string]json.RawMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("python output %q: %v", sc.Bytes(), err)
		}
		seen++
		if line.Fingerprint != hex.EncodeToString(fp[:]) {
			t.Errorf("%s: python fingerprint %s, Go %x", line.File, line.Fingerprint, fp)
		}
		b, err := os.ReadFile(line.File)
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", line.File, err)
		}
		var msgid int64
		var body string
		var text *string
		if err := json.Unmarshal(line.Record["msgid"], &msgid); err != nil || msgid != d["msgid"] {
			t.Errorf("%s: msgid python %s, Go %v", line.File, line.Record["msgid"], d["msgid"])
		}
		if err := json.Unmarshal(line.Record["msg_body"], &body); err != nil || body != d["msg_body"] {
			t.Errorf("%s: msg_body python %s, Go %q", line.File, line.Record["msg_body"], d["msg_body"])
		}
		if err := json.Unmarshal(line.Record["text"], &text); err != nil {
			t.Errorf("%s: text %s: %v", line.File, line.Record["text"], err)
		}
		var goText *string
		if u, ok := d["text"].(map[string]any); ok {
			s := u["string"].(string)
			goText = &s
		}
		if (text == nil) != (goText == nil) || text != nil && *text != *goText {
			t.Errorf("%s: text python %s, Go %v", line.File, line.Record["text"], d["text"])
		}
		var conv string
		if err := json.Unmarshal(line.Record["conversation_id"], &conv); err != nil || conv != d["conversation_id"] {
			t.Errorf("%s: conversation_id python %s, Go %v", line.File, line.Record["conversation_id"], d["conversation_id"])
		}
	}
	if seen != len(files) {
		t.Errorf("python decoded %d of %d files", seen, len(files))
	}
}
