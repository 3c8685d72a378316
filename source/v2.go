package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// RestartError is returned (wrapped) by Fetch when the walk of a window keeps
// restarting: the server sent back a cursor already seen more than
// maxCursorLoops times, or the walk restarted more than maxRestarts times
// without getting further than before. It is not temporary.
type RestartError struct {
	Endpoint string // request path, e.g. /v2/groups/g1/messages
	Window   Window // the window (or part of one) being walked
	Reason   string // the last restart's reason (a Restart* constant)
	Restarts int    // restarts counted against the limit that was exceeded
	Err      error  // the last restart's cause (the rejected cursor request's error), if any
}

func (e *RestartError) Error() string {
	what := "restarted too often without progress"
	if e.Reason == RestartCursorRepeated {
		what = "the server keeps repeating a cursor"
	}
	s := fmt.Sprintf("report api %s: walk of %v: %s (%d restarts, last: %s); giving up", e.Endpoint, e.Window, what, e.Restarts, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *RestartError) Unwrap() error   { return e.Err }
func (e *RestartError) Temporary() bool { return false }

// errCursorStale stops the retries of a cursor request whose cursor grew too
// old meanwhile. It is not temporary (it has no Temporary method).
var errCursorStale = errors.New("cursor too old to use")

// cursorRejected wraps the error of a cursor request that the server refused
// as if the cursor were expired or invalid. It is not temporary, so that the
// retry policy hands it back at once.
type cursorRejected struct{ err error }

func (e *cursorRejected) Error() string   { return "cursor rejected: " + e.err.Error() }
func (e *cursorRejected) Unwrap() error   { return e.err }
func (e *cursorRejected) Temporary() bool { return false }

// rejectsCursor reports whether err, the answer to a cursor request, means the
// cursor is no longer valid: a 400, 404 or 410 (or a vendor error body in a
// 200) that is not temporary and not an authentication failure. The vendor's
// answer to an expired cursor is not documented. A temporary answer (a 400
// with the vendor's server-timeout code, say) is retried with the same
// cursor, until the cursor grows too old.
func rejectsCursor(err error) bool {
	var api *APIError
	if !errors.As(err, &api) || api.auth() || api.Temporary() {
		return false
	}
	switch api.Status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusGone, http.StatusOK:
		return true
	}
	return false
}

// cursorStale reports whether a cursor received at received is too old to
// use now.
func (c *Client) cursorStale(received time.Time) bool {
	margin := min(cursorMargin, c.cfg.CursorTTL/4)
	return c.cfg.Now().Sub(received) >= c.cfg.CursorTTL-margin
}

// walker holds the state of one v2 Fetch.
type walker struct {
	c    *Client
	s    Stream
	w    Window
	path string
	fn   func(Page) error

	restarts int // every restart so far (Page.Walk)
	loops    int // restarts on a repeated cursor
	counted  int // restarts counted against maxRestarts
}

