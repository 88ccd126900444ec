package sharedfiles

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Missing skips without CI and fails with it. Each case runs this test
// binary again with the CI variable set or not, so that the outcome of a
// test that calls Missing can be read from outside.
func TestMissing(t *testing.T) {
	if os.Getenv("SHAREDFILES_CHILD") != "" {
		Missing(t, "%s not found", "../shared/x")
		return
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{ci: "", wantFail: false, want: "--- SKIP: TestMissing"},
		{ci: "true", wantFail: true, want: "../shared/x not found; CI is set, so this is a failure"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "SHAREDFILES_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail {
			t.Errorf("CI=%q: failed = %v, want %v\n%s", tc.ci, failed, tc.wantFail, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("CI=%q: output lacks %q:\n%s", tc.ci, tc.want, out)
		}
	}
}
