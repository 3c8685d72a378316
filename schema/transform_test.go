package schema

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/imreport/imreport/source"
)

// message builds a vendor message JSON with the given msg_type and msg_body.
func message(msgType, body string) []byte {
	s := `{"msgid":42,"msg_type":"` + msgType + `","msg_level":0,"version":1,"target_type":"single",` +
		`"target_id":"lilei","target_name":"李雷","from_type":"user","from_id":"hanmeimei","from_name":"韩梅梅",` +
		`"from_platform":"a","create_time":1446016259,"msg_ctime":1446016259125`
	if body != "" {
		s += `,"msg_body":` + body
	}
	return []byte(s + "}")
}

func decodeOK(tb testing.TB, raw []byte) source.Message {
	tb.Helper()
	m, err := source.DecodeMessage(raw)
	if err != nil {
		tb.Fatalf("DecodeMessage(%s): %v", raw, err)
	}
	return m
}

func sampleMessage(tb testing.TB) source.Message {
	return decodeOK(tb, message("text", `{"text":"你好 👋","extras":{"a":"b","n":1.50,"o":{"x": [1, 2]}}}`))
}

// sampleNative is sampleMessage as the native value a Codec encodes.
func sampleNative(tb testing.TB) map[string]any {
	tb.Helper()
	native, err := Native(sampleMessage(tb), testSource)
	if err != nil {
		tb.Fatal(err)
	}
	return native
}

