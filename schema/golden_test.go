package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/source"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testSource is the fixed provenance used by the golden files.
var testSource = Source{
	AppKey:     "4f7aef34fb361292c566a1cd",
	Endpoint:   "https://report.im.jpush.cn/v2/messages",
	APIVersion: "v2",
	FetchedAt:  time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
}

func testCodec(tb testing.TB) *Codec {
	tb.Helper()
	c, err := NewCodec()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// inputs returns the vendor message files in testdata, by name without .json.
func inputs(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = bytes.TrimSpace(b)
	}
	if len(out) == 0 {
		tb.Fatal("no testdata inputs")
	}
	return out
}

// vendorNative decodes vendor JSON and transforms it: vendor JSON → Message →
// native.
func vendorNative(tb testing.TB, raw []byte) map[string]any {
	tb.Helper()
	m, err := source.DecodeMessage(raw)
	if err != nil {
		tb.Fatalf("DecodeMessage: %v", err)
	}
	native, err := Native(m, testSource)
	if err != nil {
		tb.Fatalf("Native: %v", err)
	}
	return native
}

// encodeVendor runs the whole path: vendor JSON → Message → native → Avro.
func encodeVendor(tb testing.TB, c *Codec, raw []byte) []byte {
	tb.Helper()
	b, err := c.Encode(vendorNative(tb, raw))
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	return b
}

// renderJSON renders a decoded record as JSON: keys sorted, time.Time as
// RFC 3339 with milliseconds, unions as goavro's {"branch": value}.
func renderJSON(v map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(jsonable(v)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonable(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonable(x)
		}
		return out
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	default:
		return v
	}
}

func TestGolden(t *testing.T) {
	c := testCodec(t)
	for name, raw := range inputs(t) {
		t.Run(name, func(t *testing.T) {
			got := encodeVendor(t, c, raw)
			decoded, err := c.Decode(got)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			gotJSON, err := renderJSON(decoded)
			if err != nil {
				t.Fatal(err)
			}
			avroPath := filepath.Join("testdata", name+".avro")
			jsonPath := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(avroPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(jsonPath, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(avroPath)
			if err != nil {
				t.Fatalf("%v (run go test ./schema -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Avro bytes differ from %s\n got %x\nwant %x", avroPath, got, want)
			}
			wantJSON, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatalf("%v (run go test ./schema -update to create it)", err)
			}
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("decoded record differs from %s\n got %s\nwant %s", jsonPath, gotJSON, wantJSON)
			}
			// The golden bytes decode to the golden JSON too (not only our fresh encoding).
			d2, err := c.Decode(want)
			if err != nil {
				t.Fatalf("Decode golden: %v", err)
			}
			if j2, _ := renderJSON(d2); !bytes.Equal(j2, wantJSON) {
				t.Errorf("%s decodes to\n%s", avroPath, j2)
			}
			// msg_body is the vendor's bytes exactly.
			m, _ := source.DecodeMessage(raw)
			if decoded["msg_body"] != string(m.Body) {
				t.Errorf("msg_body = %q, want %q", decoded["msg_body"], m.Body)
			}
		})
	}
}

// TestGoldenFilesHaveInputs catches golden files left behind by a renamed input.
func TestGoldenFilesHaveInputs(t *testing.T) {
	in := inputs(t)
	for _, pat := range []string{"*.avro", "*.golden.json"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", pat))
		for _, p := range paths {
			name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".avro"), ".golden.json")
			if _, ok := in[name]; !ok {
				t.Errorf("%s has no input %s.json", p, name)
			}
		}
	}
}

