package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
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
	base, err := sourceKey(root, nil)
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
		got, err := sourceKey(root, nil)
		if err != nil {
			t.Fatal(err)
		}
		if changed := got != base; changed != tc.changes {
			t.Errorf("%s: key changed = %v, want %v", tc.name, changed, tc.changes)
		}
		base = got
	}
	if static, err := sourceKey(root, []string{"CGO_ENABLED=0"}); err != nil || static == base {
		t.Errorf("the static build's key = %s, %v; want one other than %s", static, err, base)
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
	if out, err := exec.Command(bin, "--help").CombinedOutput(); err != nil {
		t.Fatalf("%s --help: %v\n%s", bin, err, out)
	}
}
