package simulator

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

var genStart = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func smallSpec() GenSpec {
	return GenSpec{Seed: 42, Start: genStart, End: genStart.Add(6 * time.Hour), Count: 20000, Bursts: 2, BurstSize: 1500}
}

// tolerantInt reads a JSON number or a JSON string holding one.
func tolerantInt(t *testing.T, raw json.RawMessage) (v int64, quoted bool) {
	t.Helper()
	s := string(raw)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("bad string %s: %v", raw, err)
		}
		quoted = true
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not an integer: %s", raw)
	}
	return v, quoted
}

func jsonString(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if raw == nil || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("not a string: %s", raw)
	}
	return s
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := Generate(smallSpec()), Generate(smallSpec())
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("lengths %d %d", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].JSON, b[i].JSON) || !bytes.Equal(a[i].Body, b[i].Body) {
			t.Fatalf("message %d differs:\n%s\n%s", i, a[i].JSON, b[i].JSON)
		}
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("message %d fields differ: %+v %+v", i, a[i], b[i])
		}
	}
	spec := smallSpec()
	spec.Seed++
	c := Generate(spec)
	if len(c) == len(a) && bytes.Equal(c[0].JSON, a[0].JSON) && bytes.Equal(c[len(c)-1].JSON, a[len(a)-1].JSON) {
		t.Fatal("another seed gave the same data")
	}
}

func TestGenerateOrderIDsAndTimes(t *testing.T) {
	spec := smallSpec()
	msgs := Generate(spec)
	if want := spec.Count + spec.Bursts*spec.BurstSize; len(msgs) != want {
		t.Fatalf("got %d messages, want %d", len(msgs), want)
	}
	ids := make(map[int64]bool, len(msgs))
	decreasing := 0
	for i := range msgs {
		m := &msgs[i]
		if m.MsgID <= 0 || ids[m.MsgID] {
			t.Fatalf("msgid %d not positive or duplicated", m.MsgID)
		}
		ids[m.MsgID] = true
		if i > 0 {
			if !Less(&msgs[i-1], m) {
				t.Fatalf("not sorted at %d", i)
			}
			if m.MsgID < msgs[i-1].MsgID {
				decreasing++
			}
		}
		if m.CreateTime < spec.Start.Unix() || m.CreateTime >= spec.End.Unix() {
			t.Fatalf("create_time %d outside range", m.CreateTime)
		}
		if d := m.MsgCtime - m.CreateTime*1000; d < 0 || d > 1500 {
			t.Fatalf("msg_ctime %d is %d ms after create_time", m.MsgCtime, d)
		}
		if m.Version != 1 {
			t.Fatalf("version %d", m.Version)
		}
	}
	// Random ids: about half of the neighbours are in decreasing order.
	if frac := float64(decreasing) / float64(len(msgs)); frac < 0.4 || frac > 0.6 {
		t.Fatalf("msgid decreases in %.2f of neighbours; ids look monotonic", frac)
	}
}

func TestGenerateBursts(t *testing.T) {
	spec := smallSpec()
	spec.Bursts, spec.BurstSize = 3, 1500
	msgs := Generate(spec)
	perSecond := map[int64]int{}
	for _, m := range msgs {
		perSecond[m.CreateTime]++
	}
	big := 0
	for _, n := range perSecond {
		if n >= spec.BurstSize {
			big++
		}
		if n > 1000 && n < spec.BurstSize {
			t.Fatalf("second with %d messages", n)
		}
	}
	if big != spec.Bursts {
		t.Fatalf("%d seconds hold a burst, want %d", big, spec.Bursts)
	}
}

