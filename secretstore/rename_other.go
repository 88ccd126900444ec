//go:build !linux

package secretstore

func renameNoReplace(old, new string) error { return linkRename(old, new) }
