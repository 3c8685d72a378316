package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Framing is how a value's Avro body is framed: which header precedes it and
// how the header names the writer's schema.
type Framing int

const (
	// Unframed: the value starts with neither header.
	Unframed Framing = iota
	// SingleObject is Avro's single-object encoding: C3 01, then the 8-byte
	// little-endian CRC-64-AVRO fingerprint of the schema's Parsing
	// Canonical Form, then the body. The schema is found by fingerprint.
	SingleObject
	// Confluent is the Confluent Schema Registry wire format: the magic
	// byte 00, then the 4-byte big-endian schema id the registry assigned,
	// then the body. The schema is found by asking the registry for the id.
	Confluent
)

// String returns "single-object", "confluent" or "unframed".
func (f Framing) String() string {
	switch f {
	case SingleObject:
		return "single-object"
	case Confluent:
		return "confluent"
	}
	return "unframed"
}

// ParseFraming reads a value format as configured: "single-object" or
// "confluent".
func ParseFraming(s string) (Framing, error) {
	switch s {
	case "single-object":
		return SingleObject, nil
	case "confluent":
		return Confluent, nil
	}
	return Unframed, fmt.Errorf("value format %q is not single-object or confluent", s)
}

// confluentHeaderLen is the Confluent header: the magic byte and the id.
const confluentHeaderLen = 5

// Errors returned (wrapped) when a value's framing cannot be read.
var (
	// ErrNotConfluent: the value is shorter than 5 bytes or does not start
	// with the magic byte 00.
	ErrNotConfluent = errors.New("not in the Confluent wire format")
	// ErrWrongSchemaID: a Confluent header names a schema id other than the
	// Codec's own (a Decoder asks the registry for it).
	ErrWrongSchemaID = errors.New("schema id does not match")
)

// DetectFraming tells a value's framing by its first bytes: C3 01 and room
// for the fingerprint is SingleObject, 00 and room for the id is Confluent,
// anything else Unframed. It does not check that the schema is known.
func DetectFraming(b []byte) Framing {
	switch {
	case len(b) >= headerLen && b[0] == 0xC3 && b[1] == 0x01:
		return SingleObject
	case len(b) >= confluentHeaderLen && b[0] == 0x00:
		return Confluent
	}
	return Unframed
}

// SplitConfluent returns the schema id and the Avro body of a value in the
// Confluent wire format, or an error wrapping ErrNotConfluent.
func SplitConfluent(b []byte) (id int, body []byte, err error) {
	if len(b) < confluentHeaderLen || b[0] != 0x00 {
		return 0, nil, ErrNotConfluent
	}
	return int(binary.BigEndian.Uint32(b[1:confluentHeaderLen])), b[confluentHeaderLen:], nil
}

// AppendConfluentHeader appends the Confluent header for schema id to b.
func AppendConfluentHeader(b []byte, id int) []byte {
	return binary.BigEndian.AppendUint32(append(b, 0x00), uint32(id))
}

// Confluent returns a Codec that encodes in the Confluent wire format with
// the schema id the registry assigned to this schema (1 or more; the id
// registering JSON() returned). Its Decode reads both that framing and
// single-object. c itself is unchanged.
func (c *Codec) Confluent(id int) (*Codec, error) {
	if id <= 0 || int64(id) > 1<<31-1 {
		return nil, fmt.Errorf("schema: confluent: schema id %d out of range", id)
	}
	cc := *c
	cc.header = AppendConfluentHeader(nil, id)
	cc.id = id
	cc.contentType = ContentTypeConfluent + "; schema-id=" + strconv.Itoa(id)
	return &cc, nil
}

// Framing returns the framing Encode writes.
func (c *Codec) Framing() Framing {
	if c.id != 0 {
		return Confluent
	}
	return SingleObject
}

// SchemaID returns the registry's schema id a Confluent Codec writes, or 0.
func (c *Codec) SchemaID() int { return c.id }

// Content types of the values Encode writes, for the record's content-type
// header. The Confluent one ends in "; schema-id=N".
const (
	ContentTypeSingleObject = "application/vnd.imreport.message.v1+avro; encoding=single-object"
	ContentTypeConfluent    = "application/vnd.imreport.message.v1+avro; encoding=confluent"
)

// ContentType returns the content type of the values Encode writes:
// ContentTypeSingleObject, or ContentTypeConfluent with the schema id.
func (c *Codec) ContentType() string {
	if c.id != 0 {
		return c.contentType // built once: the pipeline asks for every record
	}
	return ContentTypeSingleObject
}
