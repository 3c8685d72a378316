// Package schema holds imreport's Avro value schema, the contract with downstream
// consumers, and turns decoded vendor messages into Avro records.
//
// The schema (record io.imreport.Message, file message.avsc, returned by JSON) is
// embedded in the binary. Each Kafka value is one record, framed one of two ways
// (Framing): Avro single-object encoding, the two bytes C3 01, the 8-byte
// little-endian CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing
// Canonical Form, then the Avro binary encoding of the record (NewCodec); or the
// Confluent Schema Registry wire format, the byte 00, the 4-byte big-endian
// schema id the registry assigned, then the same binary encoding
// (Codec.Confluent). The Kafka key is the record's conversation_id
// (ConversationID).
//
// The path from the Report API to Kafka is
//
//	m, err := source.DecodeMessage(raw)     // tolerant vendor decoding
//	native, err := schema.Native(m, src)    // *TransformError on bad msg_body content
//	value, err := codec.Encode(native)      // single-object, or Confluent with an id
//
// # Reading values
//
// Decoder decodes a value by its own framing (DetectFraming): single-object
// with the embedded schema, Confluent by asking a Registry for the schema id
// (the registry package's client; ids are cached), anything else an error
// wrapping ErrUnframed, per value. PlainJSON renders a decoded record as plain
// JSON (unions unwrapped, timestamps as text), as `imreport read` prints it.
// Codec.Decode of a Confluent codec reads both its framings, for its own id.
//
// # Evolution
//
// Every released schema is kept in testdata/released; a test checks that the
// current schema is FULL compatible with each (see docs/consuming.md,
// "Changing the schema").
//
// # Fingerprint
//
// The fingerprint follows the Avro specification and the Java reference
// implementation (SchemaNormalization.parsingFingerprint64): logical types such as
// {"type":"long","logicalType":"timestamp-millis"} reduce to "long" in the
// canonical form. goavro's own CanonicalSchema and Rabin keep {"type":"long"}
// there (goavro issue #174), which gives a fingerprint no Java consumer can
// resolve, so this package computes the canonical form itself and writes the
// single-object header itself. Docs, defaults and logical types do not change the
// fingerprint; names, field order and types do.
//
// # Determinism
//
// Encode is deterministic: the extras map is written with its keys sorted
// (goavro writes Go maps in random order), so the same record always gives the
// same bytes. The bytes are ordinary Avro: any reader decodes them.
//
// # Native form
//
// Native returns goavro's native form: nullable values are nil or
// goavro.Union(branch, value) (records in unions use the full name, e.g.
// "io.imreport.Media"); timestamps are int64 milliseconds. Decode returns
// timestamps as time.Time in UTC.
package schema
