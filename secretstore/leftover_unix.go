//go:build unix

package secretstore

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockTemp marks a temporary file as being written: the lock lasts until
// the file is closed (or the process dies), and RemoveLeftovers leaves a
// locked file alone.
func lockTemp(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// openLeftover opens a temporary file without following a symlink and
// without blocking on a FIFO, and says whether its writer is gone (the
// file is not locked). A symlink is reported as gone, with f nil.
func openLeftover(path string) (f *os.File, gone bool, err error) {
	f, err = os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return f, false, nil
	}
	return f, err == nil, err
}
