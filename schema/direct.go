package schema

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/imreport/imreport/source"
)

// EncodeMessage returns the encoded record of m (the codec's framing, then
// the Avro binary record), exactly what
// Encode(Native(m, src)) returns, with the same *TransformError when m
// cannot become a record. It writes the Avro binary directly from m,
// without the native map: reading msg_body member by member, with nothing
// allocated per field. Anything unusual (a value of the wrong kind, a
// string it would have to repair) is left to Native and Encode, which then
// give the record or the error.
func (c *Codec) EncodeMessage(m source.Message, src Source) ([]byte, error) {
	return c.AppendMessage(make([]byte, 0, len(c.header)+128+2*len(m.Body)+len(m.Raw)/2), m, src)
}

// AppendMessage appends what EncodeMessage returns to dst. On an error dst
// is returned unchanged (its length; bytes past it may have been written).
func (c *Codec) AppendMessage(dst []byte, m source.Message, src Source) ([]byte, error) {
	if out, ok := appendMessage(append(dst, c.header...), m, src); ok {
		return out, nil
	}
	native, err := Native(m, src)
	if err != nil {
		return dst, err
	}
	value, err := c.Encode(native)
	if err != nil {
		return dst, err
	}
	return append(dst, value...), nil
}

// appendMessage appends the Avro binary record of m to buf. ok is false when
// the direct path does not handle m (Native decides then).
func appendMessage(buf []byte, m source.Message, src Source) (out []byte, ok bool) {
	for _, s := range [...]string{m.MsgType, m.TargetType, m.TargetID, m.TargetName, m.FromType, m.FromID,
		m.FromName, m.FromPlatform, src.AppKey, src.Endpoint, src.APIVersion} {
		if !utf8.ValidString(s) {
			return nil, false
		}
	}
	if m.CreateTime < math.MinInt64/1000 || m.CreateTime > math.MaxInt64/1000 {
		return nil, false
	}
	var b body
	if !b.read(m) {
		return nil, false
	}
	buf = binary.AppendVarint(buf, m.MsgID)
	buf = binary.AppendVarint(buf, m.MsgCtime)
	buf = binary.AppendVarint(buf, m.CreateTime*1000)
	buf = appendString(buf, m.MsgType)
	buf = binary.AppendVarint(buf, int64(m.MsgLevel))
	buf = binary.AppendVarint(buf, int64(m.Version))
	buf = appendString(buf, m.TargetType)
	buf = appendString(buf, m.TargetID)
	buf = appendString(buf, m.TargetName)
	if buf, ok = appendOptPtr(buf, m.TargetAppKey); !ok {
		return nil, false
	}
	buf = appendString(buf, m.FromType)
	buf = appendString(buf, m.FromID)
	buf = appendString(buf, m.FromName)
	buf = appendString(buf, m.FromPlatform)
	if buf, ok = appendOptPtr(buf, m.FromAppKey); !ok {
		return nil, false
	}
	buf = appendConversationID(buf, m)
	if buf, ok = b.appendText(buf, m.MsgType); !ok {
		return nil, false
	}
	if buf, ok = b.appendExtras(buf); !ok {
		return nil, false
	}
	if buf, ok = b.appendMedia(buf, m.MsgType); !ok {
		return nil, false
	}
	if buf, ok = b.appendLocation(buf, m.MsgType); !ok {
		return nil, false
	}
	buf = binary.AppendVarint(buf, int64(len(m.Body)))
	buf = append(buf, m.Body...)
	buf = appendString(buf, src.AppKey)
	buf = appendString(buf, src.Endpoint)
	buf = appendString(buf, src.APIVersion)
	buf = binary.AppendVarint(buf, src.FetchedAt.UnixMilli())
	return buf, true
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendVarint(buf, int64(len(s)))
	return append(buf, s...)
}

// appendOptPtr writes a ["null","string"] union from a pointer.
func appendOptPtr(buf []byte, p *string) ([]byte, bool) {
	if p == nil {
		return binary.AppendVarint(buf, 0), true
	}
	if !utf8.ValidString(*p) {
		return nil, false
	}
	return appendString(binary.AppendVarint(buf, 1), *p), true
}

