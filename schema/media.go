package schema

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/linkedin/goavro/v2"
)

//go:embed media.avsc
var mediaJSON string

// MediaFullName is the Avro full name of the media topic's record
// (io.imreport.Media is already the name of the Message's attachment
// record, so the topic's record has a name of its own).
const MediaFullName = "io.imreport.MediaItem"

// MediaJSON returns the Avro schema of the media topic's values.
func MediaJSON() string { return mediaJSON }

// Content types of the media topic's values.
const (
	ContentTypeMediaSingleObject = "application/vnd.imreport.media.v1+avro; encoding=single-object"
	ContentTypeMediaConfluent    = "application/vnd.imreport.media.v1+avro; encoding=confluent"
)

// MediaCodec encodes and decodes io.imreport.MediaItem records, framed like
// the messages: single-object, or Confluent once the registry gave it an
// id. Immutable and safe for concurrent use.
type MediaCodec struct {
	codec  *goavro.Codec
	fp     [8]byte
	header []byte
	id     int
}

// NewMediaCodec parses the embedded media schema (single-object framing).
func NewMediaCodec() (*MediaCodec, error) {
	c, err := goavro.NewCodec(mediaJSON)
	if err != nil {
		return nil, fmt.Errorf("schema: parse media.avsc: %w", err)
	}
	fp, err := fingerprintOf(mediaJSON)
	if err != nil {
		return nil, fmt.Errorf("schema: media.avsc fingerprint: %w", err)
	}
	return &MediaCodec{codec: c, fp: fp, header: append([]byte{0xC3, 0x01}, fp[:]...)}, nil
}

// Confluent returns a copy that writes the Confluent wire format with id.
func (c *MediaCodec) Confluent(id int) (*MediaCodec, error) {
	if id <= 0 || int64(id) > 1<<31-1 {
		return nil, fmt.Errorf("schema: media confluent: schema id %d out of range", id)
	}
	cc := *c
	cc.header, cc.id = AppendConfluentHeader(nil, id), id
	return &cc, nil
}

// Fingerprint is the single-object fingerprint of the media schema.
func (c *MediaCodec) Fingerprint() [8]byte { return c.fp }

// ContentType is the content-type header of the values Encode writes.
func (c *MediaCodec) ContentType() string {
	if c.id != 0 {
		return ContentTypeMediaConfluent + "; schema-id=" + strconv.Itoa(c.id)
	}
	return ContentTypeMediaSingleObject
}

// Encode writes a native record (goavro's form: unions as map{"type": v}).
func (c *MediaCodec) Encode(native map[string]any) ([]byte, error) {
	buf := make([]byte, len(c.header), 512)
	copy(buf, c.header)
	buf, err := c.codec.BinaryFromNative(buf, native)
	if err != nil {
		return nil, fmt.Errorf("schema: encode media: %w", err)
	}
	return buf, nil
}

// Decode reads a value Encode wrote in either framing (a Confluent value
// is trusted to carry this schema: the media topic has no other).
func (c *MediaCodec) Decode(b []byte) (map[string]any, error) {
	var body []byte
	switch DetectFraming(b) {
	case SingleObject:
		if [8]byte(b[2:headerLen]) != c.fp {
			return nil, fmt.Errorf("schema: decode media: %w (%x)", ErrWrongFingerprint, binary.LittleEndian.Uint64(b[2:headerLen]))
		}
		body = b[headerLen:]
	case Confluent:
		_, body, _ = SplitConfluent(b)
	default:
		return nil, fmt.Errorf("schema: decode media: %w", ErrUnframed)
	}
	v, rest, err := c.codec.NativeFromBinary(body)
	if err != nil {
		return nil, fmt.Errorf("schema: decode media: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("schema: decode media: %d bytes after the record", len(rest))
	}
	rec, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema: decode media: got %T", v)
	}
	return rec, nil
}
