//go:build !linux

package atomicfile

func renameNoReplace(old, new string) error { return linkRename(old, new) }
