//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package checkpoint

import "os"

// unlockFile is a no-op where bbolt does not lock with flock (Windows
// releases its lock when the handle is closed; Solaris and AIX use fcntl,
// whose locks go with the descriptor).
func unlockFile(*os.File) {}
