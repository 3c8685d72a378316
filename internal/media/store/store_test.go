package store

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// A fake S3 over HTTP (gofakes3), reached by the real client.
func fakeS3(t *testing.T, bucket string) (url string, backend *s3mem.Backend) {
	t.Helper()
	backend = s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	return srv.URL, backend
}

func TestS3PutAndCheck(t *testing.T) {
	endpoint, backend := fakeS3(t, "media")
	s, err := Open("s3://media/archive?endpoint=" + endpoint + "&path_style=true")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("abc"), 100000)
	uri, err := s.Put(ctx, Object{Key: "k/sha256/ab/abcd", Size: int64(len(body)), ContentType: "image/jpeg",
		Meta: map[string]string{"media-id": "qiniu/image/j/X.jpg", "msgid": "42"}}, bytes.NewReader(body))
	if err != nil || uri != "s3://media/archive/k/sha256/ab/abcd" {
		t.Fatalf("%s %v", uri, err)
	}
	obj, err := backend.GetObject("media", "archive/k/sha256/ab/abcd", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Contents)
	if !bytes.Equal(got, body) || !strings.Contains(strings.ToLower(obj.Metadata["X-Amz-Meta-Media-Id"]+obj.Metadata["X-Amz-Meta-Media-id"]), "qiniu") {
		t.Errorf("stored %d bytes, metadata %v", len(got), obj.Metadata)
	}
}

func TestFilePutAtomic(t *testing.T) {
	dir := t.TempDir()
	s, err := Open("file://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	body := []byte("hello")
	uri, err := s.Put(context.Background(), Object{Key: "k/sha256/2c/2cf2", Size: 5, Meta: map[string]string{"msgid": "1"}}, bytes.NewReader(body))
	if err != nil || uri != "file://"+dir+"/k/sha256/2c/2cf2" {
		t.Fatal(uri, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "k/sha256/2c/2cf2"))
	m, _ := os.ReadFile(filepath.Join(dir, "k/sha256/2c/2cf2.meta.json"))
	if string(b) != "hello" || !strings.Contains(string(m), `"msgid":"1"`) {
		t.Errorf("%q %q", b, m)
	}
	// Stored again (another reference to the same bytes): no error, the
	// object unchanged.
	if _, err := s.Put(context.Background(), Object{Key: "k/sha256/2c/2cf2", Size: 5, Meta: map[string]string{"msgid": "2"}}, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "k/sha256/2c/2cf2")); string(b) != "hello" {
		t.Errorf("after a second Put: %q", b)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "k/sha256/2c/.tmp-*"))
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if all, _ := os.ReadDir(dir); len(all) != 1 { // k, and no probe
		t.Errorf("the store's top level: %v", all)
	}
	for _, bad := range []string{"file://host/x", "ftp://x", "s3://", "s3://b?nope=1", "file://relative"} {
		if _, err := Open(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
