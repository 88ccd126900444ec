package atomicfile

import "os"

// linkRename moves old to new without replacing new: a hard link fails if
// new exists, then old is removed.
func linkRename(old, new string) error {
	if err := os.Link(old, new); err != nil {
		return err
	}
	return os.Remove(old)
}
