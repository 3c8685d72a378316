package store

import (
	"context"
	"encoding/json"
	"errors"
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
	// The object first, then its sidecar: a process killed in between
	// leaves a whole object without metadata, which the reference's next
	// archiving (its record was not published) completes.
	if err := writeAtomic(final, io.NewSectionReader(body, 0, o.Size)); err != nil {
		return "", err
	}
	meta, _ := json.Marshal(map[string]any{"content_type": o.ContentType, "size": o.Size, "meta": o.Meta})
	if err := writeAtomic(final+".meta.json", io.NewSectionReader(bytesAt(meta), 0, int64(len(meta)))); err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(final)}).String(), ctx.Err()
}

// writeAtomic writes r to path so that path holds the whole content or
// nothing, and nothing else is left if the process dies half way. On Linux
// the content goes to a file without a name (O_TMPFILE), synced, then
// linked as path; a path that exists already is kept (objects are
// content-addressed: it holds the same bytes; a sidecar keeps the metadata
// of the first reference stored). Elsewhere it goes to a temporary file next
// to path, synced and renamed into place (a process killed half way leaves
// that temporary file).
func writeAtomic(path string, r io.Reader) error {
	f, unnamed, err := openUnnamed(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !unnamed {
		return writeRenamed(path, r)
	}
	defer f.Close()
	if err := copySync(f, r, path); err != nil {
		return err
	}
	if err := linkUnnamed(f, path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func writeRenamed(path string, r io.Reader) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename: nothing to remove
	if err := copySync(f, r, path); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func copySync(f *os.File, r io.Reader, path string) error {
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", path, err)
	}
	return nil
}

func (s *fileStore) Check(ctx context.Context) error {
	probe := []byte("imreport media store check\n")
	key := probeKey()
	uri, err := s.Put(ctx, Object{Key: key, Size: int64(len(probe))}, bytesAt(probe))
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, key)
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

// Spool returns a read-write file in dir for bytes on their way to a store:
// unnamed where the filesystem allows it (O_TMPFILE: nothing of it is left
// when the process is killed), else a temporary file removed at once (a
// kill between the two leaves it behind).
func Spool(dir string) (*os.File, error) {
	if f, ok, err := openUnnamed(dir); ok || err != nil {
		return f, err
	}
	f, err := os.CreateTemp(dir, "imreport-media-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return f, nil
}
