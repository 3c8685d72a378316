package schema

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/imreport/imreport/source"
)

// wantFingerprint pins the schema's identity for consumers. It changes only when
// a name, a field's order or a type changes (never for docs or defaults): such a
// change is a new schema version that downstream must be told about.
const wantFingerprint = "608bc8ab3fa9ceee"

func TestSchemaHasDocEverywhere(t *testing.T) {
	var parsed any
	if err := json.Unmarshal([]byte(JSON()), &parsed); err != nil {
		t.Fatal(err)
	}
	var records, fields int
	var walk func(path string, s any)
	walk = func(path string, s any) {
		switch s := s.(type) {
		case []any:
			for _, x := range s {
				walk(path, x)
			}
		case map[string]any:
			switch s["type"] {
			case "record":
				records++
				name, _ := s["name"].(string)
				path += "/" + name
				if doc, _ := s["doc"].(string); strings.TrimSpace(doc) == "" {
					t.Errorf("record %s has no doc", path)
				}
				fs, _ := s["fields"].([]any)
				if len(fs) == 0 {
					t.Errorf("record %s has no fields", path)
				}
				for _, f := range fs {
					fm := f.(map[string]any)
					fields++
					fname, _ := fm["name"].(string)
					if doc, _ := fm["doc"].(string); strings.TrimSpace(doc) == "" {
						t.Errorf("field %s.%s has no doc", path, fname)
					}
					if u, ok := fm["type"].([]any); ok && len(u) > 0 && u[0] == "null" {
						if d, has := fm["default"]; !has || d != nil {
							t.Errorf("nullable field %s.%s does not default to null", path, fname)
						}
					}
					walk(path, fm["type"])
				}
			case "map":
				walk(path, s["values"])
			case "array":
				walk(path, s["items"])
			}
		}
	}
	walk("", parsed)
	if records != 4 || fields != 22+9+4+4 {
		t.Errorf("walked %d records, %d fields; want 4, 39", records, fields)
	}
}

// TestSchemaContract pins the field names and Avro types of the contract.
func TestSchemaContract(t *testing.T) {
	c := testCodec(t)
	want := `{"name":"io.imreport.Message","type":"record","fields":[` +
		`{"name":"msgid","type":"long"},{"name":"msg_ctime","type":"long"},{"name":"create_time","type":"long"},` +
		`{"name":"msg_type","type":"string"},{"name":"msg_level","type":"int"},{"name":"version","type":"int"},` +
		`{"name":"target_type","type":"string"},{"name":"target_id","type":"string"},{"name":"target_name","type":"string"},` +
		`{"name":"target_appkey","type":["null","string"]},{"name":"from_type","type":"string"},{"name":"from_id","type":"string"},` +
		`{"name":"from_name","type":"string"},{"name":"from_platform","type":"string"},{"name":"from_appkey","type":["null","string"]},` +
		`{"name":"conversation_id","type":"string"},{"name":"text","type":["null","string"]},` +
		`{"name":"extras","type":["null",{"type":"map","values":"string"}]},` +
		`{"name":"media","type":["null",{"name":"io.imreport.Media","type":"record","fields":[` +
		`{"name":"media_id","type":["null","string"]},{"name":"media_crc32","type":["null","long"]},{"name":"format","type":["null","string"]},` +
		`{"name":"fsize","type":["null","long"]},{"name":"width","type":["null","int"]},{"name":"height","type":["null","int"]},` +
		`{"name":"duration","type":["null","int"]},{"name":"fname","type":["null","string"]},{"name":"hash","type":["null","string"]}]}]},` +
		`{"name":"location","type":["null",{"name":"io.imreport.Location","type":"record","fields":[` +
		`{"name":"latitude","type":"double"},{"name":"longitude","type":"double"},{"name":"scale","type":["null","int"]},{"name":"label","type":["null","string"]}]}]},` +
		`{"name":"msg_body","type":"string"},` +
		`{"name":"source","type":{"name":"io.imreport.Source","type":"record","fields":[` +
		`{"name":"app_key","type":"string"},{"name":"endpoint","type":"string"},{"name":"api_version","type":"string"},{"name":"fetched_at","type":"long"}]}}]}`
	if got := c.CanonicalSchema(); got != want {
		t.Errorf("canonical schema\n got %s\nwant %s", got, want)
	}
	// The logical types are where they belong.
	var parsed struct {
		Fields []struct {
			Name string
			Type any
		}
	}
	if err := json.Unmarshal([]byte(JSON()), &parsed); err != nil {
		t.Fatal(err)
	}
	ts := map[string]any{"type": "long", "logicalType": "timestamp-millis"}
	for _, f := range parsed.Fields {
		switch f.Name {
		case "msg_ctime", "create_time":
			if !reflect.DeepEqual(f.Type, ts) {
				t.Errorf("%s: %v", f.Name, f.Type)
			}
		case "source":
			fs := f.Type.(map[string]any)["fields"].([]any)
			if ft := fs[3].(map[string]any); ft["name"] != "fetched_at" || !reflect.DeepEqual(ft["type"], ts) {
				t.Errorf("source.fetched_at: %v", ft)
			}
		}
	}
}