func TestGenerateEdgeCases(t *testing.T) {
	if m := Generate(GenSpec{Start: genStart, End: genStart, Count: 10}); m != nil {
		t.Fatalf("empty range gave %d messages", len(m))
	}
	// A sub-second start rounds up: create_time never precedes Start.
	start := genStart.Add(500 * time.Millisecond)
	msgs := Generate(GenSpec{Start: start, End: start.Add(2 * time.Second), Count: 50, Bursts: 5, BurstSize: 3})
	if len(msgs) != 50+2*3 { // only 2 whole seconds in range: bursts capped
		t.Fatalf("got %d messages", len(msgs))
	}
	for _, m := range msgs {
		if time.Unix(m.CreateTime, 0).Before(start) || !time.Unix(m.CreateTime, 0).Before(start.Add(2*time.Second)) {
			t.Fatalf("create_time %d outside [%v, +2s)", m.CreateTime, start)
		}
	}
	// Every type shows up even in a tiny dataset.
	tiny := Generate(GenSpec{Seed: 7, Start: genStart, End: genStart.Add(time.Minute), Count: len(MsgTypes), Users: 1})
	var got []string
	for _, m := range tiny {
		got = append(got, m.MsgType)
		if m.TargetType == "single" && m.TargetID == m.FromID {
			t.Fatalf("single message to self: %s", m.JSON)
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(MsgTypes))
	if !slices.Equal(got, want) {
		t.Fatalf("types %v, want %v", got, want)
	}
}

var documented = map[string]bool{
	"msgid": true, "msg_type": true, "msg_level": true, "version": true, "target_type": true,
	"target_id": true, "target_name": true, "target_appkey": true, "from_type": true, "from_id": true,
	"from_name": true, "from_platform": true, "from_appkey": true, "create_time": true,
	"msg_ctime": true, "msg_body": true,
}

var userRE = regexp.MustCompile(`^[a-z0-9_]+$`)

// TestGenerateContent checks that JSON and Body are valid, that JSON agrees with
// the typed fields, and that the body shapes, quirks and scripts are all there.
func TestGenerateContent(t *testing.T) {
	spec := smallSpec()
	msgs := Generate(spec)
	pool := map[string]bool{}
	for _, u := range UserPool(200) {
		pool[u] = true
	}
	types := map[string]int{}
	seen := map[string]int{} // feature -> count
	var hasHan, hasEmoji, hasRTL bool
	for i := range msgs {
		m := &msgs[i]
		if !json.Valid(m.JSON) {
			t.Fatalf("invalid JSON: %s", m.JSON)
		}
		if len(m.Body) > 4096 {
			t.Fatalf("body of %d bytes", len(m.Body))
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(m.JSON, &env); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(env["msg_body"], m.Body) {
			t.Fatalf("Body is not the msg_body bytes:\n%s\n%s", env["msg_body"], m.Body)
		}
		if !bytes.Contains(m.JSON, m.Body) {
			t.Fatal("Body not inside JSON")
		}
		anyQuoted := false
		for name, want := range map[string]int64{
			"msgid": m.MsgID, "create_time": m.CreateTime, "msg_ctime": m.MsgCtime,
			"msg_level": int64(m.MsgLevel), "version": int64(m.Version),
		} {
			got, quoted := tolerantInt(t, env[name])
			if got != want {
				t.Fatalf("%s: JSON %d, field %d", name, got, want)
			}
			if quoted {
				seen["quoted "+name]++
				anyQuoted = true
			}
		}
		if anyQuoted {
			seen["quoted"]++
		}
		for name, want := range map[string]string{
			"msg_type": m.MsgType, "target_type": m.TargetType, "target_id": m.TargetID,
			"target_name": m.TargetName, "from_type": m.FromType, "from_id": m.FromID,
			"from_name": m.FromName, "from_platform": m.FromPlatform,
		} {
			if got := jsonString(t, env[name]); got != want {
				t.Fatalf("%s: JSON %q, field %q", name, got, want)
			}
		}
		if string(env["target_name"]) == "null" {
			seen["null target_name"]++
		}
		fa, hasFA := env["from_appkey"]
		ta, hasTA := env["target_appkey"]
		if hasFA != (m.FromAppKey != "") || (hasFA && jsonString(t, fa) != m.FromAppKey) {
			t.Fatalf("from_appkey %s vs %q", fa, m.FromAppKey)
		}
		if hasTA != (m.TargetAppKey != "" || m.TargetAppKeyEmpty) || (hasTA && jsonString(t, ta) != m.TargetAppKey) {
			t.Fatalf("target_appkey %s vs %q/%v", ta, m.TargetAppKey, m.TargetAppKeyEmpty)
		}
		if m.MsgLevel == 1 {
			seen["cross-app"]++
			if m.FromAppKey == "" {
				t.Fatal("cross-app message without from_appkey")
			}
			if m.TargetAppKeyEmpty {
				seen["target_appkey empty"]++
			} else if m.TargetAppKey == "" {
				seen["target_appkey absent"]++
			}
		} else if hasFA || hasTA {
			t.Fatalf("in-app message with app keys: %s", m.JSON)
		}
		if _, ok := env["set_from_name"]; ok {
			seen["set_from_name"]++
		}
		for k := range env {
			if !documented[k] {
				seen["undocumented"]++
				break
			}
		}
		if bytes.Contains(m.JSON, []byte(`\u`)) {
			seen["\\u escape"]++
		}
		if bytes.Contains(m.JSON, []byte(`", "`)) {
			seen["spaced"]++
		}
		if !bytes.HasPrefix(m.JSON, []byte(`{"target_type":`)) {
			seen["reordered"]++
		}
		switch m.FromType {
		case "user":
			if m.MsgLevel == 0 && !pool[m.FromID] {
				t.Fatalf("user sender %q not in pool", m.FromID)
			}
		case "admin", "robot":
		default:
			t.Fatalf("from_type %q", m.FromType)
		}
		seen["from_type "+m.FromType]++
		seen["target_type "+m.TargetType]++
		if !userRE.MatchString(m.FromID) {
			t.Fatalf("from_id %q", m.FromID)
		}
		switch m.TargetType {
		case "single":
			if !userRE.MatchString(m.TargetID) {
				t.Fatalf("target_id %q", m.TargetID)
			}
		case "group", "chatroom":
			if _, err := strconv.ParseInt(m.TargetID, 10, 64); err != nil {
				t.Fatalf("%s id %q", m.TargetType, m.TargetID)
			}
		default:
			t.Fatalf("target_type %q", m.TargetType)
		}
		for _, r := range m.FromName + m.TargetName + string(m.Body) {
			hasHan = hasHan || unicode.Is(unicode.Han, r)
			hasEmoji = hasEmoji || (r >= 0x1F300 && r <= 0x1FAFF)
			hasRTL = hasRTL || unicode.In(r, unicode.Arabic, unicode.Hebrew)
		}
		types[m.MsgType]++
		checkBody(t, m, seen)
	}
	for _, typ := range MsgTypes {
		if types[typ] == 0 {
			t.Errorf("no %s message", typ)
		}
	}
	if !hasHan || !hasEmoji || !hasRTL {
		t.Errorf("scripts: han %v emoji %v rtl %v", hasHan, hasEmoji, hasRTL)
	}
	n := len(msgs)
	for _, f := range []string{
		"quoted", "quoted msgid", "quoted create_time", "set_from_name", "undocumented", "\\u escape",
		"spaced", "reordered", "null target_name", "cross-app", "target_appkey empty", "target_appkey absent",
		"from_type admin", "from_type robot", "target_type group", "target_type chatroom",
		"label", "lable", "hash", "no hash", "thumb", "no thumb", "extras string", "extras number",
		"extras bool", "extras null", "extras object", "extras array", "extras absent", "extras empty",
		"escaped text",
	} {
		if seen[f] == 0 {
			t.Errorf("no message with %s", f)
		}
	}
	if frac := float64(seen["quoted"]) / float64(n); frac < 0.005 || frac > 0.05 {
		t.Errorf("too many quoted numbers: %.3f", frac)
	}
	if frac := float64(seen["undocumented"]) / float64(n); frac < 0.005 || frac > 0.05 {
		t.Errorf("undocumented-field fraction %.3f", frac)
	}
}

func hasKeys(t *testing.T, m *Message, obj map[string]json.RawMessage, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			t.Fatalf("%s body lacks %q: %s", m.MsgType, k, m.Body)
		}
	}
}