// sampleEncoded is sampleMessage encoded by c.
func sampleEncoded(tb testing.TB, c *Codec) []byte {
	tb.Helper()
	b, err := c.Encode(sampleNative(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestTransformErrors(t *testing.T) {
	for _, tc := range []struct {
		msgType, body, field string
	}{
		{"image", `{"width":"abc"}`, "media.width"},
		{"image", `{"width":1.5}`, "media.width"},
		{"image", `{"width":"1.5"}`, "media.width"},
		{"image", `{"width":3000000000}`, "media.width"},
		{"image", `{"height":true}`, "media.height"},
		{"image", `{"height":[480]}`, "media.height"},
		{"image", `{"fsize":{}}`, "media.fsize"},
		{"image", `{"fsize":"0x10"}`, "media.fsize"},
		{"image", `{"fsize":"+10"}`, "media.fsize"},
		{"image", `{"fsize":"1e400"}`, "media.fsize"},
		{"image", `{"fsize":99999999999999999999}`, "media.fsize"},
		{"image", `{"fsize":9.3e18}`, "media.fsize"},
		{"image", `{"media_crc32":"NaN"}`, "media.media_crc32"},
		{"image", `{"media_id":["x"]}`, "media.media_id"},
		{"image", `{"hash":{"md5":"x"}}`, "media.hash"},
		{"image", `{"format":{}}`, "media.format"},
		{"voice", `{"duration":"seven"}`, "media.duration"},
		{"file", `{"fname":{"zh":"x"}}`, "media.fname"},
		{"video", `{"video":"qiniu/video/x"}`, "media"},
		{"video", `{"video":[1]}`, "media"},
		{"video", `{"video":{"fsize":"1.2"}}`, "media.fsize"},
		{"video", `{"video":{},"duration":"x"}`, "media.duration"},
		{"video", `{"video":{"duration":-1e10}}`, "media.duration"},
		{"location", `{"longitude":114.0}`, "location.latitude"},
		{"location", `{"latitude":null,"longitude":114.0}`, "location.latitude"},
		{"location", `{"latitude":"","longitude":114.0}`, "location.latitude"},
		{"location", `{"latitude":22.5}`, "location.longitude"},
		{"location", `{"latitude":22.5,"longitude":"east"}`, "location.longitude"},
		{"location", `{"latitude":"Infinity","longitude":1}`, "location.latitude"},
		{"location", `{"latitude":1e999,"longitude":1}`, "location.latitude"},
		{"location", `{"latitude":22.5,"longitude":114,"scale":1.5}`, "location.scale"},
		{"location", `{"latitude":22.5,"longitude":114,"label":{}}`, "location.label"},
		{"location", `{"latitude":22.5,"longitude":114,"lable":[]}`, "location.label"},
		{"text", "{\"text\":\"\xff\xfe\"}", "msg_body"},
		{"custom", `{"a":"ok","b":"` + "\xc3\x28" + `"}`, "msg_body"},
	} {
		name := tc.msgType + " " + tc.body
		m, err := source.DecodeMessage(message(tc.msgType, tc.body))
		if err != nil {
			t.Errorf("%s: DecodeMessage: %v", name, err)
			continue
		}
		native, err := Native(m, testSource)
		var te *TransformError
		if !errors.As(err, &te) {
			t.Errorf("%s: got %v, %v; want a *TransformError", name, native, err)
			continue
		}
		if te.Field != tc.field || te.MsgID != 42 || te.Reason == "" {
			t.Errorf("%s: got %+v, want field %s", name, te, tc.field)
		}
		if !strings.HasPrefix(err.Error(), "transform message 42: field "+tc.field+": ") {
			t.Errorf("%s: message %q", name, err)
		}
	}
}

func TestTransformErrorMessage(t *testing.T) {
	err := error(&TransformError{MsgID: 123, Field: "media.width", Reason: "not an integer"})
	if got := err.Error(); got != "transform message 123: field media.width: not an integer" {
		t.Errorf("got %q", got)
	}
	m := decodeOK(t, message("image", `{"width":"abc"}`))
	if _, err := Native(m, testSource); err == nil || err.Error() != "transform message 42: field media.width: not an integer" {
		t.Errorf("got %v", err)
	}
}

// TestTransformErrorsOutsideBody covers values that source.DecodeMessage lets
// through (or that a caller may construct) but that cannot be encoded.
func TestTransformErrorsOutsideBody(t *testing.T) {
	bad := "\xff"
	base := sampleMessage(t)
	for field, mut := range map[string]func(*source.Message, *Source){
		"create_time":        func(m *source.Message, _ *Source) { m.CreateTime = 1 << 60 },
		"from_id":            func(m *source.Message, _ *Source) { m.FromID = bad },
		"target_name":        func(m *source.Message, _ *Source) { m.TargetName = bad },
		"msg_type":           func(m *source.Message, _ *Source) { m.MsgType = bad },
		"target_appkey":      func(m *source.Message, _ *Source) { m.TargetAppKey = &bad },
		"from_appkey":        func(m *source.Message, _ *Source) { m.FromAppKey = &bad },
		"source.app_key":     func(_ *source.Message, s *Source) { s.AppKey = bad },
		"source.endpoint":    func(_ *source.Message, s *Source) { s.Endpoint = bad },
		"source.api_version": func(_ *source.Message, s *Source) { s.APIVersion = bad },
		"msg_body":           func(m *source.Message, _ *Source) { m.Body = []byte(`{"text":`) },
	} {
		m, s := base, testSource
		mut(&m, &s)
		_, err := Native(m, s)
		var te *TransformError
		if !errors.As(err, &te) || te.Field != field {
			t.Errorf("%s: got %v", field, err)
		}
	}
	// create_time at the edge of the range still works.
	m := base
	m.CreateTime = (1<<63 - 1) / 1000
	if _, err := Native(m, testSource); err != nil {
		t.Errorf("max create_time: %v", err)
	}
	// A body that is not valid JSON at all, even when not an object.
	m.Body = []byte(`"unterminated`)
	if _, err := Native(m, testSource); err == nil {
		t.Error("invalid non-object body accepted")
	}
}

func TestConversationID(t *testing.T) {
	for _, tc := range []struct {
		targetType, from, target, want string
	}{
		{"single", "hanmeimei", "lilei", "hanmeimei:lilei"},
		{"single", "lilei", "hanmeimei", "hanmeimei:lilei"},
		{"single", "a", "a", "a:a"},
		{"single", "B", "a", "B:a"}, // bytewise: upper case first
		{"group", "lilei", "10049742", "10049742"},
		{"chatroom", "lilei", "12500091", "12500091"},
		{"broadcast", "admin", "x", "x"},
		{"", "u", "t", "t"},
	} {
		m := source.Message{TargetType: tc.targetType, FromID: tc.from, TargetID: tc.target}
		if got := ConversationID(m); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc, got, tc.want)
		}
	}
}

func TestNativeValues(t *testing.T) {
	str := func(s string) any { return map[string]any{"string": s} }
	for _, tc := range []struct {
		name, msgType, body string
		field               string
		want                any
	}{
		{"text", "text", `{"text":"hi"}`, "text", str("hi")},
		{"text number", "text", `{"text":5}`, "text", nil},
		{"text on image", "image", `{"text":"hi"}`, "text", nil},
		{"text null", "text", `{"text":null}`, "text", nil},
		{"extras absent", "text", `{"text":"hi"}`, "extras", nil},
		{"extras string", "text", `{"extras":"x"}`, "extras", nil},
		{"extras array", "text", `{"extras":[1]}`, "extras", nil},
		{"extras null", "text", `{"extras":null}`, "extras", nil},
		{"extras values", "custom", `{"extras":{"s":"1.50","n":1.50,"neg":-0.0,"e":1E+2,"u":"\u00e9","o":{ "b" : [ true , null ] }}}`, "extras",
			map[string]any{"map": map[string]any{"s": "1.50", "n": "1.50", "neg": "-0.0", "e": "1E+2", "u": "é", "o": `{"b":[true,null]}`}}},
		{"extras html kept", "text", `{"extras":{"h":{"a":"<&>"}}}`, "extras",
			map[string]any{"map": map[string]any{"h": `{"a":"<&>"}`}}},
		{"media on text", "text", `{"width":1}`, "media", nil},
		{"media on event", "event", `{"media_id":"x"}`, "media", nil},
		{"media body not object", "image", `"x"`, "media", nil},
		{"location on text", "text", `{"latitude":1,"longitude":2}`, "location", nil},
		{"location body not object", "location", `[1,2]`, "location", nil},
		{"msg_body as received", "custom", `{ "a" : 1.50 ,"b":"\u4f60"}`, "msg_body", `{ "a" : 1.50 ,"b":"\u4f60"}`},
		{"msg_body absent", "custom", ``, "msg_body", ""},
		{"msg_body null", "custom", `null`, "msg_body", "null"},
		{"create_time ms", "text", `{}`, "create_time", int64(1446016259000)},
		{"msg_ctime", "text", `{}`, "msg_ctime", int64(1446016259125)},
		{"appkey absent", "text", `{}`, "target_appkey", nil},
	} {
		m := decodeOK(t, message(tc.msgType, tc.body))
		native, err := Native(m, testSource)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := native[tc.field]; fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tc.want) {
			t.Errorf("%s: %s = %#v, want %#v", tc.name, tc.field, got, tc.want)
		}
	}
}