// appendConversationID writes ConversationID(m) without building it.
func appendConversationID(buf []byte, m source.Message) []byte {
	if m.TargetType != "single" {
		return appendString(buf, m.TargetID)
	}
	a, b := m.FromID, m.TargetID
	if b < a {
		a, b = b, a
	}
	buf = binary.AppendVarint(buf, int64(len(a)+1+len(b)))
	buf = append(buf, a...)
	buf = append(buf, ':')
	return append(buf, b...)
}

// The msg_body members the record reads from, by index into body.fields
// (and, for video, into body.video).
const (
	bText = iota
	bExtras
	bVideo
	bLabel
	bLable
	bLatitude
	bLongitude
	bScale
	bMediaID // media fields, in the order of the Media record
	bMediaCRC32
	bFormat
	bFsize
	bWidth
	bHeight
	bDuration
	bFname
	bHash
	numBodyFields
)

var mediaKinds = [...]byte{'s', 'l', 's', 'l', 'i', 'i', 'i', 's', 's'} // bMediaID..bHash: string, long, int

// body holds the raw values of the msg_body members the record reads, the
// last of a repeated member, as encoding/json's map keeps it.
type body struct {
	object bool // msg_body is a JSON object
	fields [numBodyFields]json.RawMessage
	video  [numBodyFields]json.RawMessage // members of msg_body.video
}

func bodyIndex(name []byte) int {
	switch string(name) {
	case "text":
		return bText
	case "extras":
		return bExtras
	case "video":
		return bVideo
	case "label":
		return bLabel
	case "lable":
		return bLable
	case "latitude":
		return bLatitude
	case "longitude":
		return bLongitude
	case "scale":
		return bScale
	case "media_id":
		return bMediaID
	case "media_crc32":
		return bMediaCRC32
	case "format":
		return bFormat
	case "fsize":
		return bFsize
	case "width":
		return bWidth
	case "height":
		return bHeight
	case "duration":
		return bDuration
	case "fname":
		return bFname
	case "hash":
		return bHash
	}
	return -1
}

// read parses m.Body. ok is false for a body Native should judge.
func (b *body) read(m source.Message) bool {
	if len(m.Body) == 0 {
		return true
	}
	if !utf8.Valid(m.Body) || m.Body[0] != '{' {
		return false // not an object (or with leading space): Native checks it
	}
	b.object = true
	null, err := source.EachMember(m.Body, func(name, value []byte) {
		if i := bodyIndex(name); i >= 0 {
			b.fields[i] = value
		}
	})
	if err != nil || null {
		return false
	}
	if m.MsgType == "video" {
		v := b.fields[bVideo]
		if isNull(v) {
			return true
		}
		if v[0] != '{' {
			return false
		}
		null, err := source.EachMember(v, func(name, value []byte) {
			if i := bodyIndex(name); i >= bMediaID {
				b.video[i] = value
			}
		})
		if err != nil || null {
			return false
		}
	}
	return true
}

// appendText writes the text union: the text of a text message.
func (b *body) appendText(buf []byte, msgType string) ([]byte, bool) {
	raw := b.fields[bText]
	if msgType != "text" || !b.object || len(raw) == 0 || raw[0] != '"' {
		return binary.AppendVarint(buf, 0), true
	}
	s, ok := unquote(raw)
	if !ok {
		return nil, false
	}
	return appendString(binary.AppendVarint(buf, 1), s), true
}

