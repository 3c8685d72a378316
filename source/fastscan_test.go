package source

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/imreport/imreport/internal/fake/simulator"
)

// member is one member as EachMember hands it over.
type member struct{ name, value string }

// jsontextMembers is what walkObject (jsontext) reads of raw.
func jsontextMembers(raw []byte) ([]member, bool, error) {
	var out []member
	null, err := walkObject(raw, func(name []byte, d *jsontext.Decoder) error {
		v, err := readValue(raw, d)
		out = append(out, member{string(name), string(v)})
		return err
	})
	return out, null, err
}

// sameMembers fails unless the fast path declines raw or reads it exactly
// as jsontext does.
func sameMembers(t *testing.T, raw []byte) (accepted bool) {
	t.Helper()
	spans, ok := scanMembers(raw, nil)
	want, null, err := jsontextMembers(raw)
	if !ok {
		return false
	}
	if err != nil || null {
		t.Fatalf("%q: the fast path accepts what jsontext does not (null %v, %v)", raw, null, err)
	}
	if len(spans) != len(want) {
		t.Fatalf("%q: %d members, jsontext %d", raw, len(spans), len(want))
	}
	for i, m := range spans {
		if got := (member{string(m.name), string(m.value)}); got != want[i] {
			t.Fatalf("%q: member %d %q, jsontext %q", raw, i, got, want[i])
		}
	}
	return true
}

var scanSeeds = []string{
	benchMessage, vendorExample, `{}`, ` { } `, `{"a":1}`, `{"a":1,"a":2}`, "{\"a\"\t:\r\n[ ]\n}",
	`{"a":-0.5e+10,"b":0,"c":1E3,"d":-12.25E-2}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":+1}`,
	`{"a":true,"b":false,"c":null}`, `{"a":tru}`, `{"a":nul}`, `{"a":truex}`, `{"a":True}`,
	`{"a":"\u00e9\ud83d\ude00\ud800\"\\\/\b\f\n\r\t"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\x7f\xff\xfe\xe4\xb8\"}",
	`{"\u0061":1}`, "{\"\xff\":1}", `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":{"b":}}`, `{"a":{"b":1,}}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":1 "b":2}`,
	`{}x`, `{} {}`, `{"a":1}}`, `null`, `[]`, `[{}]`, `"a"`, `1`, ``, ` `, `{`, `{"a":`, `{"a":"`, `{"a":[`,
	"\ufeff{}", "{\"a\":1}\x00", strings.Repeat(`{"a":`, 63) + `1` + strings.Repeat(`}`, 63),
	strings.Repeat(`{"a":`, 64) + `1` + strings.Repeat(`}`, 64), `{"a":` + strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70) + `}`,
}

// samePageMembers fails unless the fast path declines body or reads the
// envelope exactly as jsontext does.
func samePageMembers(t *testing.T, body []byte) (accepted bool) {
	t.Helper()
	var fast, want pageMembers
	if !fast.fastRead(body) {
		return false
	}
	if _, err := walkObject(body, func(name []byte, d *jsontext.Decoder) error { return want.read(body, name, d) }); err != nil {
		t.Fatalf("%q: the fast path accepts what jsontext does not: %v", body, err)
	}
	for _, v := range [][2]json.RawMessage{{fast.total, want.total}, {fast.cursor, want.cursor}, {fast.count, want.count}, {fast.errObj, want.errObj}} {
		if (v[0] == nil) != (v[1] == nil) || string(v[0]) != string(v[1]) {
			t.Fatalf("%q: member %q, jsontext %q", body, v[0], v[1])
		}
	}
	if (fast.msgErr == nil) != (want.msgErr == nil) || (fast.messages == nil) != (want.messages == nil) || len(fast.messages) != len(want.messages) {
		t.Fatalf("%q: messages %q (%v), jsontext %q (%v)", body, fast.messages, fast.msgErr, want.messages, want.msgErr)
	}
	for i, m := range fast.messages {
		if string(m) != string(want.messages[i]) || cap(m) != len(m) {
			t.Fatalf("%q: message %d %q (cap %d), jsontext %q", body, i, m, cap(m), want.messages[i])
		}
	}
	return true
}

// FuzzFastScan checks that the fast path accepts only what jsontext
// accepts, and reads it the same: EachMember's names and values, and
// decodePage's envelope, byte for byte.
func FuzzFastScan(f *testing.F) {
	for _, s := range append(scanSeeds, pageSeeds...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameMembers(t, raw)
		samePageMembers(t, raw)
	})
}

func TestFastScanSameAsJSONText(t *testing.T) {
	for _, s := range append(scanSeeds, pageSeeds...) {
		sameMembers(t, []byte(s))
		samePageMembers(t, []byte(s))
	}
}

// TestFastScanReadsSimulatorPage: decodePage reads a full simulator page
// on the fast path.
func TestFastScanReadsSimulatorPage(t *testing.T) {
	if body := simPage(t); !samePageMembers(t, body) {
		t.Fatal("the fast path declines the simulator's page")
	}
}

// TestScanMembersDeclines: what the fast path leaves to jsontext.
func TestScanMembersDeclines(t *testing.T) {
	for _, s := range []string{
		`null`, ` null `, `[]`, `"a"`, `1`, ``, `{"\u0061":1}`, `{"a\"b":1}`, `{"a":1.}`, `{"a":01}`, `{}x`, `{"a":[1,]}`, "{\"a\":\"\x01\"}",
		strings.Repeat(`[`, maxFastDepth) + strings.Repeat(`]`, maxFastDepth),
		`{"a":` + strings.Repeat(`[`, maxFastDepth) + strings.Repeat(`]`, maxFastDepth) + `}`,
	} {
		if _, ok := scanMembers([]byte(s), nil); ok {
			t.Errorf("%q: the fast path reads it", s)
		}
	}
}

// TestScanMembersReadsMessages: the fast path reads every message the
// simulator serves (poisoned ones too: their JSON is valid), so that
// DecodeMessage does not fall back to jsontext for them.
func TestScanMembersReadsMessages(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	srv := simulator.New(simulator.Config{}, nil)
	for _, sm := range simulator.Generate(simulator.GenSpec{Seed: 5, Start: t0, End: t0.Add(24 * time.Hour), Count: 3000, Poison: 0.05}) {
		for _, raw := range [][]byte{sm.JSON, srv.UserJSON(sm)} {
			if !sameMembers(t, raw) {
				t.Fatalf("the fast path declines %s", raw)
			}
		}
	}
}
