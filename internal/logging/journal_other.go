//go:build !unix

package logging

import "io"

// isJournalStream is false where there is no systemd journal.
func isJournalStream(io.Writer, string) bool { return false }
