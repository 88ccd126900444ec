package atomicfile

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames old to new, failing with fs.ErrExist if new exists.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// The file system cannot do it in one step.
		return linkRename(old, new)
	}
	return err
}
