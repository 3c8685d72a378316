package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/imreport/imreport/internal/media/store"
	"github.com/imreport/imreport/internal/retry"
)

// Statuses of a media record.
const (
	StatusArchived = "archived"
	StatusMissing  = "missing_at_source"
	StatusTooLarge = "too_large"
	StatusFailed   = "failed"
)

// Item is one reference to archive, with the message it came from.
type Item struct {
	Ref
	MsgID     int64
	AppKey    string
	MsgType   string
	Topic     string
	Partition int
	Offset    int64
}

// Result is what became of an Item: the media record's content.
type Result struct {
	Item
	Status      string
	Reason      string
	URI, SHA256 string
	Size        int64
	ContentType string
	SizeOK      *bool
	CRC         string // ieee, castagnoli, none; "" = not checked
	Hash        string // qiniu_etag, mismatch, unknown_form; "" = not checked
	Attempts    int
	FetchedAt   time.Time
}

// Archiver archives one item at a time (safe for concurrent use).
type Archiver struct {
	Resolver    *Resolver
	HTTP        *http.Client // downloads
	Store       store.Store
	Limiter     *rate.Limiter // IM API requests
	MaxSize     int64
	MaxAttempts int
	Backoff     time.Duration // first retry's wait, doubling, at most 30 s
	SpoolDir    string
	Now         func() time.Time
	Logger      *slog.Logger
	Observe     func(r Result, failure string) // metrics; failure = the attempt's reason ("" on the outcome)
}

// Archive resolves, downloads, checks and stores it, retrying what may
// succeed on retry, at most MaxAttempts attempts; it always returns a
// Result unless ctx ends.
func (a *Archiver) Archive(ctx context.Context, it Item) (Result, error) {
	res := Result{Item: it}
	done := func(status, reason string) (Result, error) {
		res.Status, res.Reason, res.FetchedAt = status, reason, a.Now()
		a.Observe(res, "")
		return res, nil
	}
	if it.Size != nil && *it.Size > a.MaxSize {
		return done(StatusTooLarge, fmt.Sprintf("declared %d bytes, cap %d", *it.Size, a.MaxSize))
	}
	var link string
	wait := a.Backoff
	var last error
	for res.Attempts < a.MaxAttempts {
		if res.Attempts > 0 {
			if err := retry.Sleep(ctx, wait); err != nil {
				return res, err
			}
			wait = min(2*wait, 30*time.Second)
		}
		res.Attempts++
		err := a.attempt(ctx, &res, &link)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		switch {
		case err == nil:
			return done(StatusArchived, "")
		case errors.Is(err, errGone):
			return done(StatusMissing, "the IM API answers 404 for the media id")
		case errors.Is(err, errTooLarge):
			return done(StatusTooLarge, fmt.Sprintf("served more than the cap of %d bytes", a.MaxSize))
		}
		last = err
		reason := "other"
		var ae *attemptError
		if errors.As(err, &ae) {
			reason = ae.reason
			if !ae.retry {
				a.Observe(res, reason)
				break
			}
		}
		if errors.Is(err, errExpired) {
			reason, link = "link_expired", "" // resolve afresh
		}
		a.Observe(res, reason)
		a.Logger.Debug("media attempt failed", "msgid", it.MsgID, "media_id", it.MediaID, "attempt", res.Attempts, "error", err)
	}
	return done(StatusFailed, fmt.Sprintf("after %d attempt(s): %v", res.Attempts, last))
}

// attempt is one try: a link (resolved unless still held), the download,
// the checks, the store.
func (a *Archiver) attempt(ctx context.Context, res *Result, link *string) error {
	if *link == "" {
		if err := a.Limiter.Wait(ctx); err != nil {
			return err
		}
		l, err := a.Resolver.Resolve(ctx, res.MediaID)
		if err != nil {
			return err
		}
		*link = l
	}
	d, err := fetch(ctx, a.HTTP, *link, a.SpoolDir, a.MaxSize)
	if err != nil {
		return err
	}
	defer d.close()
	// The checks: a size or CRC-32 that differs is a corrupt download
	// (retried); the hash only says whether it is Qiniu's etag.
	res.SizeOK, res.CRC, res.Hash = nil, "", ""
	if res.Ref.Size != nil {
		ok := *res.Ref.Size == d.size
		res.SizeOK = &ok
		if !ok {
			return fail("corrupt_size", true, "downloaded %d bytes, the message declares %d", d.size, *res.Ref.Size)
		}
	}
	if res.CRC32Declared() {
		switch c := uint32(*res.Ref.CRC); c {
		case d.crcIEEE:
			res.CRC = "ieee"
		case d.crcC:
			res.CRC = "castagnoli"
		default:
			res.CRC = "none"
			return fail("corrupt_crc32", true, "CRC-32 %08x (Castagnoli %08x), the message declares %08x", d.crcIEEE, d.crcC, c)
		}
	}
	if res.Ref.Hash != nil {
		h := *res.Ref.Hash
		switch {
		case h == d.etag:
			res.Hash = "qiniu_etag"
		case len(h) == 28 && (h[0] == 'F' || h[0] == 'l'):
			res.Hash = "mismatch"
		default:
			res.Hash = "unknown_form"
		}
	}
	ct := contentType(d.contentType, res.Format)
	key := res.AppKey + "/sha256/" + d.sha256[:2] + "/" + d.sha256
	uri, err := a.Store.Put(ctx, store.Object{Key: key, Size: d.size, ContentType: ct, Meta: map[string]string{
		"media-id": res.MediaID, "msgid": strconv.FormatInt(res.MsgID, 10), "app-key": res.AppKey,
	}}, d.file)
	if err != nil {
		return fail("store", true, "%w", err)
	}
	res.URI, res.SHA256, res.Size, res.ContentType = uri, d.sha256, d.size, ct
	return nil
}

// CRC32Declared reports whether the message declared a CRC-32.
func (r *Result) CRC32Declared() bool {
	return r.Ref.CRC != nil && *r.Ref.CRC >= 0 && *r.Ref.CRC <= 0xFFFFFFFF
}
