package schema

import (
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/linkedin/goavro/v2"
)

//go:embed message.avsc
var schemaJSON string

// FullName is the Avro full name of the record.
const FullName = "io.imreport.Message"

// Full names of the named types inside the record, as used for union branches in
// goavro's native form.
const (
	mediaName    = "io.imreport.Media"
	locationName = "io.imreport.Location"
)

// JSON returns the Avro schema as embedded (pretty-printed, with docs).
func JSON() string { return schemaJSON }

// Errors returned (wrapped) by Codec.Decode.
var (
	// ErrNotSingleObject: the input is shorter than the 10-byte header or does
	// not start with C3 01.
	ErrNotSingleObject = errors.New("not Avro single-object encoded")
	// ErrWrongFingerprint: the header names a schema other than this one.
	ErrWrongFingerprint = errors.New("schema fingerprint does not match")
)

const headerLen = 10

// Codec encodes and decodes io.imreport.Message records in single-object
// encoding, or, once Confluent gave it a schema id, in the Confluent wire
// format (see framing.go). It is immutable after NewCodec and safe for
// concurrent use.
type Codec struct {
	full      *goavro.Codec // the whole record: encoding fallback
	head      *goavro.Codec // the fields before extras
	tail      *goavro.Codec // the fields after extras
	canonical string
	fp        [8]byte
	header    []byte // written before every encoded body: single-object's or Confluent's
	id        int    // the registry's schema id when header is Confluent's; 0 = single-object

	contentType string // Confluent's, with the id (ContentType)
}

// NewCodec parses the embedded schema. Create it once and share it.
func NewCodec() (*Codec, error) {
	full, err := goavro.NewCodec(schemaJSON)
	if err != nil {
		return nil, fmt.Errorf("schema: parse message.avsc: %w", err)
	}
	var parsed any
	if err := json.Unmarshal([]byte(schemaJSON), &parsed); err != nil {
		return nil, fmt.Errorf("schema: parse message.avsc: %w", err)
	}
	canonical, err := canonicalForm(parsed)
	if err != nil {
		return nil, fmt.Errorf("schema: canonical form: %w", err)
	}
	// goavro computes the Rabin fingerprint of its own canonical form of the text
	// it is given. Our canonical form is a fixed point of goavro's (it has no
	// logical types left), so parsing it yields the fingerprint of exactly it.
	cc, err := goavro.NewCodec(canonical)
	if err != nil {
		return nil, fmt.Errorf("schema: parse canonical form: %w", err)
	}
	if cc.CanonicalSchema() != canonical {
		return nil, fmt.Errorf("schema: canonical form is not stable under goavro: %s", cc.CanonicalSchema())
	}
	c := &Codec{full: full, canonical: canonical}
	binary.LittleEndian.PutUint64(c.fp[:], cc.Rabin)
	c.header = append([]byte{0xC3, 0x01}, c.fp[:]...)

	// Split the record around extras so that the map can be written with sorted
	// keys while goavro writes everything else.
	head, tail, err := splitAround(parsed, "extras")
	if err != nil {
		return nil, err
	}
	if c.head, err = goavro.NewCodec(head); err != nil {
		return nil, fmt.Errorf("schema: head codec: %w", err)
	}
	if c.tail, err = goavro.NewCodec(tail); err != nil {
		return nil, fmt.Errorf("schema: tail codec: %w", err)
	}
	return c, nil
}

// splitAround returns two record schemas: the fields before the named field and
// the fields after it.
func splitAround(parsed any, field string) (string, string, error) {
	rec, ok := parsed.(map[string]any)
	if !ok {
		return "", "", errors.New("schema: message.avsc is not a record")
	}
	fields, _ := rec["fields"].([]any)
	i := slices.IndexFunc(fields, func(f any) bool {
		m, _ := f.(map[string]any)
		return m["name"] == field
	})
	if i < 0 {
		return "", "", fmt.Errorf("schema: no field %q", field)
	}
	part := func(fs []any) (string, error) {
		r := map[string]any{}
		for k, v := range rec {
			r[k] = v
		}
		r["fields"] = fs
		b, err := json.Marshal(r)
		return string(b), err
	}
	head, err := part(fields[:i])
	if err != nil {
		return "", "", err
	}
	tail, err := part(fields[i+1:])
	return head, tail, err
}

