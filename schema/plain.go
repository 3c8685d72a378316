package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// PlainJSON renders a record decoded with the writer schema text (goavro's
// native form, as in Decoded) as plain JSON: fields in schema order, unions
// unwrapped to their value (null or the branch's value, without goavro's
// {"type": value} wrapper), timestamps as RFC 3339 UTC with milliseconds,
// bytes as base64. It is what `imreport read` prints.
func PlainJSON(schemaText string, rec map[string]any) (json.RawMessage, error) {
	var s any
	if err := json.Unmarshal([]byte(schemaText), &s); err != nil {
		return nil, fmt.Errorf("schema: plain json: %w", err)
	}
	p := plainer{names: map[string]any{}}
	var b bytes.Buffer
	if err := p.write(&b, s, "", rec); err != nil {
		return nil, fmt.Errorf("schema: plain json: %w", err)
	}
	return b.Bytes(), nil
}

// plainer walks a schema and a native value together; names holds the named
// types defined so far, by full name.
type plainer struct{ names map[string]any }

func (p *plainer) write(b *bytes.Buffer, s any, ns string, v any) error {
	switch s := s.(type) {
	case string:
		if primitives[s] {
			return writeValue(b, v)
		}
		def, ok := p.names[fullName(s, "", ns)]
		if !ok {
			return fmt.Errorf("unknown type %q", s)
		}
		return p.write(b, def, ns, v)
	case []any: // a union: goavro's native form is nil or {branch: value}
		if v == nil {
			b.WriteString("null")
			return nil
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return fmt.Errorf("union value %T", v)
		}
		for name, inner := range m {
			for _, br := range s {
				if branchName(br, ns) == name {
					return p.write(b, br, ns, inner)
				}
			}
			return fmt.Errorf("union has no branch %q", name)
		}
	case map[string]any:
		return p.writeComplex(b, s, ns, v)
	}
	return fmt.Errorf("unexpected schema element %T", s)
}

func (p *plainer) writeComplex(b *bytes.Buffer, s map[string]any, ns string, v any) error {
	t, _ := s["type"].(string)
	switch t {
	case "record", "error", "enum", "fixed":
		name, _ := s["name"].(string)
		space, _ := s["namespace"].(string)
		full := fullName(name, space, ns)
		p.names[full] = s
		if t != "record" && t != "error" {
			return writeValue(b, v)
		}
		inner := ""
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			inner = full[:i]
		}
		rec, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("record %s: value %T", full, v)
		}
		fields, _ := s["fields"].([]any)
		b.WriteByte('{')
		for i, x := range fields {
			f, _ := x.(map[string]any)
			fname, _ := f["name"].(string)
			if i > 0 {
				b.WriteByte(',')
			}
			writeValue(b, fname)
			b.WriteByte(':')
			if err := p.write(b, f["type"], inner, rec[fname]); err != nil {
				return fmt.Errorf("%s.%s: %w", full, fname, err)
			}
		}
		b.WriteByte('}')
		return nil
	case "array":
		items, _ := v.([]any)
		b.WriteByte('[')
		for i, x := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := p.write(b, s["items"], ns, x); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case "map":
		m, _ := v.(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeValue(b, k)
			b.WriteByte(':')
			if err := p.write(b, s["values"], ns, m[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	}
	if s["type"] == nil {
		return fmt.Errorf("object without type")
	}
	return p.write(b, s["type"], ns, v) // a primitive with attributes (logicalType)
}

// branchName is the key goavro uses for a union branch of schema s: the full
// name of a named type, "array", "map", the primitive's name, or
// "long.timestamp-millis" style for a primitive with a logical type.
func branchName(s any, ns string) string {
	switch s := s.(type) {
	case string:
		if primitives[s] {
			return s
		}
		return fullName(s, "", ns)
	case map[string]any:
		t, _ := s["type"].(string)
		switch t {
		case "record", "error", "enum", "fixed":
			name, _ := s["name"].(string)
			space, _ := s["namespace"].(string)
			return fullName(name, space, ns)
		}
		if lt, ok := s["logicalType"].(string); ok {
			return t + "." + lt
		}
		return t
	}
	return ""
}

// writeValue writes a native scalar as JSON.
func writeValue(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case time.Time:
		v = x.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			v = fmt.Sprint(x)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			v = fmt.Sprint(x)
		}
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false) // text is read by people: keep <, > and & as they are
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}
