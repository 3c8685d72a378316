package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
)

// vendorExample is the vendor's documented /v1/users example message, with
// the comments removed.
const vendorExample = `{ "target_type": "single",
          "msg_type": "text",
          "target_name": "",
          "target_id": "10010648",
          "from_id": "868802000386631",
          "from_name": "868802000386631",
          "from_type": "user",
          "from_platform": "a",
          "from_appkey": "4f7aef34fb361292c566a1cd",
          "target_appkey": "4f7aef34fb361292c566a1cd",
          "msg_body": {
                 "text": "text",
                 "extras": { }
          },
          "create_time": 1446016259,
          "version": 1 ,
          "msgid": 13242735,
          "msg_level" : 0,
          "msg_ctime" : 1466866468352
        }`

// benchMessage is a realistic ~420-byte message: a group text with extras.
const benchMessage = `{"target_type":"group","msg_type":"text","target_name":"产品组","target_id":"22761403","from_id":"user0042","from_name":"张伟 \ud83d\ude00","from_type":"user","from_platform":"i","from_appkey":"4f7aef34fb361292c566a1cd","target_appkey":"","msg_body":{"text":"明天10点开会,请准时参加。","extras":{"at":["user0007"]}},"create_time":1718236800,"version":1,"msgid":59324718276,"msg_level":0,"msg_ctime":1718236800512}`

func TestBenchMessageSize(t *testing.T) {
	if n := len(benchMessage); n < 380 || n > 460 {
		t.Errorf("benchMessage is %d bytes, want about 420", n)
	}
}

func mustDecode(t *testing.T, raw string) Message {
	t.Helper()
	m, err := DecodeMessage([]byte(raw))
	if err != nil {
		t.Fatalf("DecodeMessage(%s): %v", raw, err)
	}
	if !bytes.Equal(m.Raw, []byte(raw)) {
		t.Errorf("Raw = %s, want the input byte for byte", m.Raw)
	}
	return m
}

func ptr(s string) *string { return &s }

func eqPtr(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// sameFields compares every typed field (not Body or Raw).
func sameFields(t *testing.T, got, want Message) {
	t.Helper()
	g, w := got, want
	g.Body, g.Raw, w.Body, w.Raw = nil, nil, nil, nil
	if !eqPtr(g.TargetAppKey, w.TargetAppKey) || !eqPtr(g.FromAppKey, w.FromAppKey) {
		t.Errorf("app keys: target %v from %v, want target %v from %v", show(g.TargetAppKey), show(g.FromAppKey), show(w.TargetAppKey), show(w.FromAppKey))
	}
	g.TargetAppKey, g.FromAppKey, w.TargetAppKey, w.FromAppKey = nil, nil, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("decoded\n %+v\nwant\n %+v", g, w)
	}
}

func show(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return `"` + *p + `"`
}

func TestDecodeVendorExample(t *testing.T) {
	m := mustDecode(t, vendorExample)
	sameFields(t, m, Message{
		MsgID: 13242735, MsgType: "text", MsgLevel: 0, Version: 1,
		TargetType: "single", TargetID: "10010648", TargetName: "", TargetAppKey: ptr("4f7aef34fb361292c566a1cd"),
		FromType: "user", FromID: "868802000386631", FromName: "868802000386631", FromPlatform: "a",
		FromAppKey: ptr("4f7aef34fb361292c566a1cd"), CreateTime: 1446016259, MsgCtime: 1466866468352,
	})
	wantBody := `{
                 "text": "text",
                 "extras": { }
          }`
	if string(m.Body) != wantBody {
		t.Errorf("Body = %q, want the bytes as served %q", m.Body, wantBody)
	}
}