func TestFingerprint(t *testing.T) {
	c := testCodec(t)
	fp := c.Fingerprint()
	if got := hex.EncodeToString(fp[:]); got != wantFingerprint {
		t.Errorf("fingerprint %s, want %s (schema identity changed: is that intended?)", got, wantFingerprint)
	}
	b := sampleEncoded(t, c)
	if b[0] != 0xC3 || b[1] != 0x01 {
		t.Errorf("magic %x", b[:2])
	}
	if !bytes.Equal(b[2:10], fp[:]) {
		t.Errorf("header fingerprint %x, Fingerprint() %x", b[2:10], fp)
	}
}

// TestCanonicalFormMatchesJava checks the canonical form against goavro's, which
// differs from the Avro specification (and Java) only in keeping
// {"type":"long"} for logical types (goavro issue #174).
func TestCanonicalFormMatchesJava(t *testing.T) {
	c := testCodec(t)
	g, err := goavro.NewCodec(JSON())
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(g.CanonicalSchema(), `{"type":"long"}`, `"long"`); c.CanonicalSchema() != want {
		t.Errorf("canonical form\n got %s\nwant %s", c.CanonicalSchema(), want)
	}
	if g.Rabin == binary.LittleEndian.Uint64(c.fp[:]) {
		t.Error("goavro's fingerprint equals ours: has goavro issue #174 been fixed? then use goavro's directly")
	}
	// Spec test vectors (Avro share/test/data/schema-tests.txt style).
	for _, tc := range []struct{ in, want string }{
		{`"int"`, `"int"`},
		{`{"type":"int"}`, `"int"`},
		{`{"type":"long","logicalType":"timestamp-millis"}`, `"long"`},
		{`{"type":"fixed","name":"F","namespace":"x.y","size":16,"logicalType":"decimal","precision":4}`,
			`{"name":"x.y.F","type":"fixed","size":16}`},
		{`{"type":"enum","name":"E","symbols":["A","B"],"doc":"d"}`, `{"name":"E","type":"enum","symbols":["A","B"]}`},
		{`{"type":"array","items":{"type":"string","avro.java.string":"String"}}`, `{"type":"array","items":"string"}`},
		{`{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"record","name":"S","fields":[]}},{"name":"b","type":"S"},{"name":"c","type":["null","n.S"]}]}`,
			`{"name":"n.R","type":"record","fields":[{"name":"a","type":{"name":"n.S","type":"record","fields":[]}},{"name":"b","type":"n.S"},{"name":"c","type":["null","n.S"]}]}`},
	} {
		var parsed any
		if err := json.Unmarshal([]byte(tc.in), &parsed); err != nil {
			t.Fatal(err)
		}
		got, err := canonicalForm(parsed)
		if err != nil || got != tc.want {
			t.Errorf("canonicalForm(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	// Rabin of the canonical form, computed here independently of goavro.
	if got := rabin64([]byte(c.CanonicalSchema())); got != binary.LittleEndian.Uint64(c.fp[:]) {
		t.Errorf("independent CRC-64-AVRO %x, codec %x", got, c.fp)
	}
	// Spec example: fingerprint of "int".
	if got := rabin64([]byte(`"int"`)); got != 0x7275d51a3f395c8f {
		t.Errorf(`rabin64("int") = %x`, got)
	}
}

// rabin64 is the CRC-64-AVRO algorithm as printed in the Avro specification.
func rabin64(buf []byte) uint64 {
	const empty = 0xc15d213aa4d7a795
	var table [256]uint64
	for i := range table {
		fp := uint64(i)
		for range 8 {
			fp = (fp >> 1) ^ (empty & -(fp & 1))
		}
		table[i] = fp
	}
	fp := uint64(empty)
	for _, b := range buf {
		fp = (fp >> 8) ^ table[byte(fp)^b]
	}
	return fp
}

func TestDecodeErrors(t *testing.T) {
	c := testCodec(t)
	good := sampleEncoded(t, c)
	wrongFP := bytes.Clone(good)
	wrongFP[5] ^= 0xFF
	badMagic := bytes.Clone(good)
	badMagic[1] = 0x02
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"empty":         {nil, ErrNotSingleObject},
		"short":         {good[:9], ErrNotSingleObject},
		"bad magic":     {badMagic, ErrNotSingleObject},
		"fingerprint":   {wrongFP, ErrWrongFingerprint},
		"truncated":     {good[:len(good)-3], nil},
		"trailing byte": {append(bytes.Clone(good), 0), nil},
		"header only":   {good[:10], nil},
	} {
		_, err := c.Decode(tc.in)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// TestEncodeMatchesGoavro: our bytes (sorted extras) are the bytes goavro
// writes, up to map order, and goavro decodes them to the same record.
func TestEncodeMatchesGoavro(t *testing.T) {
	c := testCodec(t)
	for name, raw := range inputs(t) {
		native := vendorNative(t, raw)
		ours, err := c.Encode(native)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := c.full.BinaryFromNative(nil, native)
		if err != nil {
			t.Fatal(err)
		}
		if len(ours)-headerLen != len(theirs) {
			t.Errorf("%s: %d body bytes, goavro %d", name, len(ours)-headerLen, len(theirs))
		}
		a, _, err := c.full.NativeFromBinary(ours[headerLen:])
		if err != nil {
			t.Fatal(err)
		}
		if d, err := c.Decode(ours); err != nil || !reflect.DeepEqual(d, a) {
			t.Errorf("%s: Decode differs from goavro's decoding (%v)\nours   %v\ngoavro %v", name, err, d, a)
		}
		b, _, err := c.full.NativeFromBinary(theirs)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: decoded records differ\nours   %v\ngoavro %v", name, a, b)
		}
		// Decode → Encode is the identity on bytes.
		d, err := c.Decode(ours)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, ours) {
			t.Errorf("%s: re-encoding the decoded record changed the bytes", name)
		}
	}
}

func TestEncodeDeterministic(t *testing.T) {
	c := testCodec(t)
	extras := map[string]any{}
	for i := range 50 {
		extras[fmt.Sprintf("k%02d", i)] = fmt.Sprint(i)
	}
	native := sampleNative(t)
	native["extras"] = goavro.Union("map", extras)
	first, err := c.Encode(native)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, err := c.Encode(native)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, first) {
			t.Fatal("two encodings of one record differ")
		}
	}
	// map[string]string works too, and gives the same bytes.
	ss := map[string]string{}
	for k, v := range extras {
		ss[k] = v.(string)
	}
	native["extras"] = goavro.Union("map", ss)
	if b, err := c.Encode(native); err != nil || !bytes.Equal(b, first) {
		t.Errorf("map[string]string extras: %v, equal %v", err, bytes.Equal(b, first))
	}
}

