package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"

	"github.com/imreport/imreport/source"
)

// Source says where and when a message was fetched; it fills the record's
// source field.
type Source struct {
	AppKey     string    // JMessage app key whose Report API was read
	Endpoint   string    // endpoint read, e.g. https://report.im.jpush.cn/v2/messages
	APIVersion string    // "v1" or "v2"
	FetchedAt  time.Time // when the page holding the message was fetched (kept to the millisecond)
}

// TransformError is returned by Native when a message cannot become a record:
// a msg_body field of the wrong kind, a value out of range, or text that is not
// valid UTF-8. Field is the record field concerned ("media.width",
// "location.latitude", "msg_body", "create_time", ...). Such a message should be
// dead-lettered with its raw JSON, not retried: the same input fails again.
type TransformError struct {
	MsgID  int64
	Field  string
	Reason string
}

func (e *TransformError) Error() string {
	return fmt.Sprintf("transform message %d: field %s: %s", e.MsgID, e.Field, e.Reason)
}

// ConversationID returns the record's conversation_id, the Kafka key: for
// target_type single the two user ids sorted bytewise and joined with ":" (so
// both directions of a conversation share a key and a partition); for group,
// chatroom and anything else the target_id.
func ConversationID(m source.Message) string {
	if m.TargetType == "single" {
		a, b := m.FromID, m.TargetID
		if b < a {
			a, b = b, a
		}
		return a + ":" + b
	}
	return m.TargetID
}

// Native turns a decoded vendor message into the native record for
// Codec.Encode. m should come from source.DecodeMessage without error (a
// partially decoded message is transformed as it is). Errors are
// *TransformError. Native does not keep references to m.Body.
func Native(m source.Message, src Source) (map[string]any, error) {
	fail := func(field, reason string) error {
		return &TransformError{MsgID: m.MsgID, Field: field, Reason: reason}
	}
	for _, s := range [...]struct{ field, v string }{
		{"msg_type", m.MsgType},
		{"target_type", m.TargetType},
		{"target_id", m.TargetID},
		{"target_name", m.TargetName},
		{"from_type", m.FromType},
		{"from_id", m.FromID},
		{"from_name", m.FromName},
		{"from_platform", m.FromPlatform},
		{"source.app_key", src.AppKey},
		{"source.endpoint", src.Endpoint},
		{"source.api_version", src.APIVersion},
	} {
		if !utf8.ValidString(s.v) {
			return nil, fail(s.field, "not valid UTF-8")
		}
	}
	targetAppKey, err := optPtr(m.TargetAppKey)
	if err != "" {
		return nil, fail("target_appkey", err)
	}
	fromAppKey, err := optPtr(m.FromAppKey)
	if err != "" {
		return nil, fail("from_appkey", err)
	}
	if m.CreateTime < math.MinInt64/1000 || m.CreateTime > math.MaxInt64/1000 {
		return nil, fail("create_time", "out of range")
	}

	// msg_body: kept byte for byte; parsed when it is an object.
	var body map[string]json.RawMessage
	if len(m.Body) > 0 {
		if !utf8.Valid(m.Body) {
			return nil, fail("msg_body", "not valid UTF-8")
		}
		if t := bytes.TrimLeft(m.Body, " \t\r\n"); len(t) > 0 && t[0] == '{' {
			if err := json.Unmarshal(m.Body, &body); err != nil {
				return nil, fail("msg_body", "invalid JSON: "+err.Error())
			}
		} else if !json.Valid(m.Body) {
			return nil, fail("msg_body", "invalid JSON")
		}
	}

	var text any
	if m.MsgType == "text" && body != nil {
		if raw := body["text"]; len(raw) > 0 && raw[0] == '"' {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				text = goavro.Union("string", s)
			}
		}
	}

	extras, terr := extrasOf(body)
	if terr != nil {
		return nil, fail(terr.Field, terr.Reason)
	}
	media, terr := mediaOf(m.MsgType, body)
	if terr != nil {
		return nil, fail(terr.Field, terr.Reason)
	}
	location, terr := locationOf(m.MsgType, body)
	if terr != nil {
		return nil, fail(terr.Field, terr.Reason)
	}

	return map[string]any{
		"msgid":           m.MsgID,
		"msg_ctime":       m.MsgCtime,
		"create_time":     m.CreateTime * 1000,
		"msg_type":        m.MsgType,
		"msg_level":       m.MsgLevel,
		"version":         m.Version,
		"target_type":     m.TargetType,
		"target_id":       m.TargetID,
		"target_name":     m.TargetName,
		"target_appkey":   targetAppKey,
		"from_type":       m.FromType,
		"from_id":         m.FromID,
		"from_name":       m.FromName,
		"from_platform":   m.FromPlatform,
		"from_appkey":     fromAppKey,
		"conversation_id": ConversationID(m),
		"text":            text,
		"extras":          extras,
		"media":           media,
		"location":        location,
		"msg_body":        string(m.Body),
		"source": map[string]any{
			"app_key":     src.AppKey,
			"endpoint":    src.Endpoint,
			"api_version": src.APIVersion,
			"fetched_at":  src.FetchedAt.UnixMilli(),
		},
	}, nil
}

