package media

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
)

// decoderFunc decodes a value as the function says.
type decoderFunc func(b []byte) (schema.Decoded, error)

func (f decoderFunc) Decode(_ context.Context, b []byte) (schema.Decoded, error) { return f(b) }

// TestItems pins the items of a message record: one per reference of its
// msg_body, with the record's msgid, msg_type, source.app_key (else the
// configured one) and position; none for a record without media or that
// does not decode.
func TestItems(t *testing.T) {
	records := map[string]map[string]any{
		"video": {"msgid": int64(7), "msg_type": "video", "source": map[string]any{"app_key": "other"},
			"msg_body": `{"video":{"media_id":"V"},"thumb":{"media_id":"T"}}`},
		"no source": {"msgid": int64(8), "msg_type": "image", "msg_body": `{"media_id":"I"}`},
		"text":      {"msgid": int64(9), "msg_type": "text", "msg_body": `{"text":"media"}`},
	}
	c := &Consumer{cfg: Config{Kafka: sink.Config{Topic: "imreport.messages", AppKey: "mine"}, Logger: slog.New(slog.DiscardHandler),
		Decoder: decoderFunc(func(b []byte) (schema.Decoded, error) {
			rec, ok := records[string(b)]
			if !ok {
				return schema.Decoded{}, errors.New("undecodable")
			}
			return schema.Decoded{Record: rec}, nil
		})}}
	at := func(ref Ref, msgid int64, appKey, msgType string) Item {
		return Item{Ref: ref, MsgID: msgid, AppKey: appKey, MsgType: msgType, Topic: "imreport.messages", Partition: 2, Offset: 40}
	}
	for _, tc := range []struct {
		value string
		want  []Item
	}{
		{"video", []Item{at(Ref{Role: "thumb", MediaID: "T"}, 7, "other", "video"), at(Ref{Role: "media", MediaID: "V"}, 7, "other", "video")}},
		{"no source", []Item{at(Ref{Role: "media", MediaID: "I"}, 8, "mine", "image")}},
		{"text", nil},
		{"garbage", nil},
	} {
		got := c.items(context.Background(), sink.Message{Partition: 2, Offset: 40, Value: []byte(tc.value)})
		if len(got) != len(tc.want) || len(got) > 0 && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: items %+v, want %+v", tc.value, got, tc.want)
		}
	}
}

// TestMarks pins the commit metadata's media topic marks: what formatMarks
// writes parseMarks reads back; anything else reads as no marks (read the
// media topic back from its start).
func TestMarks(t *testing.T) {
	for _, m := range []map[int]int64{{0: 0}, {0: 12, 1: 0, 7: 1 << 40}} {
		if got := parseMarks(formatMarks(m)); !reflect.DeepEqual(got, m) {
			t.Errorf("%v: read back %v", m, got)
		}
	}
	for _, s := range []string{"", "0=1", "m2 0=1", "m1 0=x", "m1 x=1", "m1 0=1,", "m1 0"} {
		if got := parseMarks(s); got != nil {
			t.Errorf("parseMarks(%q) = %v, want nil", s, got)
		}
	}
}