func TestEncodeRejectsBadNative(t *testing.T) {
	c := testCodec(t)
	base := sampleNative(t)
	for name, mut := range map[string]func(map[string]any){
		"missing msgid":       func(m map[string]any) { delete(m, "msgid") },
		"msgid string":        func(m map[string]any) { m["msgid"] = "1" },
		"extras non-string":   func(m map[string]any) { m["extras"] = goavro.Union("map", map[string]any{"a": 1}) },
		"extras bare map":     func(m map[string]any) { m["extras"] = map[string]any{"a": "b", "c": "d"} },
		"text not union":      func(m map[string]any) { m["text"] = 5 },
		"media wrong branch":  func(m map[string]any) { m["media"] = goavro.Union("io.imreport.Nope", map[string]any{}) },
		"source missing":      func(m map[string]any) { delete(m, "source") },
		"location bad latlon": func(m map[string]any) { m["location"] = goavro.Union(locationName, map[string]any{"latitude": "x"}) },
	} {
		n := map[string]any{}
		for k, v := range base {
			n[k] = v
		}
		mut(n)
		if b, err := c.Encode(n); err == nil {
			t.Errorf("%s: encoded %x", name, b)
		}
	}
	// Missing nullable fields take their default.
	n := map[string]any{}
	for k, v := range base {
		n[k] = v
	}
	for _, k := range []string{"text", "extras", "media", "location", "target_appkey", "from_appkey"} {
		delete(n, k)
	}
	if _, err := c.Encode(n); err != nil {
		t.Errorf("missing nullable fields: %v", err)
	}
}

