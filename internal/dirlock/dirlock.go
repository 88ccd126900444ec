// Package dirlock makes gl-signerd the only key manager of a state
// directory: an exclusive flock(2) on <state-dir>/lock, held for the life of
// the process, with the holder's pid written into the file so that a second
// instance can say who holds it.
//
//	l, err := dirlock.Acquire(stateDir)
//	var held *dirlock.HeldError
//	if errors.As(err, &held) { ... held.PID ... }
//	defer l.Release()
//
// The lock is advisory and per open file description: it is released when
// the process exits, however it exits (even SIGKILL), so a stale lock file
// never blocks a restart. The file itself is left in place; its content is
// only a hint for error messages.
package dirlock

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"gl-signerd/internal/filetrust"
)

// FileName is the lock file's name in the state directory.
const FileName = "lock"

// Lock is a held state-directory lock.
type Lock struct {
	f    *os.File
	path string
}

// HeldError says another process holds the lock.
type HeldError struct {
	Dir string
	// PID is the holder's process id as it wrote it, 0 if unknown (it may
	// not have written it yet).
	PID int
}

func (e *HeldError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("another gl-signerd (pid %d) is using the state directory %s; only one key manager may run at a time", e.PID, e.Dir)
	}
	return fmt.Sprintf("another gl-signerd is using the state directory %s; only one key manager may run at a time", e.Dir)
}

// Acquire takes the exclusive lock of dir without waiting. If another
// process holds it, the error is a *HeldError. A directory that is not ours
// to trust (another user owns it, or others may write in it) is refused
// with a *filetrust.Error before anything is created in it.
func Acquire(dir string) (*Lock, error) {
	if err := filetrust.CheckOwnDir("state directory", dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the state directory lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &HeldError{Dir: dir, PID: readPID(f)}
		}
		return nil, fmt.Errorf("cannot lock the state directory %s: %w", dir, err)
	}
	// The pid is a hint for the next instance's message; failing to write
	// it does not weaken the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Path is the lock file.
func (l *Lock) Path() string { return l.path }

// Release drops the lock. The file stays, emptied, so that an instance
// starting right now does not read a dead pid.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}

func readPID(f *os.File) int {
	b, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, 32), 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