// fetchV2 walks w by cursor, part by part: a window whose query would span
// more than MaxQuerySpan is split.
func (c *Client) fetchV2(ctx context.Context, s Stream, w Window, fn func(Page) error) error {
	k := &walker{c: c, s: s, w: w, path: s.path("v2"), fn: fn}
	for _, part := range splitWindow(w, c.cfg.Location, s.bounds(), MaxQuerySpan) {
		if err := k.walkPart(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

// walkPart walks part until one walk reaches its end, restarting as needed.
func (k *walker) walkPart(ctx context.Context, part Window) error {
	begin, end := QueryBounds(part, k.c.cfg.Location, k.s.bounds())
	first := "count=" + strconv.Itoa(k.c.cfg.PageSize) + "&begin_time=" + queryEscape(begin) + "&end_time=" + queryEscape(end)
	high := 0 // the most messages any walk of part delivered
	for {
		delivered, reason, cause, err := k.walk(ctx, part, first)
		if err != nil || reason == "" {
			return err
		}
		progress := delivered > high
		high = max(high, delivered)
		if err := k.restart(part, reason, progress, delivered, cause); err != nil {
			return fmt.Errorf("fetch %s %v: %w", k.s, k.w, err)
		}
	}
}

// restart accounts for one restart of the walk of part, or returns a
// *RestartError if a limit is exceeded. A restart after a walk that got
// further than every earlier walk of part is free (the data is finite, so
// such restarts are too), except on a repeated cursor.
func (k *walker) restart(part Window, reason string, progress bool, delivered int, cause error) error {
	fail := func(n int) error {
		return &RestartError{Endpoint: k.path, Window: part, Reason: reason, Restarts: n, Err: cause}
	}
	if reason == RestartCursorRepeated {
		if k.loops++; k.loops > maxCursorLoops {
			return fail(k.loops - 1)
		}
	}
	if !progress || reason == RestartCursorRepeated {
		if k.counted++; k.counted > maxRestarts {
			return fail(k.counted - 1)
		}
	}
	k.restarts++
	log := k.c.cfg.Logger.Info
	if reason == RestartCursorRepeated {
		log = k.c.cfg.Logger.Warn
	}
	args := []any{"stream", k.s.String(), "window", k.w.String(), "part", part.String(), "endpoint", k.path,
		"reason", reason, "delivered", delivered, "restart", k.restarts}
	if cause != nil {
		args = append(args, "error", cause.Error())
	}
	log("report api walk restarts from the first request", args...)
	k.c.restarted(k.s.Kind, reason)
	return nil
}

// walk makes one walk of part: the first request, then cursor requests until
// the end. It returns the number of messages delivered and, if the walk must
// restart, why (and the error that made it, if any).
func (k *walker) walk(ctx context.Context, part Window, first string) (delivered int, restart string, cause, err error) {
	c := k.c
	seen := make(map[string]struct{})
	var cursor string
	var received time.Time // when cursor was received
	for {
		var env envelope
		if cursor == "" {
			if err := c.call(ctx, k.s.Kind, k.path, first, &env); err != nil {
				return delivered, "", nil, fmt.Errorf("fetch %s %v: first request for %v: %w", k.s, k.w, part, err)
			}
		} else {
			q := "cursor=" + queryEscape(cursor)
			err := c.cfg.Retry.Do(ctx, func(ctx context.Context) error {
				// Checked after fn returned and before every attempt (fn and
				// the retries' waits may take minutes), and again after the
				// rate limiter's wait.
				if c.cursorStale(received) {
					return errCursorStale
				}
				if err := c.wait(ctx); err != nil {
					return err
				}
				if c.cursorStale(received) {
					return errCursorStale
				}
				err := c.get(ctx, k.s.Kind, k.path, q, &env)
				if err != nil && rejectsCursor(err) {
					return &cursorRejected{err}
				}
				return err
			})
			var rej *cursorRejected
			switch {
			case errors.Is(err, errCursorStale):
				return delivered, RestartCursorStale, nil, nil
			case errors.As(err, &rej):
				return delivered, RestartCursorRejected, rej.err, nil
			case err != nil:
				return delivered, "", nil, fmt.Errorf("fetch %s %v: cursor request for %v after %d messages: %w", k.s, k.w, part, delivered, err)
			}
		}
		now := c.cfg.Now()
		if env.Cursor != "" {
			if _, dup := seen[env.Cursor]; dup {
				return delivered, RestartCursorRepeated, nil, nil
			}
			seen[env.Cursor] = struct{}{}
		}
		if len(env.Messages) > 0 {
			p := Page{Stream: k.s, Window: k.w, Part: part, Endpoint: k.path, Start: delivered, Total: env.Total,
				Walk: k.restarts, Messages: env.Messages, FetchedAt: now}
			if err := k.fn(p); err != nil {
				return delivered, "", nil, err
			}
			delivered += len(env.Messages)
		}
		if env.Cursor == "" || len(env.Messages) == 0 || (env.HasCount && env.Count == 0) {
			return delivered, "", nil, nil
		}
		cursor, received = env.Cursor, now
	}
}
