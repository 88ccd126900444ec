package state

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data (and the metadata needed to read it back).
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// noDSyncWrite is set once the kernel has refused pwritev2's RWF_DSYNC.
var noDSyncWrite atomic.Bool

// writeDurable writes b at off and returns once it is on disk as
// fdatasync would leave it: one pwritev2 with RWF_DSYNC (one system call
// instead of two), or write and fdatasync where the kernel lacks it.
func writeDurable(f *os.File, b []byte, off int64) error {
	if !noDSyncWrite.Load() {
		fd := int(f.Fd())
		for len(b) > 0 {
			n, err := unix.Pwritev2(fd, [][]byte{b}, off, unix.RWF_DSYNC)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || (errors.Is(err, unix.EINVAL) && n <= 0) {
				noDSyncWrite.Store(true)
				break
			}
			if err != nil {
				return err
			}
			b, off = b[n:], off+int64(n)
		}
		if len(b) == 0 {
			return nil
		}
	}
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return fdatasync(f)
}

// lockFile takes an exclusive lock on f for as long as it is open.
func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) }
