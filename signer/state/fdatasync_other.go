//go:build !linux

package state

import "os"

// fdatasync flushes f; without fdatasync(2), fsync.
func fdatasync(f *os.File) error { return f.Sync() }

// writeDurable writes b at off and flushes it.
func writeDurable(f *os.File, b []byte, off int64) error {
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return fdatasync(f)
}

// lockFile: no lock without flock(2); the state-dir lock still holds.
func lockFile(*os.File) error { return nil }
