package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The key follows what the binary is built from and nothing else.
func TestSourceKey(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module x\n")
	write("a/a.go", "package a\n")
	base, err := sourceKey(root, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, rel, content string
		changes            bool
	}{
		{"a test file", "a/a_test.go", "package a\n", false},
		{"testdata", "a/testdata/x.go", "package x\n", false},
		{"a hidden directory", ".git/x.go", "package x\n", false},
		{"a document", "README.md", "words\n", false},
		{"a source file edited", "a/a.go", "package a // edited\n", true},
		{"a new source file", "b/b.go", "package b\n", true},
		{"go.sum", "go.sum", "x v1 h1:\n", true},
	} {
		write(tc.rel, tc.content)
		got, err := sourceKey(root, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if changed := got != base; changed != tc.changes {
			t.Errorf("%s: key changed = %v, want %v", tc.name, changed, tc.changes)
		}
		base = got
	}
	if other, err := sourceKey(root, []string{"CGO_ENABLED=1"}, ""); err != nil || other == base {
		t.Errorf("the key with other settings = %s, %v; want one other than %s", other, err, base)
	}
	// A test binary's key follows its package's test files, and only those.
	write("a/a_test.go", "package a // edited\n")
	if got, err := sourceKey(root, nil, ""); err != nil || got != base {
		t.Errorf("the binary's key changed with a test file: %s, %v; want %s", got, err, base)
	}
	withTests, err := sourceKey(root, nil, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, rel, content string
		changes            bool
	}{
		{"the package's test file edited", "a/a_test.go", "package a // edited again\n", true},
		{"another package's test file", "b/b_test.go", "package b\n", false},
		{"a test file in a subdirectory", "a/sub/s_test.go", "package sub\n", false},
	} {
		write(tc.rel, tc.content)
		got, err := sourceKey(root, nil, "a")
		if err != nil {
			t.Fatal(err)
		}
		if changed := got != withTests; changed != tc.changes {
			t.Errorf("test binary, %s: key changed = %v, want %v", tc.name, changed, tc.changes)
		}
		withTests = got
	}
}

// Path builds once: a second call returns the same file, untouched, and
// the file is a gl-signerd that runs.
func TestPathBuildsOnce(t *testing.T) {
	bin, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(again)
	if err != nil {
		t.Fatal(err)
	}
	if again != bin || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("second Path() = %s (%v), first %s (%v): rebuilt", again, after.ModTime(), bin, before.ModTime())
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gl-signerd "+Version+"\n") {
		t.Fatalf("%s --version: %v\n%s\nwant a first line gl-signerd %s (from -X main.version)", bin, err, out, Version)
	}
}

// TestBinary builds the package's test binary without the race detector
// and the tests of that package run in it.
func TestTestBinary(t *testing.T) {
	bin, err := TestBinary("./internal/testbin")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-test.list", ".").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "TestTestBinary\n") {
		t.Fatalf("%s -test.list: %v\n%s", bin, err, out)
	}
	if again, err := TestBinary("./internal/testbin"); err != nil || again != bin {
		t.Fatalf("second TestBinary = %s, %v; want %s", again, err, bin)
	}
	out, err = exec.Command(bin, "-test.run", "^TestRaceDetector$", "-test.v").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "race detector off") {
		t.Fatalf("%s: %v\n%s\nwant the test binary built without the race detector", bin, err, out)
	}
}

// TestRaceDetector: Race agrees with the race build tag, and says which
// (TestTestBinary reads it from the binary TestBinary built).
func TestRaceDetector(t *testing.T) {
	if Race() != raceEnabled {
		t.Fatalf("Race() = %v in a binary built with race = %v", Race(), raceEnabled)
	}
	t.Logf("race detector %s", map[bool]string{true: "on", false: "off"}[Race()])
}
