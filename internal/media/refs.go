// Package media is imreport media: it reads the messages topic as a Kafka
// consumer group, archives every media reference (image, voice, file,
// video and its thumb, any body with a media_id) to a store, and publishes
// one record per reference, exactly once, to the media topic.
package media

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Ref is one media reference of a message.
type Ref struct {
	Role     string // media, thumb, or the key of the object holding media_id
	MediaID  string
	Size     *int64
	CRC      *int64
	Hash     *string
	Format   *string
	FileName *string
}

// Refs lists the media references of a msg_body, in a stable order: the
// body's own media_id (role media), then objects under its keys (video:
// media, thumb: thumb, any other: the key).
func Refs(body string) []Ref {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &obj) != nil {
		return nil
	}
	var out []Ref
	if r, ok := refOf(obj, "media"); ok {
		out = append(out, r)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var inner map[string]json.RawMessage
		if json.Unmarshal(obj[k], &inner) != nil {
			continue
		}
		role := k
		if k == "video" {
			role = "media"
		}
		if r, ok := refOf(inner, role); ok && !slices.ContainsFunc(out, func(x Ref) bool { return x.Role == role }) {
			out = append(out, r)
		}
	}
	return out
}

func refOf(obj map[string]json.RawMessage, role string) (Ref, bool) {
	var id string
	if json.Unmarshal(obj["media_id"], &id) != nil || id == "" {
		return Ref{}, false
	}
	return Ref{Role: role, MediaID: id, Size: num(obj["fsize"]), CRC: num(obj["media_crc32"]),
		Hash: str(obj["hash"]), Format: str(obj["format"]), FileName: str(obj["fname"])}, true
}

// num reads an integer sent as a number or a string, as the schema reads
// it for the messages topic: padded, or an integral float (1024.0).
func num(raw json.RawMessage) *int64 {
	if raw == nil {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(strings.TrimSpace(s))
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(raw), 64)
		if ferr != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
			return nil
		}
		n = int64(f)
	}
	return &n
}

// str reads a string; null is no string.
func str(raw json.RawMessage) *string {
	var s *string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return s
}
