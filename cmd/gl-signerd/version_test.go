package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildCommit(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "unknown"},
		{"no vcs settings", &debug.BuildInfo{}, "unknown"},
		{"clean", &debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "755983c0aa"}, {Key: "vcs.modified", Value: "false"},
		}}, "755983c0aa"},
		{"modified", &debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "755983c0aa"},
		}}, "755983c0aa-modified"},
	} {
		if got := buildCommit(tc.bi); got != tc.want {
			t.Errorf("%s: buildCommit = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// -ldflags "-X main.version=…" sets version; versionText shows it.
func TestVersionTextUsesLinkerVersion(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v9.8.7-test"
	if got := versionText(); !strings.HasPrefix(got, "gl-signerd v9.8.7-test\ncommit: ") {
		t.Errorf("versionText() = %q, want it to start with the linker's version", got)
	}
}