// Fingerprint returns the CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing
// Canonical Form, little-endian, i.e. bytes 2..9 of every encoded value.
func (c *Codec) Fingerprint() [8]byte { return c.fp }

// CanonicalSchema returns the schema's Parsing Canonical Form, the text the
// fingerprint is computed from (Java SchemaNormalization.toParsingForm).
func (c *Codec) CanonicalSchema() string { return c.canonical }

// Encode returns the encoding of a native record (as returned by Native or
// Decode): the header (single-object: C3 01 and the fingerprint; Confluent:
// 00 and the 4-byte schema id), then the Avro binary record. Fields
// missing from native take their schema default; a field without default that is
// missing, or a value of the wrong type, is an error.
func (c *Codec) Encode(native map[string]any) ([]byte, error) {
	body, _ := native["msg_body"].(string)
	buf := make([]byte, len(c.header), 512+2*len(body)) // text often repeats msg_body
	copy(buf, c.header)
	if ex, ok := sortedExtras(native["extras"]); ok {
		var err error
		if buf, err = c.head.BinaryFromNative(buf, native); err != nil {
			return nil, fmt.Errorf("schema: encode: %w", err)
		}
		buf = appendExtras(buf, ex)
		if buf, err = c.tail.BinaryFromNative(buf, native); err != nil {
			return nil, fmt.Errorf("schema: encode: %w", err)
		}
		return buf, nil
	}
	// A native form of extras that the sorted writer does not know: let goavro
	// encode it (or reject it).
	buf, err := c.full.BinaryFromNative(buf, native)
	if err != nil {
		return nil, fmt.Errorf("schema: encode: %w", err)
	}
	return buf, nil
}

// extrasPair is one extras entry.
type extrasPair struct{ k, v string }

// sortedExtras converts the native extras value into its entries sorted by key.
// ok is false when v is not a form it knows (left to goavro). A nil slice with ok
// means null.
func sortedExtras(v any) (pairs []extrasPair, ok bool) {
	if v == nil {
		return nil, true
	}
	u, isMap := v.(map[string]any)
	if !isMap || len(u) != 1 {
		return nil, false
	}
	inner, found := u["map"]
	if !found {
		return nil, false
	}
	switch m := inner.(type) {
	case map[string]any:
		pairs = make([]extrasPair, 0, len(m))
		for k, x := range m {
			s, isString := x.(string)
			if !isString {
				return nil, false
			}
			pairs = append(pairs, extrasPair{k, s})
		}
	case map[string]string:
		pairs = make([]extrasPair, 0, len(m))
		for k, s := range m {
			pairs = append(pairs, extrasPair{k, s})
		}
	default:
		return nil, false
	}
	slices.SortFunc(pairs, func(a, b extrasPair) int { return strings.Compare(a.k, b.k) })
	if pairs == nil {
		pairs = []extrasPair{}
	}
	return pairs, true
}

// appendExtras writes the ["null", map<string>] union: branch index, then the map
// as one block (count, entries) and the terminating empty block.
func appendExtras(buf []byte, pairs []extrasPair) []byte {
	if pairs == nil {
		return binary.AppendVarint(buf, 0) // branch 0: null
	}
	buf = binary.AppendVarint(buf, 1) // branch 1: map
	if len(pairs) > 0 {
		buf = binary.AppendVarint(buf, int64(len(pairs)))
		for _, p := range pairs {
			buf = binary.AppendVarint(buf, int64(len(p.k)))
			buf = append(buf, p.k...)
			buf = binary.AppendVarint(buf, int64(len(p.v)))
			buf = append(buf, p.v...)
		}
	}
	return binary.AppendVarint(buf, 0)
}