func TestDecodeBodyAndRawByteExact(t *testing.T) {
	// Escapes, key order, spacing and big numbers inside msg_body survive.
	body := `{"text":"\u4f60\u597d \"quoted\" \\ \/ \ud83d\ude00","extras":{"n":12345678901234567890123,"f":1.50,"e":1E+2,"null":null,"nested":{"b":[1, 2 ,3],"a":true}}}`
	raw := `{"msgid":7,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1,"msg_ctime":1000,"msg_body":` + body + `}`
	m := mustDecode(t, raw)
	if string(m.Body) != body {
		t.Errorf("Body = %s\nwant %s", m.Body, body)
	}
	m = mustDecode(t, benchMessage)
	if !strings.Contains(benchMessage, string(m.Body)) || !bytes.HasPrefix(m.Body, []byte(`{"text":"明天10点`)) {
		t.Errorf("Body = %s", m.Body)
	}
	if m.FromName != "张伟 😀" || m.TargetName != "产品组" || m.TargetAppKey == nil || *m.TargetAppKey != "" {
		t.Errorf("decoded %+v", m)
	}
	// Leading and trailing whitespace is part of Raw.
	padded := "\n\t " + raw + " \n"
	if m, err := DecodeMessage([]byte(padded)); err != nil || string(m.Raw) != padded {
		t.Errorf("padded: Raw = %q, err %v", m.Raw, err)
	}
}

