package schema

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The media topic's schema is under the same guard as the messages': every
// released media-vN.avsc is FULL compatible with media.avsc, and media.avsc
// is itself the newest release.
func TestMediaSchemaEvolutionFull(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "released", "media-v*.avsc"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no released media schemas: %v", err)
	}
	current := parseAvro(t, "media.avsc", MediaJSON())
	newest, newestText := 0, ""
	for _, p := range paths {
		text := readFile(t, p)
		if err := fullyCompatible(current, parseAvro(t, p, text)); err != nil {
			t.Errorf("media.avsc is not FULL compatible with the released %s: %v", filepath.Base(p), err)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "media-v"), ".avsc"))
		if err != nil {
			t.Fatalf("%s: want media-vN.avsc", p)
		}
		if n > newest {
			newest, newestText = n, text
		}
	}
	if len(paths) != newest {
		t.Errorf("%d released media schemas, the newest v%d: numbered without gaps", len(paths), newest)
	}
	if canonicalOf(t, newestText) != canonicalOf(t, MediaJSON()) {
		t.Errorf("media.avsc differs from media-v%d.avsc: once compatible, copy it to testdata/released/media-v%d.avsc", newest, newest+1)
	}
}

func TestMediaCodecRoundTripAndDecoder(t *testing.T) {
	c, err := NewMediaCodec()
	if err != nil {
		t.Fatal(err)
	}
	native := map[string]any{
		"msgid": int64(42), "app_key": "k", "msg_type": "image", "role": "media", "media_id": "qiniu/image/j/AB.jpg",
		"declared": map[string]any{"fsize": map[string]any{"long": int64(10)}, "media_crc32": nil, "hash": nil, "format": map[string]any{"string": "jpg"}, "fname": nil},
		"status":   "archived", "reason": nil, "uri": map[string]any{"string": "file:///x"}, "sha256": map[string]any{"string": "ab"},
		"size": map[string]any{"long": int64(10)}, "content_type": map[string]any{"string": "image/jpeg"},
		"checks":   map[string]any{"size": map[string]any{"boolean": true}, "crc32": nil, "hash": nil},
		"attempts": int32(1), "fetched_at": time.UnixMilli(1700000000000), "source_topic": "t", "source_partition": int32(2), "source_offset": int64(7),
	}
	b, err := c.Encode(native)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(b)
	if err != nil || got["msgid"] != int64(42) || got["source_offset"] != int64(7) {
		t.Fatalf("decode: %v %v", got, err)
	}
	// imreport read decodes it through the released schemas.
	mc, _ := NewCodec()
	d, err := NewDecoder(mc, nil).Decode(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	js, err := PlainJSON(d.Schema, d.Record)
	if err != nil || !strings.Contains(string(js), `"status":"archived"`) || !strings.Contains(string(js), `"size":true`) {
		t.Errorf("plain json %s, %v", js, err)
	}
	cc, err := c.Confluent(9)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := cc.Encode(native)
	if got, err := cc.Decode(b2); err != nil || got["role"] != "media" {
		t.Errorf("confluent: %v %v", got, err)
	}
	if !strings.HasSuffix(cc.ContentType(), "schema-id=9") {
		t.Error(cc.ContentType())
	}
	_ = fmt.Sprint()
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