func checkBody(t *testing.T, m *Message, seen map[string]int) {
	t.Helper()
	var body map[string]json.RawMessage
	if err := json.Unmarshal(m.Body, &body); err != nil || body == nil {
		t.Fatalf("body is not an object: %s", m.Body)
	}
	switch m.MsgType {
	case "text":
		hasKeys(t, m, body, "text")
		var s string
		if err := json.Unmarshal(body["text"], &s); err != nil {
			t.Fatalf("text: %v", err)
		}
		if strings.ContainsAny(s, "\"\\\n") {
			seen["escaped text"]++
		}
	case "image":
		hasKeys(t, m, body, "media_id", "media_crc32", "width", "height", "format", "fsize")
	case "voice":
		hasKeys(t, m, body, "media_id", "media_crc32", "duration", "format", "fsize")
	case "file":
		hasKeys(t, m, body, "media_id", "media_crc32", "fsize", "fname")
	case "location":
		hasKeys(t, m, body, "latitude", "longitude", "scale")
		_, l1 := body["label"]
		_, l2 := body["lable"]
		if l1 == l2 {
			t.Fatalf("location needs exactly one of label/lable: %s", m.Body)
		}
		if l1 {
			seen["label"]++
		} else {
			seen["lable"]++
		}
	case "video":
		hasKeys(t, m, body, "video", "duration")
		var v map[string]json.RawMessage
		if err := json.Unmarshal(body["video"], &v); err != nil {
			t.Fatal(err)
		}
		hasKeys(t, m, v, "media_id", "media_crc32", "fsize", "fname")
		if th, ok := body["thumb"]; ok {
			seen["thumb"]++
			var tm map[string]json.RawMessage
			if err := json.Unmarshal(th, &tm); err != nil {
				t.Fatal(err)
			}
			hasKeys(t, m, tm, "media_id", "media_crc32", "width", "height", "format", "fsize")
		} else {
			seen["no thumb"]++
		}
	}
	if m.MsgType == "image" || m.MsgType == "voice" {
		if _, ok := body["hash"]; ok {
			seen["hash"]++
		} else {
			seen["no hash"]++
		}
	}
	ex, ok := body["extras"]
	if !ok {
		seen["extras absent"]++
		return
	}
	var extras map[string]json.RawMessage
	if err := json.Unmarshal(ex, &extras); err != nil || extras == nil {
		t.Fatalf("extras not an object: %s", ex)
	}
	if len(extras) == 0 {
		seen["extras empty"]++
	}
	for _, v := range extras {
		switch c := v[0]; {
		case c == '"':
			seen["extras string"]++
		case c == '-' || (c >= '0' && c <= '9'):
			seen["extras number"]++
		case c == 't' || c == 'f':
			seen["extras bool"]++
		case c == 'n':
			seen["extras null"]++
		case c == '{':
			seen["extras object"]++
		case c == '[':
			seen["extras array"]++
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "你好", "😀 \"q\" \\ \n\r\t\b\f \x00\x1f\x7f", "\u2028\u2029", "𠜎", "a\xffb"} {
		for _, ascii := range []bool{false, true} {
			b := appendJSONString(nil, s, ascii)
			var got string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%q ascii=%v: %s: %v", s, ascii, b, err)
			}
			want := strings.ToValidUTF8(s, "\uFFFD")
			if got != want {
				t.Fatalf("round trip %q -> %s -> %q", s, b, got)
			}
			if ascii {
				for _, c := range b {
					if c >= 0x80 {
						t.Fatalf("non-ASCII byte in %s", b)
					}
				}
			}
		}
	}
}

