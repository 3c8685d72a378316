package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// The schema evolution guard. Every released value schema is kept in
// testdata/released/vN.avsc. Consumers hold data written with any of them
// and registries keep them all under the subject, so the current schema
// must be FULL compatible (backward and forward: Confluent's FULL, here
// against every version, i.e. FULL_TRANSITIVE) with each: a reader with the
// new schema reads old records, and a reader with an old schema reads new
// records.
//
// The checker is hamba/avro's SchemaCompatibility, an implementation of the
// Avro specification's schema resolution rules (the same rules as the Java
// reference's SchemaCompatibility, which Confluent's registry applies). It
// is a test-only dependency: the binary does not link it.

func releasedSchemas(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "released", "v*.avsc"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no released schemas in testdata/released: %v", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = string(b)
	}
	return out
}

func parseAvro(t *testing.T, name, text string) avro.Schema {
	t.Helper()
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// fullyCompatible reports, as an error, why a and b are not compatible both
// ways.
func fullyCompatible(a, b avro.Schema) error {
	c := avro.NewSchemaCompatibility()
	if err := c.Compatible(a, b); err != nil {
		return err
	}
	return c.Compatible(b, a)
}

func TestSchemaEvolutionFull(t *testing.T) {
	current := parseAvro(t, "message.avsc", JSON())
	released := releasedSchemas(t)
	for name, text := range released {
		if err := fullyCompatible(current, parseAvro(t, name, text)); err != nil {
			t.Errorf("message.avsc is not FULL compatible with the released %s: %v (see docs/consuming.md, \"Changing the schema\")", name, err)
		}
	}
	// The current schema must itself be released: a change to message.avsc
	// is recorded as the next vN.avsc, against which later ones are checked.
	newest := 0
	for name := range released {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "v"), ".avsc"))
		if err != nil {
			t.Fatalf("testdata/released/%s: want vN.avsc", name)
		}
		newest = max(newest, n)
	}
	if len(released) != newest {
		t.Errorf("testdata/released holds %d schemas, the newest v%d: versions are numbered 1, 2, ... without gaps", len(released), newest)
	}
	if canonicalOf(t, released[fmt.Sprintf("v%d.avsc", newest)]) != canonicalOf(t, JSON()) {
		t.Errorf("message.avsc differs from the newest released schema v%d.avsc: once it is compatible, copy it to testdata/released/v%d.avsc", newest, newest+1)
	}
}

func canonicalOf(t *testing.T, text string) string {
	t.Helper()
	var parsed any
	if err := json.Unmarshal([]byte(text), &parsed); err != nil {
		t.Fatal(err)
	}
	c, err := canonicalForm(parsed)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSchemaEvolutionGuardCatches: the checker rejects the changes that
// break consumers, and accepts the safe one, so the guard above can fail.
func TestSchemaEvolutionGuardCatches(t *testing.T) {
	mutate := func(f func(fields []any) []any) avro.Schema {
		var m map[string]any
		_ = json.Unmarshal([]byte(JSON()), &m)
		m["fields"] = f(m["fields"].([]any))
		b, _ := json.Marshal(m)
		return parseAvro(t, "mutated", string(b))
	}
	current := parseAvro(t, "message.avsc", JSON())
	cases := []struct {
		name string
		s    avro.Schema
		ok   bool
	}{
		{"a nullable field with a null default added", mutate(func(fs []any) []any {
			return append(fs, map[string]any{"name": "thread_id", "type": []any{"null", "string"}, "default": nil})
		}), true},
		{"a field without a default added", mutate(func(fs []any) []any {
			return append(fs, map[string]any{"name": "thread_id", "type": "string"})
		}), false},
		{"a field without a default removed (msg_type)", mutate(func(fs []any) []any {
			return slices.DeleteFunc(fs, func(f any) bool { return f.(map[string]any)["name"] == "msg_type" })
		}), false},
		{"msgid changed from long to string", mutate(func(fs []any) []any {
			for _, f := range fs {
				if m := f.(map[string]any); m["name"] == "msgid" {
					m["type"] = "string"
				}
			}
			return fs
		}), false},
	}
	for _, c := range cases {
		err := fullyCompatible(current, c.s)
		if (err == nil) != c.ok {
			t.Errorf("%s: compatible both ways = %v (%v), want %v", c.name, err == nil, err, c.ok)
		}
	}
}

// TestReleasedSchemasLoad: the embedded list of released schemas parses, and
// today's schema, being the newest release, is not among the older ones.
func TestReleasedSchemasLoad(t *testing.T) {
	c := testCodec(t)
	fp, err := fingerprintOf(JSON())
	if err != nil || fp != c.Fingerprint() {
		t.Fatalf("fingerprintOf(message.avsc) = %x, %v; want %x", fp, err, c.Fingerprint())
	}
	older, err := releasedWriters(c.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	media, _ := filepath.Glob(filepath.Join("testdata", "released", "media-v*.avsc")) // the media topic's, decoded by the same Decoder
	if want := len(releasedSchemas(t)) - 1 + len(media); len(older) != want {
		t.Errorf("%d older released schemas, want %d", len(older), want)
	}
}

// TestDecoderReadsOlderSingleObject: a single-object value written by an
// earlier release (another fingerprint) decodes with that release's schema.
func TestDecoderReadsOlderSingleObject(t *testing.T) {
	c := testCodec(t)
	d := NewDecoder(c, nil)
	text := `{"type":"record","name":"Message","namespace":"io.imreport","fields":[{"name":"msgid","type":"long"},{"name":"text","type":["null","string"],"default":null}]}`
	fp, err := fingerprintOf(text)
	if err != nil {
		t.Fatal(err)
	}
	w, err := (&Decoder{codec: c}).parse(text)
	if err != nil {
		t.Fatal(err)
	}
	d.older[fp] = w // as if testdata/released held it
	body, err := w.codec.BinaryFromNative(nil, map[string]any{"msgid": int64(42), "text": map[string]any{"string": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Decode(context.Background(), append(append([]byte{0xC3, 0x01}, fp[:]...), body...))
	if err != nil {
		t.Fatal(err)
	}
	if got.Framing != SingleObject || got.Schema != text || got.Record["msgid"] != int64(42) {
		t.Errorf("decoded %+v", got)
	}
	if _, err := d.Decode(context.Background(), append([]byte{0xC3, 0x01, 9, 9, 9, 9, 9, 9, 9, 9}, body...)); !errors.Is(err, ErrWrongFingerprint) {
		t.Errorf("an unknown fingerprint: %v, want ErrWrongFingerprint", err)
	}
}
