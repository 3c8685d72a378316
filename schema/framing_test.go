package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// fakeRegistry answers SchemaText from a map and counts the lookups.
type fakeRegistry struct {
	schemas map[int]string
	fail    error // returned for every lookup while set
	calls   map[int]int
}

func (r *fakeRegistry) SchemaText(_ context.Context, id int) (string, error) {
	if r.calls == nil {
		r.calls = map[int]int{}
	}
	r.calls[id]++
	if r.fail != nil {
		return "", r.fail
	}
	s, ok := r.schemas[id]
	if !ok {
		return "", errors.New("40403 Schema not found")
	}
	return s, nil
}

// TestConfluentFraming: a Confluent Codec writes 00, the id big-endian, then
// the same Avro body as single-object; it decodes both framings; the
// framing is detected from the first bytes.
func TestConfluentFraming(t *testing.T) {
	so := testCodec(t)
	cf, err := so.Confluent(0x01020304)
	if err != nil {
		t.Fatal(err)
	}
	if so.Framing() != SingleObject || cf.Framing() != Confluent || so.SchemaID() != 0 || cf.SchemaID() != 0x01020304 {
		t.Fatalf("framings %v/%v ids %d/%d", so.Framing(), cf.Framing(), so.SchemaID(), cf.SchemaID())
	}
	if got, want := cf.ContentType(), ContentTypeConfluent+"; schema-id=16909060"; got != want {
		t.Errorf("content type %q, want %q", got, want)
	}
	for name, raw := range inputs(t) {
		a, b := encodeVendor(t, so, raw), encodeVendor(t, cf, raw)
		if !bytes.Equal(b[:5], []byte{0, 1, 2, 3, 4}) || !bytes.Equal(a[headerLen:], b[5:]) {
			t.Fatalf("%s: confluent %x..., single-object %x...: want 00 01020304 and the same body", name, b[:min(len(b), 12)], a[:min(len(a), 12)])
		}
		if DetectFraming(a) != SingleObject || DetectFraming(b) != Confluent {
			t.Fatalf("%s: detected %v and %v", name, DetectFraming(a), DetectFraming(b))
		}
		ra, err := so.Decode(a)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range [][]byte{a, b} {
			rb, err := cf.Decode(v)
			if err != nil {
				t.Fatalf("%s: confluent codec decode %x...: %v", name, v[:6], err)
			}
			if !reflect.DeepEqual(ra, rb) {
				t.Fatalf("%s: decoded records differ", name)
			}
		}
		if _, err := so.Decode(b); !errors.Is(err, ErrNotSingleObject) {
			t.Errorf("%s: single-object codec on a confluent value: %v, want ErrNotSingleObject", name, err)
		}
		other := append(AppendConfluentHeader(nil, 5), b[5:]...)
		if _, err := cf.Decode(other); !errors.Is(err, ErrWrongSchemaID) {
			t.Errorf("%s: another id: %v, want ErrWrongSchemaID", name, err)
		}
	}
	for _, id := range []int{0, -1, 1 << 31} {
		if _, err := so.Confluent(id); err == nil {
			t.Errorf("Confluent(%d) accepted", id)
		}
	}
	for _, b := range [][]byte{nil, {0}, {0, 0, 0, 0}, {0xC3, 0x01, 1, 2}, {'{', '"'}, {0x01, 0, 0, 0, 1}} {
		if f := DetectFraming(b); f != Unframed {
			t.Errorf("DetectFraming(%x) = %v, want unframed", b, f)
		}
	}
}

