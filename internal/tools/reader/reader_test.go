package reader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
)

type fakeSource []sink.Message

func (f fakeSource) Consume(_ context.Context, _ sink.ConsumeOptions, fn func(sink.Message) error) error {
	for _, m := range f {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// TestPrint: one JSON line per record, decoded values as plain JSON, values
// that do not decode reported with their bytes (text as "raw", binary as
// "raw_base64") without stopping, HTML characters left as they are.
func TestPrint(t *testing.T) {
	codec, err := schema.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	native := map[string]any{
		"msgid": int64(7), "msg_ctime": time.UnixMilli(1700000000123), "create_time": time.UnixMilli(1700000000000),
		"msg_type": "text", "msg_level": int32(0), "version": int32(1), "target_type": "single", "target_id": "b",
		"target_name": "B", "from_type": "user", "from_id": "a", "from_name": "A", "from_platform": "web",
		"conversation_id": "a:b", "text": map[string]any{"string": "<hi> & bye"}, "msg_body": `{"text":"<hi> & bye"}`,
		"source": map[string]any{"app_key": "k", "endpoint": "/v2/messages", "api_version": "v2", "fetched_at": time.UnixMilli(1700000001000)},
	}
	value, err := codec.Encode(native)
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1700000000123)
	src := fakeSource{
		{Partition: 1, Offset: 5, Key: []byte("a:b"), Value: value, Headers: map[string]string{"msgid": "7"}, Time: at},
		{Partition: 1, Offset: 6, Key: []byte("x"), Value: []byte(`{"msgid":8}`), Time: at},
		{Partition: 2, Offset: 0, Value: []byte{0xff, 0xfe, 0x00}, Time: at},
	}
	var out bytes.Buffer
	st, err := Print(context.Background(), src, schema.NewDecoder(codec, nil), sink.ConsumeOptions{}, &out)
	if err != nil || st.Records != 3 || st.Undecoded != 2 {
		t.Fatalf("Print: %+v, %v", st, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	var first struct {
		Partition int
		Offset    int64
		Timestamp string
		Key       string
		Framing   string
		Value     map[string]any
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Partition != 1 || first.Offset != 5 || first.Timestamp != "2023-11-14T22:13:20.123Z" || first.Key != "a:b" ||
		first.Framing != "single-object" || first.Value["text"] != "<hi> & bye" || first.Value["msgid"] != 7.0 {
		t.Errorf("first line: %s", lines[0])
	}
	if !strings.Contains(lines[0], `"<hi> & bye"`) {
		t.Errorf("HTML escaped: %s", lines[0])
	}
	if !strings.Contains(lines[1], `"framing":"unframed"`) || !strings.Contains(lines[1], `"raw":"{\"msgid\":8}"`) || !strings.Contains(lines[1], `"error":"schema: decode: value is neither`) {
		t.Errorf("text value: %s", lines[1])
	}
	if !strings.Contains(lines[2], `"raw_base64":"//4A"`) || strings.Contains(lines[2], `"raw":`) {
		t.Errorf("binary value: %s", lines[2])
	}

	// A writer that fails stops it.
	if _, err := Print(context.Background(), src, schema.NewDecoder(codec, nil), sink.ConsumeOptions{}, failingWriter{}); err == nil {
		t.Error("a failing writer did not stop Print")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
