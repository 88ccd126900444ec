package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	injected := errors.New("injected failure")
	for _, tc := range []struct {
		name     string
		existing string // "" for no file at the path
		opts     func(path string) Options
		wantErr  error  // nil for success
		want     string // the file's content afterwards
	}{
		{name: "new file", want: "new"},
		{name: "replaces", existing: "old", want: "new"},
		{name: "new file, no replace", opts: func(string) Options { return Options{NoReplace: true} }, want: "new"},
		{name: "no replace keeps the file there", existing: "old",
			opts: func(string) Options { return Options{NoReplace: true} }, wantErr: fs.ErrExist, want: "old"},
		{name: "no replace loses a race", opts: func(path string) Options {
			return Options{NoReplace: true, BeforeRename: func(string) error { return os.WriteFile(path, []byte("racer"), 0o600) }}
		}, wantErr: fs.ErrExist, want: "racer"},
		{name: "failure before the rename", existing: "old", opts: func(string) Options {
			return Options{BeforeRename: func(tmp string) error {
				if _, err := os.Stat(tmp); err != nil {
					t.Errorf("temporary file missing before the rename: %v", err)
				}
				return injected
			}}
		}, wantErr: injected, want: "old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tc.existing != "" {
				if err := os.WriteFile(path, []byte(tc.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var o Options
			if tc.opts != nil {
				o = tc.opts(path)
			}
			err := Write(path, []byte("new"), o)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Write = %v, want %v", err, tc.wantErr)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tc.want {
				t.Errorf("content %q, want %q", got, tc.want)
			}
			if tc.wantErr == nil {
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("mode %v (%v), want 0600", fi.Mode(), err)
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
		})
	}
}

func TestWriteMissingDirectory(t *testing.T) {
	err := Write(filepath.Join(t.TempDir(), "absent", "f"), []byte("x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot create a temporary file in") {
		t.Fatalf("Write into a missing directory = %v", err)
	}
}
