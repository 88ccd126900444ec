//go:build !unix

package secretstore

// Mlock is a no-op on this system.
func Mlock(b []byte) bool { return false }

// Munlock is a no-op on this system.
func Munlock(b []byte) {}

// DisableCoreDumps is a no-op on this system.
func DisableCoreDumps() error { return nil }