func TestCodecConcurrent(t *testing.T) {
	c := testCodec(t)
	in := inputs(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name, raw := range in {
				m, err := source.DecodeMessage(raw)
				if err != nil {
					t.Error(name, err)
					return
				}
				native, err := Native(m, testSource)
				if err != nil {
					t.Error(name, err)
					return
				}
				b, err := c.Encode(native)
				if err != nil {
					t.Error(name, err)
					return
				}
				if d, err := c.Decode(b); err != nil || d["msgid"] != m.MsgID {
					t.Error(name, err)
				}
			}
		}()
	}
	wg.Wait()
}

// TestDecodeExtras covers the hand-written extras reader with encodings other
// writers may produce (several blocks, negative counts with sizes) and corrupt
// ones (a huge count must fail at once, not allocate).
func TestDecodeExtras(t *testing.T) {
	c := testCodec(t)
	native := sampleNative(t)
	head, err := c.head.BinaryFromNative(c.header[:], native)
	if err != nil {
		t.Fatal(err)
	}
	tail, err := c.tail.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	long := func(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }
	str := func(b []byte, s string) []byte { return append(long(b, int64(len(s))), s...) }
	build := func(extras []byte) []byte {
		return append(append(bytes.Clone(head), extras...), tail...)
	}
	twoBlocks := long(nil, 1)                                    // branch: map
	twoBlocks = str(str(long(twoBlocks, 1), "a"), "1")           // block of one entry
	twoBlocks = str(str(long(long(twoBlocks, -1), 4), "b"), "2") // negative count, then the block's size
	twoBlocks = long(twoBlocks, 0)                               // end
	d, err := c.Decode(build(twoBlocks))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(d["extras"]); got != "map[map:map[a:1 b:2]]" {
		t.Errorf("extras %s", got)
	}
	for name, extras := range map[string][]byte{
		"huge count":    long(long(nil, 1), 1<<31-1),
		"min count":     long(long(nil, 1), -1<<63),
		"bad branch":    long(nil, 2),
		"negative len":  long(long(long(nil, 1), 1), -5),
		"long len":      str(long(long(nil, 1), 1), "a")[:4],
		"duplicate key": long(str(str(str(str(long(long(nil, 1), 2), "a"), "1"), "a"), "2"), 0),
		"no end block":  str(str(long(long(nil, 1), 1), "a"), "1"),
		"overlong long": append(long(nil, 1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	} {
		b := build(extras)
		if name == "no end block" {
			b = append(bytes.Clone(head), extras...) // nothing after
		}
		if _, err := c.Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
