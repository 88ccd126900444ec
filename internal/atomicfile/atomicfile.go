// Package atomicfile writes files so that a crash leaves either the old
// file or the whole new one, and makes directory entries durable: the one
// way gl-signerd writes its secret store, device identity and audit log
// rotations. Files are written mode 0600 through a temporary file in the
// same directory, fsynced, renamed into place, and the directory fsynced.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Options changes how Write puts the file in place.
type Options struct {
	// NoReplace refuses to replace an existing file: Write then fails
	// with an error matching fs.ErrExist and leaves that file alone, also
	// when it appears while Write runs.
	NoReplace bool
	// BeforeRename, if set, runs once the temporary file is written and
	// synced; its error aborts the write. Tests use it to fail or race
	// between the two steps.
	BeforeRename func(tmp string) error
	// OnCreate, if set, runs on the new temporary file before anything is
	// written to it; its error aborts the write. The file stays open until
	// it is in place, so a lock taken here (secretstore marks a write in
	// progress with one) lasts until then.
	OnCreate func(f *os.File) error
}

// DirSyncError says that the file is in place but the directory holding
// it could not be synced, so the file's survival across a crash is in
// doubt.
type DirSyncError struct {
	Path string // the file written
	Dir  string // its directory
	Err  error
}

func (e *DirSyncError) Error() string {
	return fmt.Sprintf("%s was written, but syncing directory %s failed: %v", e.Path, e.Dir, e.Err)
}

func (e *DirSyncError) Unwrap() error { return e.Err }

// Write puts data at path (mode 0600). After any error but a
// *DirSyncError, path is as it was and no temporary file is left.
func Write(path string, data []byte, o Options) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot create a temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if o.OnCreate != nil {
		if err = o.OnCreate(f); err != nil {
			return err
		}
	}
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("cannot set the mode of %s: %w", tmp, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("cannot write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", tmp, err)
	}
	if o.BeforeRename != nil {
		if err = o.BeforeRename(tmp); err != nil {
			return err
		}
	}
	if o.NoReplace {
		err = renameNoReplace(tmp, path)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("cannot move %s into place: %w", path, err)
	}
	// The data is synced and in place; closing the file (and so releasing
	// a lock OnCreate took) cannot lose it.
	_ = f.Close()
	if err := SyncDir(dir); err != nil {
		return &DirSyncError{Path: path, Dir: dir, Err: err}
	}
	return nil
}

// SyncDir fsyncs a directory, making the entries created, renamed or
// removed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