func TestNativeMedia(t *testing.T) {
	media := func(msgType, body string) map[string]any {
		t.Helper()
		native, err := Native(decodeOK(t, message(msgType, body)), testSource)
		if err != nil {
			t.Fatal(err)
		}
		u, ok := native["media"].(map[string]any)
		if !ok {
			t.Fatalf("media = %#v", native["media"])
		}
		return u[mediaName].(map[string]any)
	}
	i := func(v int32) any { return map[string]any{"int": v} }
	l := func(v int64) any { return map[string]any{"long": v} }
	s := func(v string) any { return map[string]any{"string": v} }
	for _, tc := range []struct {
		msgType, body, field string
		want                 any
	}{
		{"image", `{"width":"640"}`, "width", i(640)},
		{"image", `{"width":" 640 "}`, "width", i(640)},
		{"image", `{"width":640.0}`, "width", i(640)},
		{"image", `{"width":6.4e2}`, "width", i(640)},
		{"image", `{"width":"6.4e2"}`, "width", i(640)},
		{"image", `{"width":""}`, "width", nil},
		{"image", `{"width":null}`, "width", nil},
		{"image", `{}`, "width", nil},
		{"image", `{"width":-1}`, "width", i(-1)},
		{"image", `{"media_crc32":4294967295}`, "media_crc32", l(4294967295)},
		{"image", `{"fsize":9223372036854775807}`, "fsize", l(9223372036854775807)},
		{"image", `{"fsize":"-9223372036854775808"}`, "fsize", l(-9223372036854775808)},
		{"image", `{"media_id":12345}`, "media_id", s("12345")},
		{"image", `{"format":"png"}`, "format", s("png")},
		{"voice", `{"duration":7}`, "duration", i(7)},
		{"file", `{"fname":"a.pdf"}`, "fname", s("a.pdf")},
		{"video", `{"video":{"media_id":"v"},"duration":3}`, "media_id", s("v")},
		{"video", `{"video":{"media_id":"v"},"duration":3}`, "duration", i(3)},
		{"video", `{"video":{"duration":4}}`, "duration", i(4)},
		{"video", `{"video":{"duration":4},"duration":5}`, "duration", i(5)},
		{"video", `{"duration":5}`, "duration", i(5)},
		{"video", `{"video":null}`, "media_id", nil},
		{"video", `{"thumb":{"width":1},"video":{}}`, "width", nil},
	} {
		if got := media(tc.msgType, tc.body)[tc.field]; fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tc.want) {
			t.Errorf("%s %s: %s = %#v, want %#v", tc.msgType, tc.body, tc.field, got, tc.want)
		}
	}
}

