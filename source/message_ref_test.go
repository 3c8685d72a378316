package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// decodeMessageMaps is DecodeMessage as it was before it read members one by
// one: through a map[string]json.RawMessage. The fuzz target compares the
// two.
//
// It returns an error wrapping ErrNoMsgID when no msgid can be read, and a
// *FieldError (with the partial Message) when the msgid is readable but a required
// field (msg_type, create_time, msg_ctime, target_type, target_id, from_id) is
// missing or malformed. It never panics, whatever the input.
func decodeMessageMaps(raw []byte) (Message, error) {
	m := Message{Raw: json.RawMessage(raw)}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return m, fmt.Errorf("decode message: %v: %w", err, ErrNoMsgID)
	}
	if fields == nil {
		return m, fmt.Errorf("decode message: null: %w", ErrNoMsgID)
	}
	id, err := refIntField(fields, "msgid")
	if err != nil {
		return m, fmt.Errorf("decode message: msgid: %v: %w", err, ErrNoMsgID)
	}
	if id == nil || *id <= 0 {
		return m, fmt.Errorf("decode message: msgid missing or not positive: %w", ErrNoMsgID)
	}
	m.MsgID = *id

	var firstErr error
	fail := func(field, reason string) {
		if firstErr == nil {
			firstErr = &FieldError{MsgID: m.MsgID, Field: field, Reason: reason}
		}
	}
	str := func(name string, dst *string, required bool) {
		v, err := refStringField(fields, name)
		switch {
		case err != nil:
			fail(name, err.Error())
		case v == nil && required:
			fail(name, "missing")
		case v != nil:
			*dst = *v
			if required && *v == "" {
				fail(name, "empty")
			}
		}
	}
	optStr := func(name string, dst **string) {
		v, err := refStringField(fields, name)
		if err != nil {
			fail(name, err.Error())
			return
		}
		*dst = v
	}
	integer := func(name string, required bool, set func(int64)) {
		v, err := refIntField(fields, name)
		switch {
		case err != nil:
			fail(name, err.Error())
		case v == nil && required:
			fail(name, "missing")
		case v != nil:
			set(*v)
		}
	}
	small := func(name string, dst *int32) {
		integer(name, false, func(v int64) {
			if v < math.MinInt32 || v > math.MaxInt32 {
				fail(name, "out of range")
				return
			}
			*dst = int32(v)
		})
	}

	str("msg_type", &m.MsgType, true)
	small("msg_level", &m.MsgLevel)
	small("version", &m.Version)
	str("target_type", &m.TargetType, true)
	str("target_id", &m.TargetID, true)
	str("target_name", &m.TargetName, false)
	optStr("target_appkey", &m.TargetAppKey)
	str("from_type", &m.FromType, false)
	str("from_id", &m.FromID, true)
	str("from_name", &m.FromName, false)
	str("from_platform", &m.FromPlatform, false)
	optStr("from_appkey", &m.FromAppKey)
	integer("create_time", true, func(v int64) { m.CreateTime = v })
	integer("msg_ctime", true, func(v int64) { m.MsgCtime = v })
	if b, ok := fields["msg_body"]; ok {
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

// refIntField reads an integer that may be a JSON number or a numeric string.
// It returns nil for a missing or null field.
func refIntField(fields map[string]json.RawMessage, name string) (*int64, error) {
	b, ok := fields[name]
	if !ok {
		return nil, nil
	}
	return refParseInt(b)
}

// refStringField reads a string that may also arrive as a JSON number or boolean.
// It returns nil for a missing or null field and an error for objects and arrays.
func refStringField(fields map[string]json.RawMessage, name string) (*string, error) {
	b, ok := fields[name]
	if !ok || isNull(b) {
		return nil, nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, err
		}
		return &s, nil
	case '{', '[':
		return nil, errors.New("not a string")
	default:
		s := string(bytes.TrimSpace(b))
		return &s, nil
	}
}

func refParseInt(b json.RawMessage) (*int64, error) {
	if isNull(b) {
		return nil, nil
	}
	var text string
	switch b[0] {
	case '"':
		if err := json.Unmarshal(b, &text); err != nil {
			return nil, err
		}
		text = strings.TrimSpace(text)
		if text == "" {
			return nil, nil
		}
	default:
		text = string(b)
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err == nil {
		return &v, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("out of range: %.40s", text)
	}
	// Accept integral floats such as 1.446016259e9 that some encoders produce.
	// float64(math.MaxInt64) is 2^63, itself out of range.
	// Only decimal text, and only up to 2^53, where a float is still exact:
	// a rounded msgid would be another message's id.
	if strings.ContainsAny(text, "xXpP_") {
		return nil, fmt.Errorf("not an integer: %.40s", text)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) {
		return nil, fmt.Errorf("not an integer: %.40s", text)
	}
	if f > 1<<53 || f < -(1<<53) {
		return nil, fmt.Errorf("not an exact integer: %.40s", text)
	}
	v = int64(f)
	return &v, nil
}
