package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
)

// fileStore keeps objects under a directory; Meta goes to <object>.meta.json.
type fileStore struct{ dir string }

func newFile(dir string) (*fileStore, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("store: file directory %q is not absolute", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &fileStore{dir: filepath.Clean(dir)}, nil
}

func (s *fileStore) Put(ctx context.Context, o Object, body io.ReaderAt) (string, error) {
	final := filepath.Join(s.dir, filepath.FromSlash(o.Key))
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	meta, _ := json.Marshal(map[string]any{"content_type": o.ContentType, "size": o.Size, "meta": o.Meta})
	if err := writeAtomic(final+".meta.json", io.NewSectionReader(bytesAt(meta), 0, int64(len(meta)))); err != nil {
		return "", err
	}
	if err := writeAtomic(final, io.NewSectionReader(body, 0, o.Size)); err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(final)}).String(), ctx.Err()
}

// writeAtomic writes r to a temporary file next to path, syncs it and
// renames it into place: path holds the whole content or nothing.
func writeAtomic(path string, r io.Reader) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename: nothing to remove
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("store: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func (s *fileStore) Check(ctx context.Context) error {
	probe := []byte("imreport media store check\n")
	uri, err := s.Put(ctx, Object{Key: ".imreport-check", Size: int64(len(probe))}, bytesAt(probe))
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, ".imreport-check")
	if b, err := os.ReadFile(path); err != nil || string(b) != string(probe) {
		return fmt.Errorf("store: %s did not read back: %v", uri, err)
	}
	_ = os.Remove(path + ".meta.json")
	return os.Remove(path)
}

// bytesAt is a byte slice as an io.ReaderAt.
type bytesAt []byte

func (b bytesAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