// TestDecoder: each value is decoded by its own framing; the registry is
// asked once per id; failures are per value, cached when permanent and
// asked again when temporary; a writer schema other than the embedded one
// is decoded with that schema.
func TestDecoder(t *testing.T) {
	so := testCodec(t)
	cf, err := so.Confluent(3)
	if err != nil {
		t.Fatal(err)
	}
	// An older writer schema: the record with two fields only.
	older := `{"type":"record","name":"Message","namespace":"io.imreport","fields":[{"name":"msgid","type":"long"},{"name":"text","type":["null","string"],"default":null}]}`
	reg := &fakeRegistry{schemas: map[int]string{3: JSON(), 4: older, 6: `{"type":"nonsense"}`}}
	d := NewDecoder(so, reg)
	ctx := context.Background()

	raws := inputs(t)
	for name, raw := range raws {
		want, err := so.Decode(encodeVendor(t, so, raw))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*Codec{so, cf} {
			got, err := d.Decode(ctx, encodeVendor(t, c, raw))
			if err != nil {
				t.Fatalf("%s %v: %v", name, c.Framing(), err)
			}
			if got.Framing != c.Framing() || got.SchemaID != c.SchemaID() || got.Schema != JSON() || !reflect.DeepEqual(got.Record, want) {
				t.Fatalf("%s %v: got framing %v id %d, record equal %v", name, c.Framing(), got.Framing, got.SchemaID, reflect.DeepEqual(got.Record, want))
			}
		}
	}
	if reg.calls[3] != 1 {
		t.Errorf("registry asked %d times for id 3, want once (cached)", reg.calls[3])
	}

	// id 4: 00 00000004, msgid 42 (zig-zag 84), text "hi" (branch 1).
	got, err := d.Decode(ctx, []byte{0, 0, 0, 0, 4, 84, 2, 4, 'h', 'i'})
	if err != nil {
		t.Fatalf("older writer schema: %v", err)
	}
	if got.Record["msgid"] != int64(42) || !reflect.DeepEqual(got.Record["text"], map[string]any{"string": "hi"}) || got.Schema != older {
		t.Errorf("older writer schema: %v", got.Record)
	}

	cases := []struct {
		name  string
		value []byte
		want  error
	}{
		{"json", []byte(`{"msgid":1}`), ErrUnframed},
		{"empty", nil, ErrUnframed},
		{"foreign fingerprint", append([]byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, 0), ErrWrongFingerprint},
		{"trailing bytes", append(encodeVendor(t, cf, raws["voice"]), 0), nil},
	}
	for _, c := range cases {
		_, err := d.Decode(ctx, c.value)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := d.Decode(ctx, []byte{0, 0, 0, 0, 6, 0}); err == nil || !strings.Contains(err.Error(), "schema id 6") {
		t.Errorf("unparsable writer schema: %v", err)
	}
	if _, err := d.Decode(ctx, []byte{0, 0, 0, 0, 9, 0}); err == nil || !strings.Contains(err.Error(), "40403") {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := d.Decode(ctx, []byte{0, 0, 0, 0, 9, 0}); err == nil || !strings.Contains(err.Error(), "40403") {
		t.Errorf("unknown id again: %v", err)
	}
	if reg.calls[9] != 1 || reg.calls[6] != 1 {
		t.Errorf("permanent failures asked %d and %d times, want once (cached)", reg.calls[9], reg.calls[6])
	}
	reg.fail = temporaryError{}
	for range 2 {
		if _, err := d.Decode(ctx, []byte{0, 0, 0, 0, 10, 0}); err == nil || !strings.Contains(err.Error(), "registry down") {
			t.Errorf("registry down: %v", err)
		}
	}
	if reg.calls[10] != 2 {
		t.Errorf("a temporary failure asked %d times for two values, want 2 (not cached)", reg.calls[10])
	}
	if _, err := NewDecoder(so, nil).Decode(ctx, encodeVendor(t, cf, raws["voice"])); !errors.Is(err, ErrNoRegistry) {
		t.Errorf("no registry: %v, want ErrNoRegistry", err)
	}
}

// TestPlainJSON: unions unwrapped, timestamps in RFC 3339 UTC, fields in
// schema order, text unescaped.
func TestPlainJSON(t *testing.T) {
	so := testCodec(t)
	rec, err := so.Decode(encodeVendor(t, so, inputs(t)["image_hash"]))
	if err != nil {
		t.Fatal(err)
	}
	rec["text"] = map[string]any{"string": "a <b> & c"}
	out, err := PlainJSON(JSON(), rec)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	media, _ := got["media"].(map[string]any)
	if media["format"] != "png" || media["fsize"] != 180243.0 || media["duration"] != nil ||
		got["msg_ctime"] != "2015-10-28T07:11:00.512Z" || got["extras"] != nil || got["msgid"] != 1446016259000002.0 {
		t.Errorf("plain json: %s", out)
	}
	if !bytes.HasPrefix(out, []byte(`{"msgid":1446016259000002,"msg_ctime":"2015-10-28T07:11:00.512Z",`)) || !bytes.Contains(out, []byte(`"a <b> & c"`)) {
		t.Errorf("plain json not in schema order or escaped: %s", out)
	}
}

type temporaryError struct{}

func (temporaryError) Error() string   { return "registry down" }
func (temporaryError) Temporary() bool { return true }

// FuzzDecoder: whatever the bytes, Decoder.Decode does not panic, a value it
// decodes renders as plain JSON, and a Confluent value with the embedded
// schema's id survives a round trip through the Confluent codec.
func FuzzDecoder(f *testing.F) {
	so := testCodec(f)
	cf, err := so.Confluent(1)
	if err != nil {
		f.Fatal(err)
	}
	older := `{"type":"record","name":"Message","namespace":"io.imreport","fields":[{"name":"msgid","type":"long"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"text","type":["null","string"],"default":null}]}`
	reg := &fakeRegistry{schemas: map[int]string{1: JSON(), 2: older}}
	for _, raw := range inputs(f) {
		f.Add(encodeVendor(f, so, raw))
		f.Add(encodeVendor(f, cf, raw))
	}
	f.Add([]byte{0, 0, 0, 0, 2, 84, 2, 2, 'a', 0, 2, 4, 'h', 'i'})
	f.Add([]byte(`{"msgid":1}`))
	d := NewDecoder(so, reg)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := d.Decode(context.Background(), b)
		if err != nil {
			return
		}
		if _, err := PlainJSON(got.Schema, got.Record); err != nil {
			t.Fatalf("PlainJSON of a decoded %v value: %v", got.Framing, err)
		}
		if got.Framing == Confluent && got.SchemaID == 1 {
			again, err := cf.Encode(got.Record)
			if err != nil {
				t.Fatalf("Encode of a decoded record: %v", err)
			}
			back, err := d.Decode(context.Background(), again)
			if err != nil || !sameValue(back.Record, got.Record) {
				t.Fatalf("round trip (%v):\n%#v\n%#v", err, got.Record, back.Record)
			}
		}
	})
}