// Decode decodes one single-object encoded record, or, for a Codec with a
// schema id (Confluent), a Confluent-framed record with that id. It fails with
// an error wrapping ErrNotSingleObject or ErrWrongFingerprint when a
// single-object header does not match this schema, ErrWrongSchemaID when a
// Confluent header names another id (Decoder resolves those), and when bytes
// are left after the record. Memory use is bounded by the input's size,
// whatever the input.
func (c *Codec) Decode(b []byte) (map[string]any, error) {
	if c.id != 0 && len(b) > 0 && b[0] == 0x00 {
		id, body, err := SplitConfluent(b)
		if err != nil {
			return nil, fmt.Errorf("schema: decode: %w", err)
		}
		if id != c.id {
			return nil, fmt.Errorf("schema: decode: %w: got %d, want %d", ErrWrongSchemaID, id, c.id)
		}
		return c.DecodeBody(body)
	}
	if len(b) < headerLen || b[0] != 0xC3 || b[1] != 0x01 {
		return nil, fmt.Errorf("schema: decode: %w", ErrNotSingleObject)
	}
	if [8]byte(b[2:headerLen]) != c.fp {
		return nil, fmt.Errorf("schema: decode: %w: got %x, want %x", ErrWrongFingerprint, b[2:headerLen], c.fp[:])
	}
	return c.DecodeBody(b[headerLen:])
}

// DecodeBody decodes the Avro binary body of one record written with this
// schema (a value without its framing header). It fails when bytes are left
// after the record.
func (c *Codec) DecodeBody(body []byte) (map[string]any, error) {
	// goavro sizes a map from the block count it reads before reading the entries
	// (up to 2^31-1 of them), so a corrupt count costs gigabytes: the extras map
	// is read here, goavro reads the rest (no maps or arrays there).
	v, rest, err := c.head.NativeFromBinary(body)
	if err != nil {
		return nil, fmt.Errorf("schema: decode: %w", err)
	}
	rec, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema: decode: got %T, want a record", v)
	}
	if rec["extras"], rest, err = readExtras(rest); err != nil {
		return nil, fmt.Errorf("schema: decode: extras: %w", err)
	}
	if v, rest, err = c.tail.NativeFromBinary(rest); err != nil {
		return nil, fmt.Errorf("schema: decode: %w", err)
	}
	tail, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema: decode: got %T, want a record", v)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("schema: decode: %d bytes after the record", len(rest))
	}
	for k, x := range tail {
		rec[k] = x
	}
	return rec, nil
}

var errShort = errors.New("short buffer")

func readLong(b []byte) (int64, []byte, error) {
	v, n := binary.Varint(b) // Avro longs are zig-zag varints, as Go's
	if n <= 0 {
		if n == 0 {
			return 0, nil, errShort
		}
		return 0, nil, errors.New("long overflows 64 bits")
	}
	return v, b[n:], nil
}

func readString(b []byte) (string, []byte, error) {
	n, b, err := readLong(b)
	if err != nil {
		return "", nil, err
	}
	if n < 0 || n > int64(len(b)) {
		return "", nil, fmt.Errorf("string length %d with %d bytes left", n, len(b))
	}
	return string(b[:n]), b[n:], nil
}

// readExtras reads the ["null", map<string>] union in goavro's native form.
func readExtras(b []byte) (any, []byte, error) {
	branch, b, err := readLong(b)
	if err != nil {
		return nil, nil, err
	}
	switch branch {
	case 0:
		return nil, b, nil
	case 1:
	default:
		return nil, nil, fmt.Errorf("union branch %d", branch)
	}
	m := map[string]any{}
	for {
		var count int64
		if count, b, err = readLong(b); err != nil {
			return nil, nil, err
		}
		if count == 0 {
			return goavro.Union("map", m), b, nil
		}
		if count < 0 { // a negative count is followed by the block's size in bytes
			if count == math.MinInt64 {
				return nil, nil, fmt.Errorf("block count %d", count)
			}
			count = -count
			if _, b, err = readLong(b); err != nil {
				return nil, nil, err
			}
		}
		if count > int64(len(b))/2 { // an entry takes at least two bytes
			return nil, nil, fmt.Errorf("block count %d with %d bytes left", count, len(b))
		}
		for range count {
			var k, v string
			if k, b, err = readString(b); err != nil {
				return nil, nil, err
			}
			if v, b, err = readString(b); err != nil {
				return nil, nil, err
			}
			if _, dup := m[k]; dup {
				return nil, nil, fmt.Errorf("duplicate key %q", k)
			}
			m[k] = v
		}
	}
}

