package source

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
)

// refDecodePage is how a 200 body was read before decodePage: encoding/json
// into the vendor error, then into the envelope's fields.
func refDecodePage(body []byte) (envelope, *vendorErrorBody, error) {
	var ve vendorError
	_ = json.Unmarshal(body, &ve)
	if ve.Error != nil {
		return envelope{}, ve.Error, nil
	}
	var raw struct {
		Total    json.RawMessage   `json:"total"`
		Cursor   json.RawMessage   `json:"cursor"`
		Count    json.RawMessage   `json:"count"`
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return envelope{}, nil, err
	}
	t, err := parseInt(raw.Total)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("total: %w", err)
	}
	n, err := parseInt(raw.Count)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("count: %w", err)
	}
	cursor, err := stringValue(raw.Cursor)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("cursor: %w", err)
	}
	e := envelope{Messages: raw.Messages, Total: math.MaxInt}
	if t != nil {
		e.Total, e.HasTotal = int(*t), true
	}
	if n != nil {
		e.Count, e.HasCount = int(*n), true
	}
	if cursor != nil {
		e.Cursor = *cursor
	}
	return e, nil, nil
}

var pageSeeds = []string{
	`{"total":2,"cursor":"abc","count":2,"messages":[{"msgid":1},{"msgid":2, "x":[1,2]}]}`,
	`{"total":"3","start":0,"count":"1","messages":[ {"msgid":"7"} ]}`,
	`{"TOTAL":1,"Messages":[{"a":1}],"messages":[{"b":2}]}`,
	`{"total":null,"cursor":null,"messages":null}`,
	`{"total":"","cursor":12,"count":0,"messages":[]}`,
	`{"error":{"code":899003,"message":"cursor expired"}}`,
	`{"error":{"code":"899008","message":5},"messages":[{}]}`,
	`{"error":"x","total":1,"messages":[]}`,
	`{"error":null,"total":1,"messages":[1,"a",null]}`,
	`{"messages":{}}`, `{"total":"x"}`, `{"cursor":{}}`, `null`, `[]`, `{"total":1}{}`, `{"total":1`, ``, `{"messages":[1,]}`,
	"{\"messages\":[\"\xff\"],\"cursor\":\"\xfe\"}",
}

// FuzzDecodePage checks that decodePage reads every body as encoding/json
// did: the same envelope (messages byte for byte), the same vendor error,
// an error for the same bodies.
func FuzzDecodePage(f *testing.F) {
	for _, s := range pageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { samePage(t, body) })
}

func TestDecodePageSameAsEncodingJSON(t *testing.T) {
	for _, s := range pageSeeds {
		samePage(t, []byte(s))
	}
}

func samePage(t *testing.T, body []byte) {
	t.Helper()
	served := string(body)
	env, ve, err := decodePage(body)
	if string(body) != served {
		t.Fatalf("body %q: decodePage changed it to %q", served, body)
	}
	wenv, wve, werr := refDecodePage(body)
	if (err == nil) != (werr == nil) {
		t.Fatalf("body %q: error %v, encoding/json's %v", body, err, werr)
	}
	if !reflect.DeepEqual(ve, wve) {
		t.Fatalf("body %q: vendor error %+v, encoding/json's %+v", body, ve, wve)
	}
	if err != nil {
		return
	}
	if len(env.Messages) != len(wenv.Messages) {
		t.Fatalf("body %q: %d messages, encoding/json %d", body, len(env.Messages), len(wenv.Messages))
	}
	for i := range env.Messages {
		if string(env.Messages[i]) != string(wenv.Messages[i]) {
			t.Fatalf("body %q: message %d %q, encoding/json %q", body, i, env.Messages[i], wenv.Messages[i])
		}
	}
	env.Messages, wenv.Messages = nil, nil
	if !reflect.DeepEqual(env, wenv) {
		t.Fatalf("body %q: envelope %+v, encoding/json's %+v", body, env, wenv)
	}
}