// fieldErr is a TransformError without the msgid, filled in by Native.
type fieldErr struct{ Field, Reason string }

func optPtr(p *string) (any, string) {
	if p == nil {
		return nil, ""
	}
	if !utf8.ValidString(*p) {
		return nil, "not valid UTF-8"
	}
	return goavro.Union("string", *p), ""
}

// extrasOf reads msg_body.extras: string values as they are, any other value as
// its compact JSON text.
func extrasOf(body map[string]json.RawMessage) (any, *fieldErr) {
	raw := bytes.TrimSpace(body["extras"])
	if len(raw) == 0 || raw[0] != '{' {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, &fieldErr{"extras", "invalid JSON: " + err.Error()}
	}
	out := make(map[string]any, len(obj))
	var buf bytes.Buffer
	for k, v := range obj {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, &fieldErr{"extras", fmt.Sprintf("key %q: %v", k, err)}
			}
			out[k] = s
			continue
		}
		buf.Reset()
		if err := json.Compact(&buf, v); err != nil {
			return nil, &fieldErr{"extras", fmt.Sprintf("key %q: %v", k, err)}
		}
		out[k] = buf.String()
	}
	return goavro.Union("map", out), nil
}

// mediaOf builds the Media record of image, voice, file and video messages.
func mediaOf(msgType string, body map[string]json.RawMessage) (any, *fieldErr) {
	if body == nil {
		return nil, nil
	}
	var src map[string]json.RawMessage
	duration := body["duration"]
	switch msgType {
	case "image", "voice", "file":
		src = body
	case "video":
		v := body["video"]
		if !isNull(v) {
			if bytes.TrimSpace(v)[0] != '{' {
				return nil, &fieldErr{"media", "msg_body.video is not an object"}
			}
			if err := json.Unmarshal(v, &src); err != nil {
				return nil, &fieldErr{"media", "msg_body.video: " + err.Error()}
			}
		}
		if isNull(duration) {
			duration = src["duration"]
		}
	default:
		return nil, nil
	}
	rec := make(map[string]any, 9)
	for _, f := range [...]struct {
		name string
		kind byte // s string, l long, i int
	}{
		{"media_id", 's'}, {"media_crc32", 'l'}, {"format", 's'}, {"fsize", 'l'},
		{"width", 'i'}, {"height", 'i'}, {"duration", 'i'}, {"fname", 's'}, {"hash", 's'},
	} {
		raw := src[f.name]
		if f.name == "duration" {
			raw = duration
		}
		var (
			v      any
			reason string
		)
		switch f.kind {
		case 's':
			v, reason = optString(raw)
		case 'l':
			v, reason = optLong(raw)
		default:
			v, reason = optInt(raw)
		}
		if reason != "" {
			return nil, &fieldErr{"media." + f.name, reason}
		}
		rec[f.name] = v
	}
	return goavro.Union(mediaName, rec), nil
}

