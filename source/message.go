package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Message is one vendor message, decoded tolerantly from the Report API's JSON.
//
// Numbers may arrive as JSON numbers or as strings; strings may arrive as numbers;
// missing optional fields are left at their zero value; unknown fields are ignored
// here and kept in Raw.
type Message struct {
	MsgID        int64  // msgid
	MsgType      string // msg_type: text, image, voice, file, location, video, custom, or anything else
	MsgLevel     int32  // msg_level: 0 in-app, 1 cross-app
	Version      int32  // version
	TargetType   string // target_type: single, group, chatroom, ...
	TargetID     string // target_id
	TargetName   string // target_name
	TargetAppKey *string
	FromType     string // from_type: user, admin, robot, ...
	FromID       string // from_id
	FromName     string // from_name
	FromPlatform string // from_platform: a, i, w, web, ...
	FromAppKey   *string
	CreateTime   int64 // create_time: send time, Unix seconds
	MsgCtime     int64 // msg_ctime: server receive time, Unix milliseconds

	// Body is the vendor's msg_body exactly as received (nil when absent).
	Body json.RawMessage
	// Raw is the whole message object exactly as received.
	Raw json.RawMessage
}

// ErrNoMsgID is returned (wrapped) by DecodeMessage when the input is not a JSON
// object or carries no usable msgid: such a message cannot be identified, so it can
// be neither deduplicated nor dead-lettered.
var ErrNoMsgID = errors.New("message has no usable msgid")

// FieldError is returned by DecodeMessage when a message has a msgid but one of
// its other fields is missing or malformed. The partially decoded Message is
// returned alongside it, with MsgID and Raw set.
type FieldError struct {
	MsgID  int64
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("message %d: field %s: %s", e.MsgID, e.Field, e.Reason)
}

// DecodeMessage decodes one vendor message object.
//
// It returns an error wrapping ErrNoMsgID when no msgid can be read, and a
// *FieldError (with the partial Message) when the msgid is readable but a required
// field (msg_type, create_time, msg_ctime, target_type, target_id, from_id) is
// missing or malformed. It never panics, whatever the input. Message.Raw and
// Message.Body alias raw.
//
// The object is read member by member by EachMember, which validates it
// (a byte loop for the common shapes, github.com/go-json-experiment/json's
// jsontext for the rest), without a map: a member that appears twice counts
// with its last value, as with encoding/json.
func DecodeMessage(raw []byte) (Message, error) {
	m := Message{Raw: json.RawMessage(raw)}
	var f messageFields
	null, err := EachMember(raw, f.set)
	if err != nil {
		return m, fmt.Errorf("decode message: %v: %w", err, ErrNoMsgID)
	}
	if null {
		return m, fmt.Errorf("decode message: null: %w", ErrNoMsgID)
	}
	id, ok, err := intValue(f[fMsgID])
	if err != nil {
		return m, fmt.Errorf("decode message: msgid: %v: %w", err, ErrNoMsgID)
	}
	if !ok || id <= 0 {
		return m, fmt.Errorf("decode message: msgid missing or not positive: %w", ErrNoMsgID)
	}
	m.MsgID = id

	var firstErr error
	fail := func(field, reason string) {
		if firstErr == nil {
			firstErr = &FieldError{MsgID: m.MsgID, Field: field, Reason: reason}
		}
	}
	// present reports whether field i holds a value, after failing on its
	// decoding error or on its absence when it is required.
	present := func(i int, ok bool, err error, required bool) bool {
		switch {
		case err != nil:
			fail(fieldNames[i], err.Error())
		case !ok && required:
			fail(fieldNames[i], "missing")
		}
		return err == nil && ok
	}
	str := func(i int, dst *string, required bool) {
		v, ok, err := textValue(f[i])
		if present(i, ok, err, required) {
			*dst = v
			if required && v == "" {
				fail(fieldNames[i], "empty")
			}
		}
	}
	optStr := func(i int, dst **string) {
		v, err := stringValue(f[i])
		if err != nil {
			fail(fieldNames[i], err.Error())
			return
		}
		*dst = v
	}
	integer := func(i int, required bool, set func(int64)) {
		v, ok, err := intValue(f[i])
		if present(i, ok, err, required) {
			set(v)
		}
	}
	small := func(i int, dst *int32) {
		integer(i, false, func(v int64) {
			if v < math.MinInt32 || v > math.MaxInt32 {
				fail(fieldNames[i], "out of range")
				return
			}
			*dst = int32(v)
		})
	}

	str(fMsgType, &m.MsgType, true)
	small(fMsgLevel, &m.MsgLevel)
	small(fVersion, &m.Version)
	str(fTargetType, &m.TargetType, true)
	str(fTargetID, &m.TargetID, true)
	str(fTargetName, &m.TargetName, false)
	optStr(fTargetAppKey, &m.TargetAppKey)
	str(fFromType, &m.FromType, false)
	str(fFromID, &m.FromID, true)
	str(fFromName, &m.FromName, false)
	str(fFromPlatform, &m.FromPlatform, false)
	optStr(fFromAppKey, &m.FromAppKey)
	integer(fCreateTime, true, func(v int64) { m.CreateTime = v })
	integer(fMsgCtime, true, func(v int64) { m.MsgCtime = v })
	if b := f[fMsgBody]; b != nil {
		m.Body = b
	}
	if m.CreateTime < 0 {
		fail("create_time", "negative")
	}
	if m.MsgCtime < 0 {
		fail("msg_ctime", "negative")
	}
	return m, firstErr
}

