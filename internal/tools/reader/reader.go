// Package reader prints the records of a topic as JSON lines, each value
// decoded by its own framing: Avro single-object with the embedded schema,
// the Confluent wire format through the Schema Registry, anything else
// reported on its line. It is `imreport read`: what users reach for
// instead of kcat, which decodes neither.
//
// # Output
//
// One JSON object per record and line: partition, offset, timestamp (RFC
// 3339 UTC with milliseconds), key (UTF-8 text), headers, framing
// ("single-object", "confluent" or "unframed"), schema_id (Confluent only),
// and value: the record as plain JSON (schema.PlainJSON: unions unwrapped,
// timestamps as text). A value that does not decode has "error" instead,
// and the raw bytes as "raw" (when they are UTF-8, as dead letters' JSON
// is) or "raw_base64"; reading goes on.
package reader

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
)

// Source is where records come from: sink.Writer.Consume.
type Source interface {
	Consume(ctx context.Context, opts sink.ConsumeOptions, fn func(sink.Message) error) error
}

// Decoder decodes one value: schema.Decoder.
type Decoder interface {
	Decode(ctx context.Context, b []byte) (schema.Decoded, error)
}

// Stats counts what Print printed.
type Stats struct {
	Records   int // lines printed
	Undecoded int // of those, values that did not decode
}

// Line is one output line.
type Line struct {
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Timestamp string            `json:"timestamp"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	Framing   string            `json:"framing"`
	SchemaID  int               `json:"schema_id,omitempty"`
	Value     json.RawMessage   `json:"value,omitempty"`
	Error     string            `json:"error,omitempty"`
	Raw       *string           `json:"raw,omitempty"`
	RawBase64 []byte            `json:"raw_base64,omitempty"`
}

// Print reads records from src as opts says and writes one JSON line per
// record to out. Values that do not decode are reported on their line and
// counted; only a failure to read or to write stops it.
func Print(ctx context.Context, src Source, dec Decoder, opts sink.ConsumeOptions, out io.Writer) (Stats, error) {
	var st Stats
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	err := src.Consume(ctx, opts, func(m sink.Message) error {
		l := Render(ctx, dec, m)
		if l.Error != "" {
			st.Undecoded++
		}
		st.Records++
		if err := enc.Encode(l); err != nil {
			return fmt.Errorf("read: write: %w", err)
		}
		return nil
	})
	return st, err
}

// Render decodes one record into its output line.
func Render(ctx context.Context, dec Decoder, m sink.Message) Line {
	l := Line{
		Partition: m.Partition, Offset: m.Offset,
		Timestamp: m.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Key:       string(m.Key), Headers: m.Headers,
	}
	if m.Time.IsZero() {
		l.Timestamp = time.Time{}.Format(time.RFC3339)
	}
	d, err := dec.Decode(ctx, m.Value)
	l.Framing, l.SchemaID = d.Framing.String(), d.SchemaID
	if err == nil {
		l.Value, err = schema.PlainJSON(d.Schema, d.Record)
	}
	if err != nil {
		l.Value = nil
		l.Error = err.Error()
		if utf8.Valid(m.Value) {
			s := string(m.Value)
			l.Raw = &s
		} else {
			l.RawBase64 = m.Value
		}
	}
	return l
}
