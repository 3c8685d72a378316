package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/imreport/imreport/internal/fake/simulator"
)

// classify names what an attempt's error is: gone, too_large, expired, or
// the attemptError's reason with "/retry" when it may be retried.
func classify(err error) string {
	var ae *attemptError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errGone):
		return "gone"
	case errors.Is(err, errTooLarge):
		return "too_large"
	case errors.Is(err, errExpired):
		return "expired"
	case errors.As(err, &ae) && ae.retry:
		return ae.reason + "/retry"
	case errors.As(err, &ae):
		return ae.reason
	}
	return "other: " + err.Error()
}

// TestResolve pins how /v1/resource's answers are classified: a link for a
// known media id; 404 (unknown or gone) is gone at the source; 5xx and 429
// are retried; a refused credential or a bad request is not.
func TestResolve(t *testing.T) {
	for _, c := range []struct {
		name   string
		cfg    simulator.MediaConfig
		id     string // "" = the history's image
		secret string // "" = the simulator's
		want   string
	}{
		{name: "known", want: "ok"},
		{name: "unknown id", id: "qiniu/image/j/nothing", want: "gone"},
		{name: "gone", cfg: simulator.MediaConfig{Gone: 1}, want: "gone"},
		{name: "server error", cfg: simulator.MediaConfig{ServerError: 1}, want: "resolve_5xx/retry"},
		{name: "rate limited", cfg: simulator.MediaConfig{RateLimited: 1}, want: "resolve_429/retry"},
		{name: "wrong secret", secret: "wrong", want: "resolve_401"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newMediaSim(t, c.cfg)
			ta := newTestArchiver(t, s, 1)
			id := c.id
			if id == "" {
				id = s.ref(t, "image/media").MediaID
			}
			if c.secret != "" {
				ta.Resolver.MasterSecret = c.secret
			}
			link, err := ta.Resolver.Resolve(context.Background(), id)
			if got := classify(err); got != c.want {
				t.Fatalf("Resolve: %s (%v), want %s", got, err, c.want)
			}
			if err == nil && !strings.HasPrefix(link, s.url+"/media/") {
				t.Errorf("link %q is not the simulator's", link)
			}
		})
	}
}

// TestFetch pins how a download's answers are classified, and that a
// failed download leaves nothing in the spool directory: 401/403/410 are an
// expired link; 404, 429, 5xx and a body shorter than its Content-Length
// are retried; another status is not; more than the cap (declared or
// served) is too large.
func TestFetch(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 100)
	for _, c := range []struct {
		name   string
		status int
		length string // Content-Length; "" = the body's, "-" = none (chunked)
		body   []byte
		max    int64
		want   string
	}{
		{name: "ok", status: 200, body: body, max: 1000, want: "ok"},
		{name: "ok chunked", status: 200, length: "-", body: body, max: 1000, want: "ok"},
		{name: "unauthorized", status: 401, want: "expired"},
		{name: "forbidden", status: 403, want: "expired"},
		{name: "gone", status: 410, want: "expired"},
		{name: "not found", status: 404, want: "download_404/retry"},
		{name: "rate limited", status: 429, want: "download_429/retry"},
		{name: "bad gateway", status: 502, want: "download_5xx/retry"},
		{name: "bad request", status: 400, want: "download_400"},
		{name: "not modified", status: 304, want: "download_304"},
		{name: "cut", status: 200, length: "2000", body: body, max: 4000, want: "download_cut/retry"},
		{name: "declared over the cap", status: 200, body: body, max: 999, want: "too_large"},
		{name: "served over the cap", status: 200, length: "-", body: body, max: 999, want: "too_large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				switch c.length {
				case "":
					w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
				case "-":
				default:
					w.Header().Set("Content-Length", c.length)
				}
				w.Header().Set("Content-Type", "image/png")
				w.WriteHeader(c.status)
				if c.length == "-" {
					w.(http.Flusher).Flush() // no Content-Length: chunked
				}
				_, _ = w.Write(c.body)
			}))
			t.Cleanup(srv.Close)
			spool := t.TempDir()
			d, err := fetch(context.Background(), srv.Client(), srv.URL+"/x", spool, c.max)
			if got := classify(err); got != c.want {
				t.Fatalf("fetch: %s (%v), want %s", got, err, c.want)
			}
			if err != nil {
				if left := files(t, spool); len(left) > 0 {
					t.Errorf("spool holds %v", left)
				}
				return
			}
			defer d.close()
			sum := sha256.Sum256(body)
			got, _ := io.ReadAll(io.NewSectionReader(d.file, 0, d.size))
			if !bytes.Equal(got, body) || d.size != int64(len(body)) || d.sha256 != hex.EncodeToString(sum[:]) ||
				d.crcIEEE != crc32.ChecksumIEEE(body) || d.crcC != crc32.Checksum(body, castagnoli) ||
				d.etag != simulator.QiniuEtag(bytes.NewReader(body)) || d.contentType != "image/png" {
				t.Errorf("download: %d bytes (spooled %d), sha256 %s, crc %08x/%08x, etag %s, type %q", d.size, len(got), d.sha256, d.crcIEEE, d.crcC, d.etag, d.contentType)
			}
		})
	}
}

// TestEtag pins the streamed Qiniu etag against the simulator's: one block
// (0x16) up to 4 MiB, the SHA-1 of the blocks' SHA-1s (0x96) above, for
// writes that straddle the block boundary.
func TestEtag(t *testing.T) {
	for _, size := range []int{0, 1, etagBlock - 1, etagBlock, etagBlock + 1, 2*etagBlock + 7} {
		data, _ := io.ReadAll(simulator.MediaBytes("etag", int64(size), 0))
		e := newEtag()
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1<<20+3) // not a divisor of the block
			_, _ = e.Write(rest[:n])
			rest = rest[n:]
		}
		if got, want := e.sum(), simulator.QiniuEtag(bytes.NewReader(data)); got != want {
			t.Errorf("%d bytes: etag %s, want %s", size, got, want)
		}
	}
}

// TestContentType pins the stored content type: the download's own unless
// it is application/octet-stream, else the declared format's (any case),
// else application/octet-stream.
func TestContentType(t *testing.T) {
	for _, c := range []struct {
		served string
		format *string
		want   string
	}{
		{"image/png", ptr("jpg"), "image/png"},
		{"image/png", nil, "image/png"},
		{"application/octet-stream", ptr("jpg"), "image/jpeg"},
		{"application/octet-stream; charset=binary", ptr("JPG"), "image/jpeg"},
		{"", ptr("png"), "image/png"},
		{"", ptr("gif"), "image/gif"},
		{"", ptr("no-such-format"), "application/octet-stream"},
		{"", ptr(""), "application/octet-stream"},
		{"", nil, "application/octet-stream"},
		{"application/octet-stream", nil, "application/octet-stream"},
	} {
		if got := contentType(c.served, c.format); got != c.want {
			f := "<nil>"
			if c.format != nil {
				f = *c.format
			}
			t.Errorf("contentType(%q, %s) = %q, want %q", c.served, f, got, c.want)
		}
	}
}