func TestEncode(t *testing.T) {
	m := Encode(Message{
		MsgID: 7, MsgType: "text", Version: 1, TargetType: "single", TargetID: "user0001",
		FromType: "user", FromID: "user0002", FromName: "王\"x\"", FromPlatform: "a",
		CreateTime: 1446016259, MsgCtime: 1446016259352, Body: []byte(`{"text":"hi","extras":{}}`),
		MsgLevel: 1, FromAppKey: "k1", TargetAppKeyEmpty: true,
	})
	want := `{"target_type":"single","msg_type":"text","target_name":"","target_id":"user0001","from_id":"user0002",` +
		`"from_name":"王\"x\"","from_type":"user","from_platform":"a","from_appkey":"k1","target_appkey":"",` +
		`"msg_body":{"text":"hi","extras":{}},"create_time":1446016259,"version":1,"msgid":7,"msg_level":1,"msg_ctime":1446016259352}`
	if string(m.JSON) != want {
		t.Fatalf("got  %s\nwant %s", m.JSON, want)
	}
	if string(m.Body) != `{"text":"hi","extras":{}}` {
		t.Fatalf("body %s", m.Body)
	}
	if e := Encode(Message{MsgID: 1}); !json.Valid(e.JSON) || string(e.Body) != "{}" {
		t.Fatalf("empty message: %s", e.JSON)
	}
}

func BenchmarkGenerate150k(b *testing.B) {
	spec := GenSpec{Seed: 1, Start: genStart, End: genStart.Add(48 * time.Hour), Count: 150000, Bursts: 3, BurstSize: 1500}
	for b.Loop() {
		Generate(spec)
	}
}