func TestDecodeTolerance(t *testing.T) {
	base := Message{MsgID: 42, MsgType: "text", TargetType: "single", TargetID: "bob", FromID: "alice", CreateTime: 1700000000, MsgCtime: 1700000000123}
	with := func(f func(*Message)) Message { m := base; f(&m); return m }
	cases := []struct {
		name string
		raw  string
		want Message
	}{
		{"minimal: required fields only",
			`{"msgid":42,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1700000000,"msg_ctime":1700000000123}`,
			base},
		{"numbers as strings",
			`{"msgid":"42","msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":"1700000000","msg_ctime":"1700000000123","msg_level":"1","version":"1"}`,
			with(func(m *Message) { m.MsgLevel, m.Version = 1, 1 })},
		{"numeric strings with spaces",
			`{"msgid":" 42 ","msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":" 1700000000","msg_ctime":"1700000000123 "}`,
			base},
		{"numbers in exponent form",
			`{"msgid":4.2e1,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1.7e9,"msg_ctime":"1.700000000123E12"}`,
			with(func(m *Message) { m.CreateTime = 1700000000 })},
		{"integral float",
			`{"msgid":42.0,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1700000000.0,"msg_ctime":1700000000123}`,
			base},
		{"strings as numbers and booleans",
			`{"msgid":42,"msg_type":"text","target_type":"single","target_id":10010648,"from_id":868802000386631,"from_name":12.5,"target_name":true,"from_platform":0,"create_time":1700000000,"msg_ctime":1700000000123}`,
			with(func(m *Message) {
				m.TargetID, m.FromID, m.FromName, m.TargetName, m.FromPlatform = "10010648", "868802000386631", "12.5", "true", "0"
			})},
		{"big msgid beyond 2^53",
			`{"msgid":9007199254740993,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1700000000,"msg_ctime":1700000000123}`,
			with(func(m *Message) { m.MsgID = 9007199254740993 })},
		{"largest msgid",
			`{"msgid":"9223372036854775807","msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1700000000,"msg_ctime":1700000000123}`,
			with(func(m *Message) { m.MsgID = math.MaxInt64 })},
		{"unknown fields of every kind",
			`{"set_from_name":"x","msg_ext":{"a":[1,{"b":null}]},"未知字段":1e400,"msgid":42,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1700000000,"msg_ctime":1700000000123,"zzz":[]}`,
			base},
		{"null optional fields",
			`{"msgid":42,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1700000000,"msg_ctime":1700000000123,"target_name":null,"from_name":null,"from_type":null,"from_platform":null,"target_appkey":null,"from_appkey":null,"msg_level":null,"version":null}`,
			base},
		{"empty app keys are kept, distinct from absent",
			`{"msgid":42,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1700000000,"msg_ctime":1700000000123,"target_appkey":"","from_appkey":"k"}`,
			with(func(m *Message) { m.TargetAppKey, m.FromAppKey = ptr(""), ptr("k") })},
		{"cross-app message",
			`{"msgid":42,"msg_type":"text","msg_level":1,"version":1,"target_type":"single","target_id":"bob","target_appkey":"other","from_id":"alice","from_appkey":"mine","from_type":"user","from_platform":"web","create_time":1700000000,"msg_ctime":1700000000123}`,
			with(func(m *Message) {
				m.MsgLevel, m.Version, m.TargetAppKey, m.FromAppKey, m.FromType, m.FromPlatform = 1, 1, ptr("other"), ptr("mine"), "user", "web"
			})},
		{"undocumented msg_type",
			`{"msgid":42,"msg_type":"event","target_type":"chatroom","target_id":"1001","from_id":"admin","from_type":"admin","create_time":1700000000,"msg_ctime":1700000000123}`,
			with(func(m *Message) {
				m.MsgType, m.TargetType, m.TargetID, m.FromID, m.FromType = "event", "chatroom", "1001", "admin", "admin"
			})},
		{"whitespace everywhere",
			" {\n \"msgid\" : 42 ,\t\"msg_type\" : \"text\" , \"target_type\":\"single\",\"target_id\":\"bob\",\"from_id\":\"alice\",\"create_time\" :\n1700000000,\"msg_ctime\":1700000000123 } ",
			base},
		{"duplicate key: the last wins",
			`{"msgid":1,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1700000000,"msg_ctime":1700000000123,"msgid":42}`,
			base},
		{"zero times are allowed",
			`{"msgid":42,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":0,"msg_ctime":"0"}`,
			with(func(m *Message) { m.CreateTime, m.MsgCtime = 0, 0 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustDecode(t, c.raw)
			sameFields(t, m, c.want)
			if m.Body != nil {
				t.Errorf("Body = %s, want nil when msg_body is absent", m.Body)
			}
		})
	}
}

func TestDecodeNullBody(t *testing.T) {
	m := mustDecode(t, `{"msgid":42,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1,"msg_ctime":1,"msg_body":null}`)
	if string(m.Body) != "null" {
		t.Errorf("Body = %q, want the served null", m.Body)
	}
	m = mustDecode(t, `{"msgid":42,"msg_type":"custom","target_type":"single","target_id":"bob","from_id":"alice","create_time":1,"msg_ctime":1,"msg_body":"not an object"}`)
	if string(m.Body) != `"not an object"` {
		t.Errorf("Body = %q", m.Body)
	}
}

func TestDecodeFieldErrors(t *testing.T) {
	const rest = `"target_type":"single","target_id":"bob","from_id":"alice","create_time":1700000000,"msg_ctime":1700000000123`
	valid := map[string]string{
		"msg_type": `"text"`, "target_type": `"single"`, "target_id": `"bob"`, "from_id": `"alice"`,
		"create_time": `1700000000`, "msg_ctime": `1700000000123`,
	}
	order := []string{"msg_type", "target_type", "target_id", "from_id", "create_time", "msg_ctime"}
	build := func(field, value string) string {
		var b strings.Builder
		b.WriteString(`{"msgid":"77"`)
		for _, f := range order {
			v := valid[f]
			if f == field {
				if value == "" {
					continue // missing
				}
				v = value
			}
			b.WriteString(`,"` + f + `":` + v)
		}
		b.WriteString(`}`)
		return b.String()
	}
	type tc struct {
		name, raw, field, reason string
	}
	var cases []tc
	for _, f := range order {
		cases = append(cases,
			tc{f + " missing", build(f, ""), f, "missing"},
			tc{f + " null", build(f, "null"), f, "missing"},
			tc{f + " an object", build(f, `{"a":1}`), f, ""},
			tc{f + " an array", build(f, `[1]`), f, ""},
		)
	}
	for _, f := range []string{"msg_type", "target_type", "target_id", "from_id"} {
		cases = append(cases, tc{f + " empty", build(f, `""`), f, "empty"})
	}
	for _, f := range []string{"create_time", "msg_ctime"} {
		cases = append(cases,
			tc{f + " not a number", build(f, `"yesterday"`), f, ""},
			tc{f + " fractional", build(f, `1.5`), f, ""},
			tc{f + " boolean", build(f, `true`), f, ""},
			tc{f + " negative", build(f, `-1`), f, "negative"},
			tc{f + " beyond int64", build(f, `9223372036854775808`), f, ""},
			tc{f + " far beyond int64", build(f, `1e19`), f, ""},
			tc{f + " below int64", build(f, `"-9223372036854775809"`), f, ""},
			tc{f + " NaN", build(f, `"NaN"`), f, ""},
			tc{f + " Inf", build(f, `"-Inf"`), f, ""},
		)
	}
	cases = append(cases,
		tc{"msg_level out of int32", `{"msgid":77,"msg_level":4294967296,` + `"msg_type":"text",` + rest + `}`, "msg_level", "out of range"},
		tc{"version not a number", `{"msgid":77,"version":"v1",` + `"msg_type":"text",` + rest + `}`, "version", ""},
		tc{"target_name an object", `{"msgid":77,"target_name":{},` + `"msg_type":"text",` + rest + `}`, "target_name", "not a string"},
		tc{"from_appkey an array", `{"msgid":77,"from_appkey":[],` + `"msg_type":"text",` + rest + `}`, "from_appkey", "not a string"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeMessage([]byte(c.raw))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("DecodeMessage(%s) = %v, want a *FieldError", c.raw, err)
			}
			if errors.Is(err, ErrNoMsgID) {
				t.Errorf("a FieldError matches ErrNoMsgID")
			}
			if fe.MsgID != 77 || m.MsgID != 77 {
				t.Errorf("FieldError.MsgID = %d, Message.MsgID = %d, want 77", fe.MsgID, m.MsgID)
			}
			if fe.Field != c.field {
				t.Errorf("FieldError.Field = %q, want %q (%v)", fe.Field, c.field, err)
			}
			if c.reason != "" && fe.Reason != c.reason {
				t.Errorf("FieldError.Reason = %q, want %q", fe.Reason, c.reason)
			}
			if !strings.HasPrefix(err.Error(), "message 77: field "+c.field+": ") {
				t.Errorf("Error() = %q", err.Error())
			}
			if string(m.Raw) != c.raw {
				t.Errorf("partial Message.Raw = %s, want the input", m.Raw)
			}
		})
	}
}