// TestDecodePageEdges pins decodePage's reading of the edges of the
// messages member, repeated members, and what follows the object. Where a
// repeated messages member's earlier value is not an array, decodePage
// reports it, as encoding/json does (FuzzDecodePage found the difference
// that was pinned here before).
func TestDecodePageEdges(t *testing.T) {
	for _, tc := range []struct {
		body   string
		msgs   []string // nil: messages null or missing
		err    bool
		vendor bool
		count  int
	}{
		{body: `{"messages":[{"a":1}],"messages":[{"b":2}]}`, msgs: []string{`{"b":2}`}},
		{body: `{"messages":{},"messages":[]}`, err: true},
		{body: "{\"00000\":0,\"000000\":\"000\",\"00000\":0,\"messAges\":0,\"messAges\":[]}", err: true},
		{body: `{"messages":[],"messages":{}}`, err: true},
		{body: `{"messages":[1],"messages":null}`},
		{body: `{"messages":null,"messages":[1]}`, msgs: []string{`1`}},
		{body: `{"messages":"x"}`, err: true},
		{body: `{"messages":1}`, err: true},
		{body: `{"messages":true}`, err: true},
		{body: `{"messages":{"a":}}`, err: true},
		{body: `{"messages":[1,2]} x`, err: true},
		{body: `{"messages":[1,2]}{}`, err: true},
		{body: `{"messages":[1,2]}]`, err: true},
		{body: " {\"messages\":[1,2]} \r\n\t", msgs: []string{`1`, `2`}},
		{body: `{"messages":[1 2]}`, err: true},
		{body: `{"messages":[1,2}`, err: true},
		{body: `{"messages":[1,2]`, err: true},
		{body: `{"messages":[`, err: true},
		{body: `{"messages":[{"a":}]}`, err: true},
		{body: `{"messages":[],"total":}`, err: true},
		{body: `{"messages":[ {"a" : 1} ,  [ ] ,"s\u00e9" ]}`, msgs: []string{`{"a" : 1}`, `[ ]`, `"s\u00e9"`}},
		{body: `{"MESSAGES":[1],"Count":"2"}`, msgs: []string{`1`}, count: 2},
		{body: `{"m\u0065ssages":[1]}`, msgs: []string{`1`}},
		{body: `{"count":1000000000,"messages":[1]}`, msgs: []string{`1`}, count: 1000000000},
		{body: `{"count":2,"messages":[1,2,3]}`, msgs: []string{`1`, `2`, `3`}, count: 2},
		{body: `null`},
		{body: `{"error":{"code":1},"messages":{}}`, vendor: true},
		{body: `{"messages":5,"error":{"code":"899003","message":"x"}}`, vendor: true},
		{body: `{"error":{"code":1},"messages":[}`, err: true},
		{body: `{"messages":[1],"error":null}`, msgs: []string{`1`}},
	} {
		env, ve, err := decodePage([]byte(tc.body))
		if (err != nil) != tc.err || (ve != nil) != tc.vendor {
			t.Errorf("%s: vendor error %v, error %v; want error %v, vendor error %v", tc.body, ve, err, tc.err, tc.vendor)
			continue
		}
		if err != nil || ve != nil {
			continue
		}
		got := make([]string, len(env.Messages))
		for i, m := range env.Messages {
			got[i] = string(m)
			if cap(m) != len(m) {
				t.Errorf("%s: message %d has room past its end (cap %d, len %d): an append would write into the body", tc.body, i, cap(m), len(m))
			}
		}
		if (env.Messages == nil) != (tc.msgs == nil) || !slices.Equal(got, tc.msgs) {
			t.Errorf("%s: messages %q (nil %v), want %q (nil %v)", tc.body, got, env.Messages == nil, tc.msgs, tc.msgs == nil)
		}
		if env.Count != tc.count {
			t.Errorf("%s: count %d, want %d", tc.body, env.Count, tc.count)
		}
	}
}
