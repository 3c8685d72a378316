package media

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/imreport/imreport/internal/fake/simulator"
)

// TestRefs pins which references a msg_body yields, in which order, with
// which role and declared fields: the body's own media_id (image, voice,
// file) is role media; a video's video object is role media and its thumb
// role thumb; any other object holding a media_id is its key; bodies
// without a usable media_id yield none. Declared numbers are read as the
// schema reads them for the messages topic (numbers or numeric strings,
// padded, integral floats); a null field is not declared.
func TestRefs(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []Ref
	}{
		{"image", `{"media_id":"qiniu/image/j/A.jpg","media_crc32":3411209087,"width":10,"height":10,"format":"jpg","fsize":1024,"hash":"FvWz1oRsdkGzAfbuVqIoiRB2BAAB"}`,
			[]Ref{{Role: "media", MediaID: "qiniu/image/j/A.jpg", Size: ptr[int64](1024), CRC: ptr[int64](3411209087), Hash: ptr("FvWz1oRsdkGzAfbuVqIoiRB2BAAB"), Format: ptr("jpg")}}},
		{"voice", `{"media_id":"qiniu/voice/j/B","media_crc32":1,"duration":3,"format":"amr","fsize":500}`,
			[]Ref{{Role: "media", MediaID: "qiniu/voice/j/B", Size: ptr[int64](500), CRC: ptr[int64](1), Format: ptr("amr")}}},
		{"file", `{"media_id":"qiniu/file/j/C","media_crc32":2,"fsize":0,"fname":"report.pdf"}`,
			[]Ref{{Role: "media", MediaID: "qiniu/file/j/C", Size: ptr[int64](0), CRC: ptr[int64](2), FileName: ptr("report.pdf")}}},
		{"video and thumb", `{"video":{"media_id":"qiniu/video/j/V","media_crc32":104857611,"fsize":5242880,"fname":"hike.mp4","format":"mp4"},"duration":15,"thumb":{"media_id":"qiniu/image/j/T.jpg","media_crc32":987654321,"format":"jpg","fsize":20480}}`,
			[]Ref{ // by key: thumb before video
				{Role: "thumb", MediaID: "qiniu/image/j/T.jpg", Size: ptr[int64](20480), CRC: ptr[int64](987654321), Format: ptr("jpg")},
				{Role: "media", MediaID: "qiniu/video/j/V", Size: ptr[int64](5242880), CRC: ptr[int64](104857611), Format: ptr("mp4"), FileName: ptr("hike.mp4")},
			}},
		{"video without thumb", `{"video":{"media_id":"qiniu/video/j/V"},"duration":15}`,
			[]Ref{{Role: "media", MediaID: "qiniu/video/j/V"}}},
		{"thumb of a video without media_id", `{"video":{"fsize":1},"thumb":{"media_id":"T"}}`,
			[]Ref{{Role: "thumb", MediaID: "T"}}},
		{"custom objects by key, sorted", `{"z":{"media_id":"Z"},"a":{"media_id":"A","fsize":"7"},"n":{"x":1}}`,
			[]Ref{{Role: "a", MediaID: "A", Size: ptr[int64](7)}, {Role: "z", MediaID: "Z"}}},
		{"own media_id first; a video object then is not a second media", `{"media_id":"M","video":{"media_id":"V"},"thumb":{"media_id":"T"}}`,
			[]Ref{{Role: "media", MediaID: "M"}, {Role: "thumb", MediaID: "T"}}},
		{"numbers as strings", `{"media_id":"S","media_crc32":"3411209087","fsize":"1024"}`,
			[]Ref{{Role: "media", MediaID: "S", Size: ptr[int64](1024), CRC: ptr[int64](3411209087)}}},
		{"numbers as the schema reads them: padded strings, integral floats", `{"media_id":"P","media_crc32":" 3411209087 ","fsize":1024.0}`,
			[]Ref{{Role: "media", MediaID: "P", Size: ptr[int64](1024), CRC: ptr[int64](3411209087)}}},
		{"null declared fields are not declared", `{"media_id":"N","media_crc32":null,"fsize":null,"hash":null,"format":null,"fname":null}`,
			[]Ref{{Role: "media", MediaID: "N"}}},
		{"malformed declared fields are not declared", `{"media_id":"X","media_crc32":"abc","fsize":1.5,"format":7,"fname":{},"hash":["h"]}`,
			[]Ref{{Role: "media", MediaID: "X"}}},
		{"text", `{"text":"hello"}`, nil},
		{"location", `{"latitude":39.9,"longitude":116.4,"scale":3,"label":"media_id"}`, nil},
		{"empty media_id", `{"media_id":"","fsize":3}`, nil},
		{"media_id not a string", `{"media_id":42}`, nil},
		{"media_id null", `{"media_id":null}`, nil},
		{"media_id too deep", `{"a":{"b":{"media_id":"deep"}}}`, nil},
		{"empty object", `{}`, nil},
		{"not an object", `["media_id"]`, nil},
		{"a string", `"media_id"`, nil},
		{"not JSON", `{"media_id":"X"`, nil},
		{"empty", ``, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Refs(c.body); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Refs(%s)\n got %s\nwant %s", c.body, show(got), show(c.want))
			}
		})
	}
}

// TestRefsOfGenerated pins that Refs reads the simulator's media bodies
// as the simulator serves them: every reference's declared size is the one
// its link serves, and its CRC-32 is declared.
func TestRefsOfGenerated(t *testing.T) {
	s := newMediaSim(t, simulator.MediaConfig{})
	for kind, it := range s.refs {
		size, crc, ok := s.ms.Media(it.MediaID)
		if !ok || it.Size == nil || it.CRC == nil || *it.Size != size || uint32(*it.CRC) != crc {
			t.Errorf("%s: declared %s; the simulator serves %d bytes, CRC %08x (known %v)", kind, show([]Ref{it.Ref}), size, crc, ok)
		}
	}
}

// show prints refs with their declared fields dereferenced.
func show(refs []Ref) string {
	var b strings.Builder
	for _, r := range refs {
		fmt.Fprintf(&b, "{%s %s", r.Role, r.MediaID)
		for _, f := range []struct {
			name string
			v    any
		}{{"size", r.Size}, {"crc", r.CRC}, {"hash", r.Hash}, {"format", r.Format}, {"fname", r.FileName}} {
			switch p := f.v.(type) {
			case *int64:
				if p != nil {
					fmt.Fprintf(&b, " %s=%d", f.name, *p)
				}
			case *string:
				if p != nil {
					fmt.Fprintf(&b, " %s=%q", f.name, *p)
				}
			}
		}
		b.WriteString("}")
	}
	return "[" + b.String() + "]"
}
