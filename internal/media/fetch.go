package media

import (
	"context"
	"crypto/sha1" //nolint:gosec // Qiniu's etag is defined with SHA-1
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/imreport/imreport/internal/media/store"
)

// Outcome errors of one attempt.
var (
	errGone     = errors.New("gone at the source")
	errTooLarge = errors.New("larger than the size cap")
	errExpired  = errors.New("link expired")
)

// Resolver asks the IM API for a media id's temporary link.
type Resolver struct {
	BaseURL, AppKey, MasterSecret string
	HTTP                          *http.Client
}

// attemptError is a failed attempt: retry says whether trying again may
// help; reason is the failures metric's label.
type attemptError struct {
	reason string
	retry  bool
	err    error
}

func (e *attemptError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

func fail(reason string, retry bool, format string, args ...any) error {
	return &attemptError{reason: reason, retry: retry, err: fmt.Errorf(format, args...)}
}

// Resolve returns the link of mediaID.
func (r *Resolver) Resolve(ctx context.Context, mediaID string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.BaseURL+"/v1/resource?mediaId="+url.QueryEscape(mediaID), nil)
	if err != nil {
		return "", fmt.Errorf("resolve: %w", err)
	}
	req.SetBasicAuth(r.AppKey, r.MasterSecret)
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return "", fail("resolve_network", true, "resolve: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", errGone
	case resp.StatusCode == http.StatusTooManyRequests:
		return "", fail("resolve_429", true, "resolve: HTTP 429")
	case resp.StatusCode >= 500:
		return "", fail("resolve_5xx", true, "resolve: HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return "", fail(fmt.Sprintf("resolve_%d", resp.StatusCode), false, "resolve: HTTP %d: %.200s", resp.StatusCode, body)
	}
	var out struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.URL == "" {
		return "", fail("resolve_bad_answer", true, "resolve: no url in the answer")
	}
	return out.URL, nil
}

// download is one download's result, spooled to a temporary file.
type download struct {
	file        *os.File
	size        int64
	sha256      string
	crcIEEE     uint32
	crcC        uint32
	etag        string
	contentType string
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fetch streams link into a temporary file in dir (never more than max+1
// bytes), hashing on the way. The caller removes the file.
func fetch(ctx context.Context, client *http.Client, link, dir string, max int64) (*download, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return nil, fail("download_bad_link", true, "download: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fail("download_network", true, "download: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusGone:
		return nil, errExpired
	case resp.StatusCode == http.StatusNotFound:
		return nil, fail("download_404", true, "download: HTTP 404")
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, fail("download_429", true, "download: HTTP 429")
	case resp.StatusCode >= 500:
		return nil, fail("download_5xx", true, "download: HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fail(fmt.Sprintf("download_%d", resp.StatusCode), false, "download: HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > max {
		return nil, errTooLarge
	}
	// The open file is all there is of it: nothing is left in the spool
	// directory when the process is killed.
	f, err := store.Spool(dir)
	if err != nil {
		return nil, fmt.Errorf("download: spool: %w", err)
	}
	d := &download{file: f, contentType: resp.Header.Get("Content-Type")}
	sha, ieee, cc, et := sha256.New(), crc32.NewIEEE(), crc32.New(castagnoli), newEtag()
	n, err := io.Copy(io.MultiWriter(f, sha, ieee, cc, et), io.LimitReader(resp.Body, max+1))
	switch {
	case err != nil:
		d.close()
		return nil, fail("download_cut", true, "download: cut after %d bytes: %w", n, err)
	case n > max:
		d.close()
		return nil, errTooLarge
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		d.close()
		return nil, fail("download_cut", true, "download: %d of %d bytes", n, resp.ContentLength)
	}
	d.size, d.sha256, d.crcIEEE, d.crcC, d.etag = n, hex.EncodeToString(sha.Sum(nil)), ieee.Sum32(), cc.Sum32(), et.sum()
	return d, nil
}

func (d *download) close() { d.file.Close() }

// etagHash is Qiniu's etag, streamed: SHA-1 per 4 MiB block.
type etagHash struct {
	block hash.Hash
	n     int64
	sums  []byte
}

const etagBlock = 4 << 20

func newEtag() *etagHash { return &etagHash{block: sha1.New()} } //nolint:gosec // see above

func (e *etagHash) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(int64(len(p)), etagBlock-e.n)
		e.block.Write(p[:k])
		e.n += k
		p = p[k:]
		if e.n == etagBlock {
			e.sums = e.block.Sum(e.sums)
			e.block.Reset()
			e.n = 0
		}
	}
	return total, nil
}

func (e *etagHash) sum() string {
	sums := e.sums
	if e.n > 0 || len(sums) == 0 {
		sums = e.block.Sum(sums)
	}
	if len(sums) == sha1.Size {
		return base64.URLEncoding.EncodeToString(append([]byte{0x16}, sums...))
	}
	s := sha1.Sum(sums) //nolint:gosec // see above
	return base64.URLEncoding.EncodeToString(append([]byte{0x96}, s[:]...))
}

// contentType is the download's type, else one from the declared format.
func contentType(served string, format *string) string {
	if served != "" && !strings.HasPrefix(served, "application/octet-stream") {
		return served
	}
	if format != nil {
		if t := mime.TypeByExtension("." + strings.ToLower(*format)); t != "" {
			return t
		}
		switch strings.ToLower(*format) {
		case "amr":
			return "audio/amr"
		case "m4a":
			return "audio/mp4"
		}
	}
	return "application/octet-stream"
}
