package checkpoint

import (
	"errors"
	"fmt"

	berrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrLocked is returned by Open when another process, or another open
	// Store in this process, holds the checkpoint file's lock and it was not
	// released within Options.LockTimeout. A writable Store needs the lock
	// exclusively; a read-only Store shares it with other read-only Stores
	// only. The error message names the path.
	ErrLocked = errors.New("checkpoint locked")

	// ErrCorrupt is returned by Open, Bind, Load, Commit and Stats when the
	// file is not a bbolt database (including an existing file of zero
	// bytes), is a bbolt database without this package's layout, has a
	// layout version other than 1, holds a value of the wrong size, a
	// malformed or negative mark, or its seen and seen_by_horizon buckets
	// disagree. (A missing marks bucket is not corruption: see the package
	// documentation.) It is also returned when
	// bbolt panics while reading or writing the file: the panic is recovered,
	// and the Store is poisoned, so every later call except Close returns
	// ErrCorrupt as well. The checkpoint is never silently started over.
	ErrCorrupt = errors.New("checkpoint corrupt")

	// ErrIdentityMismatch is returned by Bind when the file is already bound
	// to an Identity other than the one given. The message names both.
	ErrIdentityMismatch = errors.New("identity mismatch")

	// ErrUnbound is returned by Commit when no Identity has been stored in
	// the file yet: call Bind before the first Commit.
	ErrUnbound = errors.New("identity not bound")

	// ErrCursorBackwards is returned by Commit when a cursor in
	// Commit.Cursors is earlier than the stored cursor of its stream and
	// Commit.Force is not set. Nothing of that Commit is applied.
	ErrCursorBackwards = errors.New("cursor moved backwards")

	// ErrReadOnly is returned by Commit on a Store opened with
	// Options.ReadOnly, and by Bind on such a Store when the file has no
	// identity yet (Bind that only confirms a stored identity succeeds).
	ErrReadOnly = errors.New("opened read-only")

	// ErrClosed is returned by Bind, Load, Commit and Stats after Close.
	ErrClosed = errors.New("checkpoint closed")
)

// corruptf returns an error wrapping ErrCorrupt with a formatted detail.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// isBoltCorrupt reports whether err is one of bbolt's errors for a file that
// is not (or no longer) a valid bbolt database.
func isBoltCorrupt(err error) bool {
	return errors.Is(err, berrors.ErrInvalid) ||
		errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrVersionMismatch) ||
		errors.Is(err, berrors.ErrInvalidMapping)
}

// panicError turns a value recovered from a bbolt panic into an error
// wrapping ErrCorrupt.
func panicError(r any) error {
	return fmt.Errorf("%w: bbolt panicked: %v", ErrCorrupt, r)
}