// The members DecodeMessage reads, by index into messageFields.
const (
	fMsgID = iota
	fMsgType
	fMsgLevel
	fVersion
	fTargetType
	fTargetID
	fTargetName
	fTargetAppKey
	fFromType
	fFromID
	fFromName
	fFromPlatform
	fFromAppKey
	fCreateTime
	fMsgCtime
	fMsgBody
	numFields
)

var fieldNames = [numFields]string{
	"msgid", "msg_type", "msg_level", "version", "target_type", "target_id", "target_name", "target_appkey",
	"from_type", "from_id", "from_name", "from_platform", "from_appkey", "create_time", "msg_ctime", "msg_body",
}

// messageFields holds the raw value of each member DecodeMessage reads (nil
// when absent).
type messageFields [numFields]json.RawMessage

func (f *messageFields) set(name []byte, value []byte) {
	var i int
	switch string(name) {
	case "msgid":
		i = fMsgID
	case "msg_type":
		i = fMsgType
	case "msg_level":
		i = fMsgLevel
	case "version":
		i = fVersion
	case "target_type":
		i = fTargetType
	case "target_id":
		i = fTargetID
	case "target_name":
		i = fTargetName
	case "target_appkey":
		i = fTargetAppKey
	case "from_type":
		i = fFromType
	case "from_id":
		i = fFromID
	case "from_name":
		i = fFromName
	case "from_platform":
		i = fFromPlatform
	case "from_appkey":
		i = fFromAppKey
	case "create_time":
		i = fCreateTime
	case "msg_ctime":
		i = fMsgCtime
	case "msg_body":
		i = fMsgBody
	default:
		return // unknown members are ignored (they stay in Raw)
	}
	f[i] = value
}

func isNull(b json.RawMessage) bool {
	if len(b) > 0 && b[0] > ' ' && b[0] != 'n' {
		return false // the common case, without trimming
	}
	return len(b) == 0 || bytes.Equal(bytes.TrimSpace(b), []byte("null"))
}

// parseInt reads an integer that may be a JSON number or a numeric string.
// It returns nil for a missing (nil), null or empty-string value.
func parseInt(b json.RawMessage) (*int64, error) {
	v, ok, err := intValue(b)
	if !ok || err != nil {
		return nil, err
	}
	return &v, nil
}

// intValue is parseInt without the pointer: ok is false for a missing (nil),
// null or empty-string value.
func intValue(b json.RawMessage) (int64, bool, error) {
	if v, ok := plainInt(b); ok {
		return v, true, nil
	}
	if isNull(b) {
		return 0, false, nil
	}
	var text string
	switch b[0] {
	case '"':
		if err := json.Unmarshal(b, &text); err != nil {
			return 0, false, err
		}
		text = strings.TrimSpace(text)
		if text == "" {
			return 0, false, nil
		}
	default:
		text = string(b)
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err == nil {
		return v, true, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, false, fmt.Errorf("out of range: %.40s", text)
	}
	// Accept integral floats such as 1.446016259e9 that some encoders produce.
	// float64(math.MaxInt64) is 2^63, itself out of range.
	// Only decimal text, and only up to 2^53, where a float is still exact:
	// a rounded msgid would be another message's id.
	if strings.ContainsAny(text, "xXpP_") {
		return 0, false, fmt.Errorf("not an integer: %.40s", text)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) {
		return 0, false, fmt.Errorf("not an integer: %.40s", text)
	}
	if f > 1<<53 || f < -(1<<53) {
		return 0, false, fmt.Errorf("not an exact integer: %.40s", text)
	}
	return int64(f), true, nil
}

// plainInt parses the common case fast: a JSON number or a quoted one made
// of at most 18 decimal digits (no sign, no spaces, no escapes).
func plainInt(b []byte) (int64, bool) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// stringValue reads a string that may also arrive as a JSON number or
// boolean. It returns nil for a missing (nil) or null value and an error for
// objects and arrays.
func stringValue(b json.RawMessage) (*string, error) {
	v, ok, err := textValue(b)
	if !ok || err != nil {
		return nil, err
	}
	return &v, nil
}

// intField is parseInt of a member of fields (nil when absent).
func intField(fields map[string]json.RawMessage, name string) (*int64, error) {
	return parseInt(fields[name])
}

// stringField is stringValue of a member of fields (nil when absent).
func stringField(fields map[string]json.RawMessage, name string) (*string, error) {
	return stringValue(fields[name])
}

// errNotString: an object or an array where a string belongs.
var errNotString = errors.New("not a string")

// textValue is stringValue without the pointer: ok is false for a missing
// (nil) or null value.
func textValue(b json.RawMessage) (string, bool, error) {
	if isNull(b) {
		return "", false, nil
	}
	switch b[0] {
	case '"':
		if s, ok := plainString(b); ok {
			return s, true, nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	case '{', '[':
		return "", false, errNotString
	default:
		return string(bytes.TrimSpace(b)), true, nil
	}
}

// plainString unquotes a JSON string whose bytes are valid UTF-8, as
// encoding/json would. ok is false for anything else (invalid UTF-8, lone
// surrogates, bad escapes: left to encoding/json, which replaces some of it
// with U+FFFD).
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	in := b[1 : len(b)-1]
	plain := 0 // the leading ASCII bytes that stand for themselves
	for plain < len(in) && in[plain] < utf8.RuneSelf && in[plain] != '\\' {
		plain++
	}
	if plain == len(in) {
		return string(in), true
	}
	if !utf8.Valid(in[plain:]) {
		return "", false
	}
	if bytes.IndexByte(in[plain:], '\\') < 0 {
		return string(in), true
	}
	var buf [128]byte // most escaped names and ids fit
	out, err := jsontext.AppendUnquote(buf[:0], b)
	if err != nil {
		return "", false
	}
	return string(out), true
}