// appendExtras writes the extras union: string values as they are, others as
// their compact JSON, sorted by key, the last of a repeated key.
func (b *body) appendExtras(buf []byte) ([]byte, bool) {
	raw := bytes.TrimSpace(b.fields[bExtras])
	if len(raw) == 0 || raw[0] != '{' {
		return appendExtras(buf, nil), true
	}
	pairs := make([]extrasPair, 0, 8)
	ok := true
	var compact bytes.Buffer
	_, err := source.EachMember(raw, func(name, value []byte) {
		if !ok {
			return
		}
		var v string
		if value[0] == '"' {
			v, ok = unquote(value)
		} else {
			compact.Reset()
			ok = json.Compact(&compact, value) == nil
			v = compact.String()
		}
		k := string(name)
		if i := slices.IndexFunc(pairs, func(p extrasPair) bool { return p.k == k }); i >= 0 {
			pairs = slices.Delete(pairs, i, i+1) // the last one counts
		}
		pairs = append(pairs, extrasPair{k, v})
	})
	if err != nil || !ok {
		return nil, false
	}
	slices.SortFunc(pairs, func(a, b extrasPair) int { return strings.Compare(a.k, b.k) })
	return appendExtras(buf, pairs), true
}

// appendMedia writes the media union of image, voice, file and video
// messages.
func (b *body) appendMedia(buf []byte, msgType string) ([]byte, bool) {
	var src *[numBodyFields]json.RawMessage
	duration := b.fields[bDuration]
	switch {
	case !b.object:
		return binary.AppendVarint(buf, 0), true
	case msgType == "image" || msgType == "voice" || msgType == "file":
		src = &b.fields
	case msgType == "video":
		src = &b.video
		if isNull(duration) {
			duration = b.video[bDuration]
		}
	default:
		return binary.AppendVarint(buf, 0), true
	}
	buf = binary.AppendVarint(buf, 1)
	for i := bMediaID; i <= bHash; i++ {
		raw := src[i]
		if i == bDuration {
			raw = duration
		}
		var ok bool
		switch mediaKinds[i-bMediaID] {
		case 's':
			buf, ok = appendOptString(buf, raw)
		case 'l':
			buf, ok = appendOptInteger(buf, raw, math.MinInt64, math.MaxInt64)
		default:
			buf, ok = appendOptInteger(buf, raw, math.MinInt32, math.MaxInt32)
		}
		if !ok {
			return nil, false
		}
	}
	return buf, true
}

// appendLocation writes the location union of location messages.
func (b *body) appendLocation(buf []byte, msgType string) ([]byte, bool) {
	if msgType != "location" || !b.object {
		return binary.AppendVarint(buf, 0), true
	}
	buf = binary.AppendVarint(buf, 1)
	for _, i := range [...]int{bLatitude, bLongitude} {
		f, ok, reason := parseFloat(b.fields[i])
		if !ok || reason != "" {
			return nil, false
		}
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(f))
	}
	buf, ok := appendOptInteger(buf, b.fields[bScale], math.MinInt32, math.MaxInt32)
	if !ok {
		return nil, false
	}
	label := b.fields[bLabel]
	if isNull(label) {
		label = b.fields[bLable] // the vendor's spelling in some messages
	}
	return appendOptString(buf, label)
}

// appendOptString writes a ["null","string"] union as optString reads it.
func appendOptString(buf []byte, raw json.RawMessage) ([]byte, bool) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return binary.AppendVarint(buf, 0), true
	}
	var s string
	switch raw[0] {
	case '"':
		var ok bool
		if s, ok = unquote(raw); !ok {
			return nil, false
		}
	case '{', '[':
		return nil, false
	default:
		s = string(raw)
	}
	return appendString(binary.AppendVarint(buf, 1), s), true
}

// appendOptInteger writes a ["null","long"] or ["null","int"] union as
// optLong and optInt read it.
func appendOptInteger(buf []byte, raw json.RawMessage, least, most int64) ([]byte, bool) {
	v, ok, reason := parseInteger(raw)
	switch {
	case reason != "" || (ok && (v < least || v > most)):
		return nil, false
	case !ok:
		return binary.AppendVarint(buf, 0), true
	}
	return binary.AppendVarint(binary.AppendVarint(buf, 1), v), true
}

// unquote returns the text of a JSON string as encoding/json does, for a
// string without escapes; ok is false for anything else, which goes to
// encoding/json.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return string(in), true // msg_body is valid UTF-8, checked by read
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