func TestNativeLocation(t *testing.T) {
	native, err := Native(decodeOK(t, message("location", `{"latitude":"-33.8688","longitude":151.2093,"scale":null,"label":null,"lable":"Sydney"}`)), testSource)
	if err != nil {
		t.Fatal(err)
	}
	loc := native["location"].(map[string]any)[locationName].(map[string]any)
	want := map[string]any{"latitude": -33.8688, "longitude": 151.2093, "scale": nil, "label": map[string]any{"string": "Sydney"}}
	if fmt.Sprintf("%v", loc) != fmt.Sprintf("%v", want) {
		t.Errorf("got %v, want %v", loc, want)
	}
}

// FuzzNative: any bytes the vendor decoder accepts either fail Native with a
// *TransformError or encode to bytes that decode back to the same msgid and
// msg_body; nothing panics.
func FuzzNative(f *testing.F) {
	for _, raw := range inputs(f) {
		f.Add(raw)
	}
	f.Add(message("location", `{"latitude":"1","longitude":2,"lable":"x"}`))
	f.Add(message("video", `{"video":{"fsize":"12"},"duration":"3"}`))
	f.Add(message("text", "{\"text\":\"\xff\"}"))
	c := testCodec(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := source.DecodeMessage(raw)
		if err != nil {
			return
		}
		native, err := Native(m, testSource)
		if err != nil {
			var te *TransformError
			if !errors.As(err, &te) {
				t.Fatalf("Native error %T %v is not a *TransformError", err, err)
			}
			return
		}
		b, err := c.Encode(native)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		d, err := c.Decode(b)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if d["msgid"] != m.MsgID {
			t.Fatalf("msgid %v, want %d", d["msgid"], m.MsgID)
		}
		if d["msg_body"] != string(m.Body) {
			t.Fatalf("msg_body %q, want %q", d["msg_body"], m.Body)
		}
		if !utf8.ValidString(d["msg_body"].(string)) {
			t.Fatal("msg_body not UTF-8")
		}
		if again, err := c.Encode(d); err != nil || string(again) != string(b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

func BenchmarkNative(b *testing.B) {
	m := sampleMessage(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Native(m, testSource); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	c := testCodec(b)
	native := sampleNative(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(native); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	c := testCodec(b)
	enc := sampleEncoded(b, c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeNativeEncode is the whole path from vendor JSON bytes to Avro
// bytes, over every testdata input.
func BenchmarkDecodeNativeEncode(b *testing.B) {
	c := testCodec(b)
	var raws [][]byte
	var n int64
	for _, raw := range inputs(b) {
		raws = append(raws, raw)
		n += int64(len(raw))
	}
	b.SetBytes(n / int64(len(raws)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		raw := raws[i%len(raws)]
		i++
		m, err := source.DecodeMessage(raw)
		if err != nil {
			b.Fatal(err)
		}
		native, err := Native(m, testSource)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Encode(native); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecode: Decode never panics on arbitrary bytes, and whatever it accepts
// re-encodes to a value that decodes to the same record.
func FuzzDecode(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.avro"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	c := testCodec(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := c.Decode(b)
		if err != nil {
			return
		}
		again, err := c.Encode(d)
		if err != nil {
			t.Fatalf("Encode of a decoded record: %v", err)
		}
		d2, err := c.Decode(again)
		if err != nil {
			t.Fatalf("Decode of a re-encoded record: %v", err)
		}
		j1, _ := renderJSON(d)
		j2, _ := renderJSON(d2)
		if string(j1) != string(j2) {
			t.Fatalf("round trip changed the record\n%s\n%s", j1, j2)
		}
	})
}
