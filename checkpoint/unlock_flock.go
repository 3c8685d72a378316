//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package checkpoint

import (
	"os"
	"syscall"
)

// unlockFile releases bbolt's flock on f. Closing f alone is not enough
// after bbolt panicked inside Open: the file is still memory-mapped, and the
// mapping keeps the open file description, and with it the lock, alive.
func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