// TestDecodeFieldErrorKeepsTheRest: the partial Message carries every field
// that did decode, and the first problem is the one reported.
func TestDecodeFieldErrorKeepsTheRest(t *testing.T) {
	raw := `{"msgid":5,"msg_type":"image","target_type":"group","target_id":"g1","from_id":"","create_time":"x","msg_ctime":99,"msg_body":{"media_id":"m"}}`
	m, err := DecodeMessage([]byte(raw))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "from_id" {
		t.Fatalf("DecodeMessage = %v, want the first problem (from_id empty)", err)
	}
	if m.MsgType != "image" || m.TargetType != "group" || m.TargetID != "g1" || m.MsgCtime != 99 || string(m.Body) != `{"media_id":"m"}` {
		t.Errorf("partial message %+v", m)
	}
}

func TestDecodeNoMsgID(t *testing.T) {
	const rest = `,"msg_type":"text","target_type":"single","target_id":"bob","from_id":"alice","create_time":1,"msg_ctime":1}`
	for _, raw := range []string{
		``,
		` `,
		`null`,
		`[]`,
		`[{"msgid":1}]`,
		`123`,
		`"msgid"`,
		`true`,
		`{`,
		`{"msgid":1`,
		`{"msgid":1}}`,
		`{"msgid":1} {}`,
		`{}`,
		`{"msg_type":"text"}`,
		`{"msgid":0` + rest,
		`{"msgid":"0"` + rest,
		`{"msgid":-5` + rest,
		`{"msgid":"-5"` + rest,
		`{"msgid":null` + rest,
		`{"msgid":""` + rest,
		`{"msgid":"   "` + rest,
		`{"msgid":"abc"` + rest,
		`{"msgid":1.5` + rest,
		`{"msgid":true` + rest,
		`{"msgid":{}` + rest,
		`{"msgid":[1]` + rest,
		`{"msgid":9223372036854775808` + rest,
		`{"msgid":"9223372036854775808"` + rest,
		`{"msgid":1e19` + rest,
		`{"msgid":"NaN"` + rest,
		`{"msgid":"Inf"` + rest,
		`{"MSGID":5` + rest,
		`{"MsgId":5` + rest,
		`{"msg_id":5` + rest,
		`{"msgid":5,"msgid":null` + rest,
		"{\"msgid\":5,\"bad\":\"\xff\x00\"" + rest, // a control character inside a string
	} {
		m, err := DecodeMessage([]byte(raw))
		if !errors.Is(err, ErrNoMsgID) {
			t.Errorf("DecodeMessage(%q) = %v, want ErrNoMsgID", raw, err)
			continue
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			t.Errorf("DecodeMessage(%q): ErrNoMsgID error is also a FieldError", raw)
		}
		if m.MsgID != 0 || string(m.Raw) != raw {
			t.Errorf("DecodeMessage(%q) = MsgID %d Raw %q, want 0 and the input", raw, m.MsgID, m.Raw)
		}
	}
}

func TestParseInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		null bool
		err  bool
	}{
		{in: `0`, want: 0},
		{in: `-7`, want: -7},
		{in: `"42"`, want: 42},
		{in: `"+42"`, want: 42},
		{in: `4.2e1`, want: 42},
		{in: `9223372036854775807`, want: math.MaxInt64},
		{in: `-9223372036854775808`, want: math.MinInt64},
		{in: `-9.223372036854775808e18`, err: true}, // beyond 2^53: a float there may be a rounded id
		{in: `"18014398509481985.0"`, err: true},
		{in: `9007199254740992.0`, want: 1 << 53},
		{in: `"0x1p4"`, err: true},
		{in: `null`, null: true},
		{in: `""`, null: true},
		{in: `" "`, null: true},
		{in: `9223372036854775808`, err: true},
		{in: `"9223372036854775808"`, err: true},
		{in: `-9223372036854775809`, err: true},
		{in: `9.223372036854775807e18`, err: true}, // rounds to 2^63
		{in: `1e19`, err: true},
		{in: `1.5`, err: true},
		{in: `"NaN"`, err: true},
		{in: `"Inf"`, err: true},
		{in: `"-Inf"`, err: true},
		{in: `true`, err: true},
		{in: `{}`, err: true},
		{in: `"abc`, err: true},
	} {
		got, err := parseInt(json.RawMessage(c.in))
		switch {
		case c.err:
			if err == nil {
				t.Errorf("parseInt(%s) = %v, want an error", c.in, deref(got))
			}
		case c.null:
			if err != nil || got != nil {
				t.Errorf("parseInt(%s) = %v, %v; want nil, nil", c.in, deref(got), err)
			}
		default:
			if err != nil || got == nil || *got != c.want {
				t.Errorf("parseInt(%s) = %v, %v; want %d", c.in, deref(got), err, c.want)
			}
		}
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		vendorExample,
		benchMessage,
		`{"target_type":"single","msg_type":"image","target_id":"bob","from_id":"alice","from_type":"user","from_platform":"web","msg_body":{"media_id":"qiniu/image/j/1A2B","media_crc32":2778919613,"width":720,"height":1280,"format":"jpg","fsize":"204800","hash":"Fp"},"create_time":"1700000000","version":"1","msgid":"9007199254740993","msg_level":"0","msg_ctime":"1700000000123"}`,
		`{"msgid":1,"msg_type":"location","target_type":"chatroom","target_id":10001,"from_id":"robot_news","from_type":"robot","msg_body":{"latitude":39.9,"longitude":116.4,"scale":1,"lable":"北京"},"create_time":1.7e9,"msg_ctime":1700000000000,"target_name":null}`,
		`{"msgid":2,"msg_type":"custom","target_type":"group","target_id":"22761403","from_id":"admin","create_time":1,"msg_ctime":1,"msg_body":{"x":[1,2,{"y":null}]},"未知字段":"\u0000\ud800"}`,
		`{"msgid":3}`,
		`{"msgid":"0"}`,
		`{"msgid":-1,"msg_type":"text"}`,
		`{"msgid":9223372036854775808}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := bytes.Clone(raw)
		m, err := DecodeMessage(raw)
		if !bytes.Equal(raw, in) {
			t.Fatal("DecodeMessage modified its input")
		}
		if !bytes.Equal(m.Raw, in) {
			t.Fatalf("Raw = %q, want the input %q", m.Raw, in)
		}
		var fe *FieldError
		switch {
		case err == nil:
			if m.MsgID <= 0 {
				t.Fatalf("success with MsgID %d", m.MsgID)
			}
			if m.MsgType == "" || m.TargetType == "" || m.TargetID == "" || m.FromID == "" || m.CreateTime < 0 || m.MsgCtime < 0 {
				t.Fatalf("success with a required field unset: %+v", m)
			}
			if m.Body != nil && !json.Valid(m.Body) {
				t.Fatalf("Body %q is not valid JSON", m.Body)
			}
		case errors.As(err, &fe):
			if m.MsgID <= 0 || fe.MsgID != m.MsgID {
				t.Fatalf("FieldError %v with FieldError.MsgID %d, Message.MsgID %d", err, fe.MsgID, m.MsgID)
			}
			if errors.Is(err, ErrNoMsgID) {
				t.Fatalf("FieldError %v also matches ErrNoMsgID", err)
			}
		case errors.Is(err, ErrNoMsgID):
			if m.MsgID != 0 {
				t.Fatalf("ErrNoMsgID with MsgID %d", m.MsgID)
			}
		default:
			t.Fatalf("error %v is neither a *FieldError nor ErrNoMsgID", err)
		}
		sameAsMaps(t, raw, m, err)
	})
}

// sameAsMaps checks that DecodeMessage decoded raw as the map-based decoder
// it replaced does: the same message, the same kind of error (the text of a
// syntax error may differ), the same field error.
func sameAsMaps(t *testing.T, raw []byte, m Message, err error) {
	t.Helper()
	want, werr := decodeMessageMaps(raw)
	if errors.Is(err, ErrNoMsgID) != errors.Is(werr, ErrNoMsgID) {
		t.Fatalf("input %q: error %v, the map decoder's %v", raw, err, werr)
	}
	var fe, wfe *FieldError
	if errors.As(err, &fe) != errors.As(werr, &wfe) || (fe != nil && *fe != *wfe) {
		t.Fatalf("input %q: error %v, the map decoder's %v", raw, err, werr)
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("input %q: error %v, the map decoder's %v", raw, err, werr)
	}
	if errors.Is(err, ErrNoMsgID) {
		return
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("input %q:\n got %+v\nwant %+v", raw, m, want)
	}
}

// TestDecodeMessageSameAsMaps runs the comparison over every seed of the
// fuzz target and a generated day of simulator messages.
func TestDecodeMessageSameAsMaps(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, sm := range simulator.Generate(simulator.GenSpec{Seed: 3, Start: t0, End: t0.Add(24 * time.Hour), Count: 3000, Poison: 0.05}) {
		m, err := DecodeMessage(sm.JSON)
		sameAsMaps(t, sm.JSON, m, err)
	}
	for _, s := range []string{
		`{"msgid":1,"msgid":2,"msg_type":"text","msg_type":7,"target_type":"single","target_id":"b","from_id":"a","create_time":1,"msg_ctime":2}`,
		`{"msg\u0069d":5,"msg_type":"t\u00e9xt","target_type":"single","target_id":"b","from_id":"a\ud800","create_time":"  12 ","msg_ctime":"3"}`,
		"{\"msgid\":6,\"from_name\":\"\xff\xfe\",\"msg_body\":{\"text\":\"\xff\"}}",
		`{"msgid":7} {}`, `{"msgid":8}x`, `[{"msgid":9}]`, `"msgid"`, ` {"msgid":10} `, `{"msgid":11,}`, `{"msgid":12`,
		`{"msgid":-3}`, `{"msgid":"1e3"}`, `{"msgid":1.5}`, `{"msgid":9007199254740993.0}`, `{"msgid":"0x10"}`, `{"msgid":true}`,
		`{"msgid":13,"msg_level":"2147483648","version":"-2147483648","target_appkey":null,"from_appkey":12}`,
		`{"msgid":14,"target_id":{"a":1},"from_id":[1],"msg_body":null}`,
	} {
		m, err := DecodeMessage([]byte(s))
		sameAsMaps(t, []byte(s), m, err)
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	raw := []byte(benchMessage)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	perMessage(b, 1, func() {
		if _, err := DecodeMessage(raw); err != nil {
			b.Fatal(err)
		}
	})
}