// locationOf builds the Location record of location messages.
func locationOf(msgType string, body map[string]json.RawMessage) (any, *fieldErr) {
	if msgType != "location" || body == nil {
		return nil, nil
	}
	rec := make(map[string]any, 4)
	for _, name := range [...]string{"latitude", "longitude"} {
		f, ok, reason := parseFloat(body[name])
		if reason == "" && !ok {
			reason = "missing"
		}
		if reason != "" {
			return nil, &fieldErr{"location." + name, reason}
		}
		rec[name] = f
	}
	scale, reason := optInt(body["scale"])
	if reason != "" {
		return nil, &fieldErr{"location.scale", reason}
	}
	rec["scale"] = scale
	raw := body["label"]
	if isNull(raw) {
		raw = body["lable"] // the vendor's spelling in some messages
	}
	label, reason := optString(raw)
	if reason != "" {
		return nil, &fieldErr{"location.label", reason}
	}
	rec["label"] = label
	return goavro.Union(locationName, rec), nil
}

func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

// optString reads a nullable string; numbers and booleans become their JSON text.
func optString(raw json.RawMessage) (any, string) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, ""
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err.Error()
		}
		return goavro.Union("string", s), ""
	case '{', '[':
		return nil, "not a string"
	default:
		return goavro.Union("string", string(raw)), ""
	}
}

func optLong(raw json.RawMessage) (any, string) {
	v, ok, reason := parseInteger(raw)
	if !ok || reason != "" {
		return nil, reason
	}
	return goavro.Union("long", v), ""
}

func optInt(raw json.RawMessage) (any, string) {
	v, ok, reason := parseInteger(raw)
	if !ok || reason != "" {
		return nil, reason
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return nil, "out of range"
	}
	return goavro.Union("int", int32(v)), ""
}

// numberText returns the text of a JSON number given as a number or as a string
// holding one (trimmed). ok is false for null, a missing value or an empty
// string.
func numberText(raw json.RawMessage, what string) (text string, ok bool, reason string) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return "", false, ""
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, err.Error()
		}
		text = strings.TrimSpace(s)
		if text == "" {
			return "", false, ""
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		text = string(raw)
	default:
		return "", false, "not " + what
	}
	if c := text[0]; !(c == '-' || c >= '0' && c <= '9') || !json.Valid([]byte(text)) {
		return "", false, "not " + what
	}
	return text, true, ""
}

// parseInteger reads an integer given as a JSON number or a numeric string; an
// integral float (1024.0, 1.5e3) is accepted.
func parseInteger(raw json.RawMessage) (int64, bool, string) {
	text, ok, reason := numberText(raw, "an integer")
	if !ok {
		return 0, false, reason
	}
	if v, err := strconv.ParseInt(text, 10, 64); err == nil {
		return v, true, ""
	}
	if !strings.ContainsAny(text, ".eE") {
		return 0, false, "out of range" // an integer literal ParseInt rejects: too big
	}
	f, err := strconv.ParseFloat(text, 64)
	switch {
	case err != nil:
		return 0, false, "out of range"
	case f != math.Trunc(f):
		return 0, false, "not an integer"
	case f < -(1<<63) || f >= 1<<63:
		return 0, false, "out of range"
	}
	return int64(f), true, ""
}

// parseFloat reads a number given as a JSON number or a numeric string.
func parseFloat(raw json.RawMessage) (float64, bool, string) {
	text, ok, reason := numberText(raw, "a number")
	if !ok {
		return 0, false, reason
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, false, "out of range"
	}
	return f, true, ""
}
