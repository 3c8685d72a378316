package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/linkedin/goavro/v2"

	"github.com/imreport/imreport/internal/retry"
)

// Registry resolves a Confluent schema id to the schema's text. The
// registry package's client implements it.
type Registry interface {
	SchemaText(ctx context.Context, id int) (string, error)
}

// Errors returned (wrapped) by Decoder.Decode.
var (
	// ErrUnframed: the value starts with neither framing's header (see
	// DetectFraming): not written by imreport, or not Avro.
	ErrUnframed = errors.New("value is neither Avro single-object encoded nor in the Confluent wire format")
	// ErrNoRegistry: a Confluent-framed value met a Decoder without a
	// registry to resolve its schema id.
	ErrNoRegistry = errors.New("value is in the Confluent wire format and no schema registry is configured")
)

// Decoded is one value decoded by a Decoder.
type Decoded struct {
	Framing  Framing
	SchemaID int            // Confluent: the id in the header; 0 otherwise
	Schema   string         // the writer's schema text (JSON)
	Record   map[string]any // goavro's native form of the record
}

// Decoder decodes values by their own framing: single-object with the
// embedded schema or, for values written by an earlier release, the released
// schema its fingerprint names (testdata/released, embedded too), Confluent by
// asking the registry for the schema id in the header. Schemas fetched are
// kept for the Decoder's life, and so is a lookup that failed for good (an
// unknown id, refused credentials, a schema that does not parse: what
// retry.Temporary calls not temporary), so a topic full of such values does
// not ask the registry once per value; after a temporary failure (the
// registry unreachable, a 5xx) the next value with that id asks again.
// Safe for concurrent use.
type Decoder struct {
	codec *Codec
	reg   Registry // nil: Confluent values fail with ErrNoRegistry

	older map[[8]byte]*writer // released schemas other than the embedded one, by fingerprint

	mu     sync.Mutex
	byID   map[int]*writer
	failed map[int]error // lookups that failed for good
}

// maxBlockCount bounds the items goavro allocates room for when it reads
// one block of an array or map in a writer schema other than the embedded
// one (goavro sizes the block from its count before reading it, and its own
// bound is 2^31-1: a corrupt value would cost tens of gigabytes). The
// embedded schema's only map (extras) is read by this package, bounded by
// the input's size, and never reaches goavro.
const maxBlockCount = 1 << 20

func init() {
	if goavro.MaxBlockCount > maxBlockCount {
		goavro.MaxBlockCount = maxBlockCount // goavro's documented knob for exactly this
	}
}

// writer is a writer schema fetched from the registry.
type writer struct {
	text  string
	own   bool          // the embedded schema (same canonical form): decode with codec
	codec *goavro.Codec // otherwise
}

// NewDecoder returns a Decoder for the embedded schema; reg may be nil.
func NewDecoder(c *Codec, reg Registry) *Decoder {
	older, err := releasedWriters(c.fp)
	if err != nil {
		panic(err) // embedded files, checked by TestReleasedSchemasLoad
	}
	return &Decoder{codec: c, reg: reg, older: older, byID: map[int]*writer{}, failed: map[int]error{}}
}

// Decode decodes one value. Its errors wrap ErrUnframed, ErrNotSingleObject,
// ErrWrongFingerprint (single-object written with a schema this build does
// not embed), ErrNoRegistry, the registry's error, or say why the body does
// not decode with its writer's schema.
func (d *Decoder) Decode(ctx context.Context, b []byte) (Decoded, error) {
	switch DetectFraming(b) {
	case SingleObject:
		if w, ok := d.older[[8]byte(b[2:headerLen])]; ok {
			rec, err := w.decode(b[headerLen:], "single-object")
			return Decoded{Framing: SingleObject, Schema: w.text, Record: rec}, err
		}
		rec, err := d.codec.Decode(b)
		if err != nil {
			return Decoded{Framing: SingleObject}, err
		}
		return Decoded{Framing: SingleObject, Schema: JSON(), Record: rec}, nil
	case Confluent:
		id, body, _ := SplitConfluent(b)
		out := Decoded{Framing: Confluent, SchemaID: id}
		w, err := d.writer(ctx, id)
		if err != nil {
			return out, err
		}
		out.Schema = w.text
		if w.own {
			out.Record, err = d.codec.DecodeBody(body)
			return out, err
		}
		out.Record, err = w.decode(body, fmt.Sprintf("schema id %d", id))
		return out, err
	}
	return Decoded{}, fmt.Errorf("schema: decode: %w (first bytes %x)", ErrUnframed, b[:min(len(b), 4)])
}

// decode decodes a body with a writer schema other than the embedded one;
// which names the schema in errors.
func (w *writer) decode(body []byte, which string) (map[string]any, error) {
	v, rest, err := w.codec.NativeFromBinary(body)
	if err != nil {
		return nil, fmt.Errorf("schema: decode with %s: %w", which, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("schema: decode with %s: %d bytes after the record", which, len(rest))
	}
	rec, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema: decode with %s: got %T, want a record", which, v)
	}
	return rec, nil
}

// writer returns the schema of id, from the cache or the registry.
func (d *Decoder) writer(ctx context.Context, id int) (*writer, error) {
	if d.reg == nil {
		return nil, fmt.Errorf("schema: schema id %d: %w", id, ErrNoRegistry)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if w, ok := d.byID[id]; ok {
		return w, nil
	}
	if err, ok := d.failed[id]; ok {
		return nil, err
	}
	text, err := d.reg.SchemaText(ctx, id)
	var w *writer
	if err == nil {
		w, err = d.parse(text)
	}
	if err != nil {
		err = fmt.Errorf("schema: schema id %d: %w", id, err)
		if !retry.Temporary(err) && ctx.Err() == nil {
			d.failed[id] = err
		}
		return nil, err
	}
	d.byID[id] = w
	return w, nil
}

// parse prepares a writer schema: the embedded schema is recognised by its
// canonical form and decoded with the Codec (bounded memory whatever the
// input); any other with goavro.
func (d *Decoder) parse(text string) (*writer, error) {
	var parsed any
	if err := json.Unmarshal([]byte(text), &parsed); err != nil {
		return nil, fmt.Errorf("the registry's schema is not JSON: %w", err)
	}
	if canon, err := canonicalForm(parsed); err == nil && canon == d.codec.canonical {
		return &writer{text: text, own: true}, nil
	}
	c, err := goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("the registry's schema does not parse as Avro: %w", err)
	}
	return &writer{text: text, codec: c}, nil
}
