package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// intent.max_age_seconds defaults to 10 minutes, is read from the file
// and the environment, and is refused outside 1 s … a day.
func TestIntentMaxAge(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        []string
		want       uint32
		err        string
	}{
		{name: "default", want: 600},
		{name: "file", file: "[intent]\nmax_age_seconds = 120\n", want: 120},
		{name: "env", env: []string{"GL_SIGNERD_INTENT_MAX_AGE_SECONDS=30"}, want: 30},
		{name: "zero", file: "[intent]\nmax_age_seconds = 0\n", err: "intent.max_age_seconds: 0 is not between 1 and 86400 seconds (a day) (from FILE)"},
		{name: "too long", env: []string{"GL_SIGNERD_INTENT_MAX_AGE_SECONDS=86401"}, err: "intent.max_age_seconds: 86401 is not between 1 and 86400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				writeConfig(t, dir, tc.file)
			}
			c, err := Load(Options{StateDir: dir, Environ: append([]string{"HOME=/x"}, tc.env...)})
			if tc.err != "" {
				want := strings.ReplaceAll(tc.err, "FILE", filepath.Join(dir, FileName))
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error = %v\nwant    %s", err, want)
				}
				return
			}
			if err != nil || c.Intent.MaxAgeSeconds != tc.want {
				t.Fatalf("max age %d, %v; want %d", c.Intent.MaxAgeSeconds, err, tc.want)
			}
		})
	}
}
