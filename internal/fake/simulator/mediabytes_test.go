package simulator

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestMediaBytesCRC(t *testing.T) {
	for _, n := range []int64{0, 1, 3, 4, 5, 100, 70000} {
		h := crc32.NewIEEE()
		c, _ := io.Copy(h, MediaBytes("x", n, 0xDEADBEEF))
		if c != n || (n >= 4 && h.Sum32() != 0xDEADBEEF) {
			t.Errorf("%d: %d %x", n, c, h.Sum32())
		}
	}
}

// Generated media declare what WithMedia serves: size, CRC-32 and etag.
func TestMediaServed(t *testing.T) {
	msgs := Generate(GenSpec{Seed: 3, Start: genStart, End: genStart.Add(time.Hour), Count: 300, MediaMaxSize: 5000})
	m := WithMedia(New(Config{}, msgs), MediaConfig{})
	srv := httptest.NewServer(m)
	defer srv.Close()
	checked := 0
	for _, msg := range msgs {
		var body map[string]any
		if json.Unmarshal(msg.Body, &body) != nil || body["media_id"] == nil {
			continue
		}
		id := body["media_id"].(string)
		req, _ := http.NewRequest("GET", srv.URL+ResourcePath+"?mediaId="+url.QueryEscape(id), nil)
		req.SetBasicAuth(DefaultAppKey, DefaultMasterSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var link struct{ URL string }
		_ = json.NewDecoder(resp.Body).Decode(&link)
		resp.Body.Close()
		resp, err = http.Get(link.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if int64(len(b)) != int64(body["fsize"].(float64)) || crc32.ChecksumIEEE(b) != uint32(body["media_crc32"].(float64)) {
			t.Fatalf("%s: %d bytes crc %x, declared %v", id, len(b), crc32.ChecksumIEEE(b), body)
		}
		if h, ok := body["hash"].(string); ok && h != QiniuEtag(bytes.NewReader(b)) {
			t.Fatalf("%s: hash %s", id, h)
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d media", checked)
	}
}