// TestGoldenSemantics checks by hand what the golden files are meant to show, so
// that a regenerated golden file cannot silently bless a regression.
func TestGoldenSemantics(t *testing.T) {
	c := testCodec(t)
	in := inputs(t)
	dec := func(name string) map[string]any {
		t.Helper()
		raw, ok := in[name]
		if !ok {
			t.Fatalf("no testdata/%s.json", name)
		}
		d, err := c.Decode(encodeVendor(t, c, raw))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	str := func(v any) any {
		if u, ok := v.(map[string]any); ok {
			return u["string"]
		}
		return v
	}
	check := func(name, what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %s = %v, want %v", name, what, got, want)
		}
	}

	d := dec("text_chinese_emoji")
	check("text", "text", str(d["text"]), "你好，世界 👋🏽 你好 \"quoted\" <b>&amp;</b>")
	ex := d["extras"].(map[string]any)["map"].(map[string]any)
	for k, want := range map[string]string{
		"source": "app", "price": "1.50", "count": "3", "big": "12345678901234567890",
		"vip": "true", "ref": "null", "meta": `{"tags":["a","b"],"n":1e3}`, "empty": "", "表情": "😀",
	} {
		check("text", "extras."+k, ex[k], want)
	}
	check("text", "create_time", d["create_time"].(time.Time).UnixMilli(), int64(1446016259000))
	check("text", "msg_ctime", d["msg_ctime"].(time.Time).UnixMilli(), int64(1446016259125))
	check("text", "fetched_at", d["source"].(map[string]any)["fetched_at"].(time.Time).UnixMilli(),
		testSource.FetchedAt.UnixMilli())
	check("text", "conversation_id", d["conversation_id"], "hanmeimei:lilei")

	a, b := dec("single_a_to_b"), dec("single_b_to_a")
	check("single", "conversation_id a→b", a["conversation_id"], "adam:zoe")
	check("single", "conversation_id b→a", b["conversation_id"], "adam:zoe")

	img := dec("image_hash")["media"].(map[string]any)[mediaName].(map[string]any)
	check("image", "media_crc32", img["media_crc32"], map[string]any{"long": int64(3411209087)})
	check("image", "hash", str(img["hash"]), "Fp1Bq6CkN0vM8H3jD2yXzWqA9kLs")
	check("image", "duration", img["duration"], nil)
	check("image", "conversation_id", dec("image_hash")["conversation_id"], "10049742")

	ns := dec("numbers_as_strings")
	check("numbers", "msgid", ns["msgid"], int64(1446016259000011))
	nimg := ns["media"].(map[string]any)[mediaName].(map[string]any)
	check("numbers", "width", nimg["width"], map[string]any{"int": int32(1024)})
	check("numbers", "height", nimg["height"], map[string]any{"int": int32(768)})
	check("numbers", "fsize", nimg["fsize"], map[string]any{"long": int64(1024)})
	check("numbers", "hash", nimg["hash"], nil)

	loc := dec("location_lable")["location"].(map[string]any)[locationName].(map[string]any)
	check("location", "label", str(loc["label"]), "广东省深圳市南山区科技园")
	check("location", "latitude", loc["latitude"], 22.54605355)
	loc2 := dec("location_label")["location"].(map[string]any)[locationName].(map[string]any)
	check("location", "label preferred over lable", str(loc2["label"]), "北京市东城区")
	check("location", "latitude from string", loc2["latitude"], 39.9042)

	vid := dec("video_thumb")["media"].(map[string]any)[mediaName].(map[string]any)
	check("video", "duration", vid["duration"], map[string]any{"int": int32(15)})
	check("video", "fname", str(vid["fname"]), "hike.mp4")
	check("video", "width (thumb's not taken)", vid["width"], nil)

	v := dec("voice")
	check("voice", "target_appkey empty string", v["target_appkey"], map[string]any{"string": ""})
	check("voice", "duration", v["media"].(map[string]any)[mediaName].(map[string]any)["duration"],
		map[string]any{"int": int32(7)})
	x := dec("cross_app")
	check("cross", "from_appkey", str(x["from_appkey"]), "4f7aef34fb361292c566a1cd")
	check("cross", "target_appkey", str(x["target_appkey"]), "9a8b7c6d5e4f3a2b1c0d9e8f")
	check("cross", "msg_level", x["msg_level"], int32(1))
	check("cross", "empty extras", x["extras"], map[string]any{"map": map[string]any{}})
	check("image", "target_appkey absent", dec("image_hash")["target_appkey"], nil)

	e := dec("event_unknown")
	check("event", "text", e["text"], nil)
	check("event", "media", e["media"], nil)
	check("event", "msg_type", e["msg_type"], "event")
	check("no body", "msg_body", dec("no_body_prompt")["msg_body"], "")
	nb := dec("body_not_object")
	check("body not object", "msg_body", nb["msg_body"], `[ "odd",  1 ]`)
	check("body not object", "text", nb["text"], nil)
}

// TestGoldenSortedKeys guards the golden JSON format: keys sorted at every level.
func TestGoldenSortedKeys(t *testing.T) {
	out, err := renderJSON(map[string]any{"b": 1, "a": map[string]any{"d": 1, "c": 2}})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": {\n    \"c\": 2,\n    \"d\": 1\n  },\n  \"b\": 1\n}\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}