// sameValue is reflect.DeepEqual for decoded Avro values, except that a NaN
// double equals a NaN with the same bits (DeepEqual never equates NaNs).
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case float32:
		y, ok := b.(float32)
		return ok && math.Float32bits(x) == math.Float32bits(y)
	}
	return reflect.DeepEqual(a, b)
}

// BenchmarkFramings: encoding and decoding cost the same in both framings
// (only the header differs); the Decoder adds its framing check and, for
// Confluent, a cached id lookup.
func BenchmarkFramings(b *testing.B) {
	so := testCodec(b)
	cf, err := so.Confluent(1)
	if err != nil {
		b.Fatal(err)
	}
	native := sampleNative(b)
	d := NewDecoder(so, &fakeRegistry{schemas: map[int]string{1: JSON()}})
	for _, c := range []*Codec{so, cf} {
		enc, err := c.Encode(native)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("encode/"+c.Framing().String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(native); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decoder/"+c.Framing().String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.Decode(context.Background(), enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestSameValue(t *testing.T) {
	nan := math.NaN()
	rec := func(lat float64, label string) map[string]any {
		return map[string]any{"location": map[string]any{"latitude": lat, "label": map[string]any{"string": label}}, "tags": []any{"a"}}
	}
	for _, c := range []struct {
		a, b any
		want bool
	}{
		{rec(nan, "x"), rec(nan, "x"), true},
		{rec(1.5, "x"), rec(1.5, "x"), true},
		{rec(nan, "x"), rec(nan, "y"), false},
		{rec(nan, "x"), rec(1.5, "x"), false},
		{rec(0, "x"), rec(math.Copysign(0, -1), "x"), false},
		{[]any{"a"}, []any{"a", "b"}, false},
		{map[string]any{"a": nil}, map[string]any{"b": nil}, false},
	} {
		if got := sameValue(c.a, c.b); got != c.want {
			t.Errorf("sameValue(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
