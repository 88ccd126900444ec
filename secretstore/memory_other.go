//go:build unix && !linux

package secretstore

func setNotDumpable() error { return nil }
