package schema

import (
	"bytes"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/source"
)

// sameAsNative checks that EncodeMessage gives exactly what Native and Encode
// give: the same bytes, or the same error.
func sameAsNative(t *testing.T, c *Codec, raw []byte) {
	t.Helper()
	m, err := source.DecodeMessage(raw)
	if err != nil {
		return
	}
	got, gerr := c.EncodeMessage(m, testSource)
	var want []byte
	native, werr := Native(m, testSource)
	if werr == nil {
		want, werr = c.Encode(native)
	}
	if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
		t.Fatalf("input %s: EncodeMessage error %v, Native+Encode %v", raw, gerr, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("input %s:\n EncodeMessage %x\nNative+Encode %x", raw, got, want)
	}
}

// TestEncodeMessageSameAsNative: the golden inputs, the transform error
// cases, and a day of generated messages (every type, poisoned ones too).
func TestEncodeMessageSameAsNative(t *testing.T) {
	c := testCodec(t)
	for _, raw := range inputs(t) {
		sameAsNative(t, c, raw)
	}
	for _, body := range []string{
		`{"width":"abc"}`, `{"text":"a\u00e9\ud800"}`, `{"text":5}`, `{"extras":{"b":"1","a":{"x":[1, 2]},"b":2}}`,
		`{"extras":{"k\u0041":"\u4f60"}}`, `{"extras":[]}`, `{"extras":{}}`, ` {"text":"x"}`, `"just text"`, `null`, `[1]`,
		`{"latitude":"1","longitude":2,"lable":"x","scale":"3"}`, `{"latitude":1}`, `{"video":{"fsize":"12","duration":4}}`,
		`{"video":null,"duration":"3"}`, `{"video":"x"}`, `{"media_crc32":4294967295,"fsize":1.5e3,"width":"480"}`,
	} {
		for _, typ := range []string{"text", "image", "voice", "file", "video", "location", "custom", "event"} {
			sameAsNative(t, c, message(typ, body))
		}
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, m := range simulator.Generate(simulator.GenSpec{Seed: 5, Start: t0, End: t0.Add(24 * time.Hour), Count: 5000, Poison: 0.05}) {
		sameAsNative(t, c, m.JSON)
	}
}

// FuzzEncodeMessage compares EncodeMessage with Native and Encode on any
// input DecodeMessage accepts.
func FuzzEncodeMessage(f *testing.F) {
	for _, raw := range inputs(f) {
		f.Add(raw)
	}
	f.Add(message("video", `{"video":{"fsize":"12"},"duration":"3"}`))
	f.Add(message("text", `{"text":"x","extras":{"a":1,"a":"2"}}`))
	c := testCodec(f)
	f.Fuzz(func(t *testing.T, raw []byte) { sameAsNative(t, c, raw) })
}

func BenchmarkEncodeMessage(b *testing.B) {
	c := testCodec(b)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var ms []source.Message
	for _, g := range simulator.Generate(simulator.GenSpec{Seed: 12, Start: t0, End: t0.Add(time.Hour), Count: 1000}) {
		m, err := source.DecodeMessage(g.JSON)
		if err != nil {
			b.Fatal(err)
		}
		ms = append(ms, m)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range ms {
			if _, err := c.EncodeMessage(m, testSource); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ms)), "ns/msg")
}