// canonicalForm returns the Avro Parsing Canonical Form of a schema parsed with
// encoding/json, as the Avro specification and the Java reference implementation
// (SchemaNormalization) define it: primitive types, with or without attributes
// such as logicalType, become their bare name; names are fully qualified; only
// name, type, fields, symbols, items, values and size are kept, in that order; a
// named type already written is referred to by its full name.
func canonicalForm(schema any) (string, error) {
	var b strings.Builder
	if err := canonical(&b, schema, "", map[string]bool{}); err != nil {
		return "", err
	}
	return b.String(), nil
}

var primitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

func canonical(b *strings.Builder, s any, ns string, seen map[string]bool) error {
	switch s := s.(type) {
	case string:
		if primitives[s] {
			b.WriteString(`"` + s + `"`)
			return nil
		}
		full := fullName(s, "", ns)
		if !seen[full] {
			return fmt.Errorf("unknown type %q", full)
		}
		b.WriteString(`"` + full + `"`)
		return nil
	case []any:
		b.WriteByte('[')
		for i, x := range s {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := canonical(b, x, ns, seen); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case map[string]any:
		t, ok := s["type"].(string)
		if !ok {
			if s["type"] == nil {
				return errors.New("object without type")
			}
			return canonical(b, s["type"], ns, seen)
		}
		switch t {
		case "record", "error", "enum", "fixed":
			name, _ := s["name"].(string)
			if name == "" {
				return fmt.Errorf("%s without name", t)
			}
			space, _ := s["namespace"].(string)
			full := fullName(name, space, ns)
			if seen[full] {
				b.WriteString(`"` + full + `"`)
				return nil
			}
			seen[full] = true
			b.WriteString(`{"name":"` + full + `","type":"` + t + `"`)
			switch t {
			case "enum":
				syms, _ := s["symbols"].([]any)
				b.WriteString(`,"symbols":[`)
				for i, x := range syms {
					sym, _ := x.(string)
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(strconv.Quote(sym))
				}
				b.WriteByte(']')
			case "fixed":
				size, ok := s["size"].(float64)
				if !ok || size < 0 || size != float64(int64(size)) {
					return fmt.Errorf("fixed %s: bad size", full)
				}
				b.WriteString(`,"size":` + strconv.FormatInt(int64(size), 10))
			default:
				inner := ""
				if i := strings.LastIndexByte(full, '.'); i >= 0 {
					inner = full[:i]
				}
				fields, _ := s["fields"].([]any)
				b.WriteString(`,"fields":[`)
				for i, x := range fields {
					f, _ := x.(map[string]any)
					fname, _ := f["name"].(string)
					if fname == "" {
						return fmt.Errorf("record %s: field without name", full)
					}
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(`{"name":"` + fname + `","type":`)
					if err := canonical(b, f["type"], inner, seen); err != nil {
						return fmt.Errorf("record %s field %s: %w", full, fname, err)
					}
					b.WriteByte('}')
				}
				b.WriteByte(']')
			}
			b.WriteByte('}')
			return nil
		case "array", "map":
			// {"type":"array","items":…} or {"type":"map","values":…}
			child := "items"
			if t == "map" {
				child = "values"
			}
			b.WriteString(`{"type":"` + t + `","` + child + `":`)
			if err := canonical(b, s[child], ns, seen); err != nil {
				return err
			}
			b.WriteByte('}')
			return nil
		default:
			return canonical(b, t, ns, seen) // primitive (attributes dropped) or a name
		}
	default:
		return fmt.Errorf("unexpected schema element %T", s)
	}
}

// fullName qualifies a name: a dotted name is already full; otherwise the
// explicit namespace, else the enclosing one, is prefixed.
func fullName(name, space, enclosing string) string {
	if strings.Contains(name, ".") {
		return name
	}
	if space == "" {
		space = enclosing
	}
	if space == "" {
		return name
	}
	return space + "." + name
}
