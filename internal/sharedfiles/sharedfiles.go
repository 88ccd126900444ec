// Package sharedfiles decides what a test does when a file it needs from
// ../shared (CLN's recorded answers, its wire CSVs), which lives next to the
// repository, is not there: on a developer's machine the test skips and
// says so; under CI (the CI variable set, as .ci/run sets it) it fails,
// since there a skip would hide a check that was meant to run.
//
//	if _, err := os.Stat(p); err != nil {
//		sharedfiles.Missing(t, "%s not found (shared/ is expected next to the repository): %v", p, err)
//	}
package sharedfiles

import (
	"fmt"
	"os"
	"testing"
)

// Missing ends the test for a missing shared file: t.Skip, or t.Fatal when
// the CI environment variable is set. why says which file and where it
// was looked for.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI is set, so this is a failure: CI must run with shared/ next to the repository", why)
	}
	t.Skip(why)
}
