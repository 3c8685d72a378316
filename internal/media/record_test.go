package media

import (
	"maps"
	"reflect"
	"testing"

	"github.com/imreport/imreport/schema"
)

// TestRecord pins the io.imreport.MediaItem record of an archived and of a
// missing reference, through the schema's codec: what the message declared
// (a CRC-32 out of range as not declared), the outcome's fields (size,
// checks and uri only when something was stored), and the source position.
func TestRecord(t *testing.T) {
	codec, err := schema.NewMediaCodec()
	if err != nil {
		t.Fatal(err)
	}
	item := Item{Ref: Ref{Role: "thumb", MediaID: "qiniu/image/j/T.jpg", Size: ptr[int64](20480), CRC: ptr[int64](987654321), Format: ptr("jpg")},
		MsgID: 1446016259000006, AppKey: "k", MsgType: "video", Topic: "imreport.messages", Partition: 3, Offset: 77}
	declared := map[string]any{"fsize": map[string]any{"long": int64(20480)}, "media_crc32": map[string]any{"long": int64(987654321)},
		"hash": nil, "format": map[string]any{"string": "jpg"}, "fname": nil}
	source := map[string]any{"msgid": int64(1446016259000006), "app_key": "k", "msg_type": "video", "role": "thumb", "media_id": "qiniu/image/j/T.jpg",
		"fetched_at": testNow, "source_topic": "imreport.messages", "source_partition": int32(3), "source_offset": int64(77)}
	with := func(m map[string]any) map[string]any { return merge(source, m) }
	badCRC := item
	badCRC.CRC = ptr[int64](1 << 32)
	for _, c := range []struct {
		name string
		res  Result
		want map[string]any
	}{
		{"archived", Result{Item: item, Status: StatusArchived, URI: "file:///a/k/sha256/ab/abcd", SHA256: "abcd", Size: 20480, ContentType: "image/jpeg",
			SizeOK: ptr(true), CRC: "ieee", Attempts: 2, FetchedAt: testNow},
			with(map[string]any{"declared": declared, "status": "archived", "reason": nil, "uri": map[string]any{"string": "file:///a/k/sha256/ab/abcd"},
				"sha256": map[string]any{"string": "abcd"}, "size": map[string]any{"long": int64(20480)}, "content_type": map[string]any{"string": "image/jpeg"},
				"checks": map[string]any{"size": map[string]any{"boolean": true}, "crc32": map[string]any{"string": "ieee"}, "hash": nil}, "attempts": int32(2)})},
		{"missing", Result{Item: item, Status: StatusMissing, Reason: "gone", Attempts: 1, FetchedAt: testNow},
			with(map[string]any{"declared": declared, "status": "missing_at_source", "reason": map[string]any{"string": "gone"}, "uri": nil,
				"sha256": nil, "size": nil, "content_type": nil, "checks": map[string]any{"size": nil, "crc32": nil, "hash": nil}, "attempts": int32(1)})},
		{"crc out of range", Result{Item: badCRC, Status: StatusFailed, Reason: "x", Attempts: 5, FetchedAt: testNow},
			with(map[string]any{"declared": merge(declared, map[string]any{"media_crc32": nil}), "status": "failed", "reason": map[string]any{"string": "x"}, "uri": nil,
				"sha256": nil, "size": nil, "content_type": nil, "checks": map[string]any{"size": nil, "crc32": nil, "hash": nil}, "attempts": int32(5)})},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := codec.Encode(c.res.Native())
			if err != nil {
				t.Fatal(err)
			}
			got, err := codec.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if ts, ok := got["fetched_at"].(interface{ UnixMilli() int64 }); ok && ts.UnixMilli() == testNow.UnixMilli() {
				got["fetched_at"] = testNow
			}
			for k := range c.want {
				if !reflect.DeepEqual(got[k], c.want[k]) {
					t.Errorf("%s: %#v, want %#v", k, got[k], c.want[k])
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("%d fields, want %d", len(got), len(c.want))
			}
		})
	}
}

// merge is a with b's fields over it.
func merge(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
