package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// defaultLockTimeout is used when Options.LockTimeout is zero or negative.
const defaultLockTimeout = time.Second

// Options configure Open.
type Options struct {
	// Path of the checkpoint file. A writable Open creates it (mode 0600)
	// if it does not exist; its directory must exist.
	Path string

	// LockTimeout is how long Open waits for the file lock before it
	// returns ErrLocked. Zero or negative means 1s. bbolt polls the lock
	// every 50ms.
	LockTimeout time.Duration

	// ReadOnly opens the file for inspection (imreport checkpoint tools):
	// the file must exist, it is locked shared rather than exclusively, and
	// Commit fails with ErrReadOnly.
	ReadOnly bool
}

// Store is an open checkpoint file. It is safe for concurrent use.
type Store struct {
	db       *bolt.DB
	path     string
	readOnly bool

	// fresh is set by a read-only Open of a bbolt file with no buckets at
	// all: the Store then presents an empty, unbound checkpoint. It never
	// changes afterwards: no writer can hold the file while we do.
	fresh bool

	mu     sync.Mutex
	poison error // set after a recovered bbolt panic
}

// Open opens the checkpoint file at opts.Path, creating it and its layout
// if it does not exist (unless opts.ReadOnly). See the package
// documentation for what fails with ErrLocked and ErrCorrupt.
func Open(opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("checkpoint open: empty path")
	}
	fail := func(err error) (*Store, error) {
		return nil, fmt.Errorf("checkpoint open: %s: %w", opts.Path, err)
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = defaultLockTimeout
	}

	// bbolt silently initialises an existing empty file; for a checkpoint
	// that would mean starting over, so refuse it. (A file is empty only
	// for an instant while bbolt creates it: two writers racing to create
	// the same file may see ErrCorrupt here instead of ErrLocked.)
	if fi, err := os.Stat(opts.Path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		return fail(corruptf("file is empty (0 bytes); remove it to start over"))
	}

	// InitialMmapSize: bbolt remaps the file whenever it grows past its
	// mapping, and every remap inside a transaction copies out every node
	// the transaction touched (a fifth of a 150,000-msgid commit). A
	// mapping reserves address space, not memory: only pages read count.
	db, err := openBolt(opts.Path, &bolt.Options{Timeout: timeout, ReadOnly: opts.ReadOnly, InitialMmapSize: initialMmapSize})
	switch {
	case err == nil:
	case errors.Is(err, berrors.ErrTimeout):
		return fail(fmt.Errorf("%w: %s is held by another process or Store (waited %s)", ErrLocked, opts.Path, timeout))
	case errors.Is(err, ErrCorrupt): // recovered panic
		return fail(err)
	case isOSError(err):
		return fail(err)
	default:
		// bbolt's ErrInvalid, ErrChecksum, ErrVersionMismatch, and plain
		// errors about the file's content such as "file size too small".
		return fail(fmt.Errorf("%w: %w", ErrCorrupt, err))
	}

	s := &Store{db: db, path: opts.Path, readOnly: opts.ReadOnly}
	if err := s.checkLayout(); err != nil {
		_ = db.Close()
		return fail(err)
	}
	return s, nil
}

// initialMmapSize is the mapping a Store opens its file with: a seen set of
// a few million msgids fits without a remap.
const initialMmapSize = 256 << 20

// openBolt is bolt.Open with bbolt panics (a garbage freelist page, say)
// recovered as ErrCorrupt. It captures the file so that a panic does not
// leak the descriptor, and with it the lock.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	var f *os.File
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		ff, err := os.OpenFile(name, flag, perm)
		if err == nil {
			f = ff
		}
		return ff, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if f != nil {
				// The mapping bbolt made is leaked (we have no handle on
				// it) until the process exits; the lock must not be.
				unlockFile(f)
				_ = f.Close()
			}
			db, err = nil, panicError(r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// isOSError reports whether err came from the operating system (opening,
// stat-ing, locking, mapping or writing the file) rather than from bbolt
// judging the file's content.
func isOSError(err error) bool {
	var pe *fs.PathError
	var errno syscall.Errno
	return !isBoltCorrupt(err) && (errors.As(err, &pe) || errors.As(err, &errno))
}

// checkLayout validates the layout, creating it in a writable database
// that has no buckets at all, and adding the marks bucket to a writable
// database whose layout predates it.
func (s *Store) checkLayout() error {
	var missing, noMarks bool
	err := s.guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			b, err := openBuckets(tx)
			if errors.Is(err, errNoLayout) {
				if name := firstBucket(tx); name != nil {
					return corruptf("not a checkpoint file: bucket %q but no %q bucket", name, bucketMeta)
				}
				missing = true
				return nil
			}
			noMarks = err == nil && b.marks == nil
			return err
		})
	})
	if err != nil || s.readOnly {
		s.fresh = err == nil && missing
		return err
	}
	switch {
	case missing:
		return s.guard(func() error {
			return s.db.Update(func(tx *bolt.Tx) error {
				// We hold the exclusive lock, so nobody created it
				// meanwhile; initLayout still refuses a database that has
				// buckets.
				return initLayout(tx)
			})
		})
	case noMarks:
		return s.guard(func() error { return s.db.Update(addMarks) })
	}
	return nil
}

// Path returns the path the Store was opened with.
func (s *Store) Path() string { return s.path }

// Close releases the file and its lock. It waits for transactions in
// flight. Calling Close again returns nil.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("checkpoint close: %s: %w", s.path, err)
	}
	return nil
}

// guard runs fn, turning a bbolt panic into ErrCorrupt and poisoning the
// Store: after a panic bbolt's in-memory state (freelist, page cache) can no
// longer be trusted, so no further transaction is attempted.
func (s *Store) guard(fn func() error) (err error) {
	s.mu.Lock()
	poison := s.poison
	s.mu.Unlock()
	if poison != nil {
		return fmt.Errorf("%w (Store unusable after an earlier failure; close and reopen)", poison)
	}
	// A garbage page id makes bbolt read outside its mmap: turn that fault
	// into a panic on this goroutine (where bbolt runs the transaction)
	// instead of a crash of the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
			s.mu.Lock()
			if s.poison == nil {
				s.poison = err
			}
			s.mu.Unlock()
		}
	}()
	return fn()
}

// view runs fn in a read transaction; errors get the "checkpoint OP: PATH: "
// prefix.
func (s *Store) view(op string, fn func(tx *bolt.Tx) error) error {
	return s.wrap(op, s.guard(func() error { return s.db.View(fn) }))
}

// update runs fn in one read-write transaction, committed (and fsynced)
// only if fn returns nil.
func (s *Store) update(op string, fn func(tx *bolt.Tx) error) error {
	return s.wrap(op, s.guard(func() error { return s.db.Update(fn) }))
}

// wrap maps bbolt's errors to this package's sentinels and adds the prefix.
func (s *Store) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		err = ErrClosed
	case errors.Is(err, berrors.ErrDatabaseReadOnly):
		err = ErrReadOnly
	case isBoltCorrupt(err) && !errors.Is(err, ErrCorrupt):
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return s.errorf(op, err)
}

// errorf adds the "checkpoint OP: PATH: " prefix to err.
func (s *Store) errorf(op string, err error) error {
	return fmt.Errorf("checkpoint %s: %s: %w", op, s.path, err)
}
