//go:build unix

package secretstore

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Mlock asks the kernel to keep b out of swap. It is best effort: it reports
// whether the lock took (RLIMIT_MEMLOCK may forbid it), and callers go on
// either way.
func Mlock(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	return unix.Mlock(b) == nil
}

// Munlock undoes Mlock; errors are ignored.
func Munlock(b []byte) {
	if len(b) > 0 {
		_ = unix.Munlock(b)
	}
}

// DisableCoreDumps keeps secrets out of core files: it sets RLIMIT_CORE to 0
// and, on Linux, marks the process non-dumpable (which also stops other
// processes of the same user from attaching a debugger). Every subcommand
// that handles the seed calls it first.
func DisableCoreDumps() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("secretstore: cannot disable core dumps (setrlimit RLIMIT_CORE): %w", err)
	}
	return setNotDumpable()
}
