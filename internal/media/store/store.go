// Package store keeps archived media: a directory (file://) or an
// S3-compatible bucket (s3://). Objects are content-addressed (the caller
// names them by SHA-256), so writing one twice is harmless, and each is
// written whole or not at all: a file is renamed into place after it is
// complete, an S3 object appears only when its single PUT completes.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Object is what Put stores: the bytes of Body (Size of them), under Key.
type Object struct {
	Key         string            // e.g. <app_key>/sha256/ab/<sha256>
	Size        int64             // exact length of Body
	ContentType string            // "" = application/octet-stream
	Meta        map[string]string // media_id, msgid, ...: S3 user metadata, a sidecar file for file://
}

// Store writes objects.
type Store interface {
	// Put stores o with body (read from its start, Size bytes) and returns
	// its URI.
	Put(ctx context.Context, o Object, body io.ReaderAt) (string, error)
	// Check writes, reads and deletes a probe object (imreport doctor).
	Check(ctx context.Context) error
}

// Open opens the store of a URL: file:///dir or
// s3://bucket/prefix?endpoint=http://host:port&region=...&path_style=true.
func Open(raw string) (Store, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("store: %q is not a URL", redact(raw))
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, errors.New("store: a file URL is file:///absolute/dir (three slashes)")
		}
		if u.Path == "" {
			return nil, errors.New("store: a file URL needs a directory")
		}
		return newFile(u.Path)
	case "s3":
		return newS3(u)
	}
	return nil, fmt.Errorf("store: %q: the scheme is not file or s3", redact(raw))
}

// probeKey names Check's probe object: its own per call, so that members
// starting together do not delete each other's.
func probeKey() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return ".imreport-check-" + hex.EncodeToString(b[:])
}

// Display is a store URL as it may be shown: without user information.
func Display(raw string) string { return redact(raw) }

// redact drops a user:password from a URL before it is quoted.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = url.User("REDACTED")
		return u.String()
	}
	if i := strings.Index(raw, "@"); i >= 0 {
		return "REDACTED" + raw[i:]
	}
	return raw
}
