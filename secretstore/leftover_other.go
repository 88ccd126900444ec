//go:build !unix

package secretstore

import "os"

func lockTemp(*os.File) error { return nil }

// openLeftover cannot tell whether a writer is still running here; a
// temporary file is taken for a leftover.
func openLeftover(path string) (*os.File, bool, error) {
	f, err := os.Open(path)
	return f, err == nil, err
}
