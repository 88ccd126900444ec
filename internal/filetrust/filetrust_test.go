package filetrust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// otherUID owns files "of another user" in these tests.
const otherUID = 65534

// chownOther gives path to otherUID, or skips the test where only root may
// (the checks need a file that really is someone else's).
func chownOther(t *testing.T, path string) {
	t.Helper()
	if err := os.Lchown(path, otherUID, -1); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot give a file to uid %d without root: %v", otherUID, err)
		}
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string, mode fs.FileMode) string {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func write(t *testing.T, path, content string, mode fs.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadPrivateFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup makes the file in a private directory and returns its path.
		setup func(t *testing.T, dir string) string
		err   string // "" for accepted; %s is the path
	}{
		{"mode 0600", func(t *testing.T, dir string) string { return write(t, filepath.Join(dir, "key"), "k", 0o600) }, ""},
		{"mode 0400", func(t *testing.T, dir string) string { return write(t, filepath.Join(dir, "key"), "k", 0o400) }, ""},
		{"group-readable", func(t *testing.T, dir string) string { return write(t, filepath.Join(dir, "key"), "k", 0o640) },
			"device key %[1]s has mode 0640, which lets other users read it; fix it with: chmod 600 %[1]s"},
		{"world-readable", func(t *testing.T, dir string) string { return write(t, filepath.Join(dir, "key"), "k", 0o644) },
			"device key %[1]s has mode 0644, which lets other users read it; fix it with: chmod 600 %[1]s"},
		{"group-writable", func(t *testing.T, dir string) string { return write(t, filepath.Join(dir, "key"), "k", 0o620) },
			"device key %[1]s has mode 0620, which lets other users change it; fix it with: chmod 600 %[1]s"},
		{"another user's", func(t *testing.T, dir string) string {
			p := write(t, filepath.Join(dir, "key"), "k", 0o600)
			chownOther(t, p)
			return p
		}, fmt.Sprintf("device key %%[1]s is owned by uid %d, but gl-signerd runs as uid %d, so another user can read or replace it; fix it with: chown %[2]d %%[1]s (after checking that its content is yours), or run gl-signerd as uid %[1]d", otherUID, os.Geteuid())},
		{"a directory", func(t *testing.T, dir string) string { return mkdir(t, filepath.Join(dir, "key"), 0o700) },
			"device key %[1]s is not a regular file (d---------); fix it with: put the file itself at %[1]s"},
		{"a symlink into a private directory", func(t *testing.T, dir string) string {
			target := write(t, filepath.Join(mkdir(t, filepath.Join(dir, "private"), 0o700), "key"), "k", 0o600)
			link := filepath.Join(dir, "key")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, ""},
		{"a symlink into a world-writable directory", func(t *testing.T, dir string) string {
			target := write(t, filepath.Join(mkdir(t, filepath.Join(dir, "shared"), 0o777), "key"), "k", 0o600)
			link := filepath.Join(dir, "key")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "device key %[1]s leads through a symlink to " + "%[2]s/shared/key, in directory %[2]s/shared (mode 0777), which other users can write; fix it with: move the file into the state directory and remove the symlink, or chmod 700 %[2]s/shared"},
		{"a symlink into another user's directory", func(t *testing.T, dir string) string {
			shared := mkdir(t, filepath.Join(dir, "theirs"), 0o755)
			target := write(t, filepath.Join(shared, "key"), "k", 0o600)
			chownOther(t, shared)
			link := filepath.Join(dir, "key")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, fmt.Sprintf("device key %%[1]s leads through a symlink to %%[2]s/theirs/key, in a directory owned by uid %d, who can replace it", otherUID)},
		{"too large", func(t *testing.T, dir string) string {
			return write(t, filepath.Join(dir, "key"), strings.Repeat("k", 101), 0o600)
		}, "device key %[1]s is larger than 100 bytes; is it the right file?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := filepath.EvalSymlinks(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			path := tc.setup(t, dir)
			data, err := ReadPrivateFile("device key", path, 100)
			if tc.err == "" {
				if err != nil || string(data) != "k" {
					t.Fatalf("ReadPrivateFile = %q, %v; want it read", data, err)
				}
				return
			}
			want := fmt.Sprintf(tc.err, path, dir)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("ReadPrivateFile: %v\nwant %s", err, want)
			}
		})
	}
	_, err := ReadPrivateFile("device key", filepath.Join(t.TempDir(), "none"), 100)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestCheckOwnDir(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		err   string // "" for accepted; %s is the path
	}{
		{"mode 0700", func(t *testing.T, dir string) {}, ""},
		{"mode 0755 (systemd's)", func(t *testing.T, dir string) { os.Chmod(dir, 0o755) }, ""},
		{"group-writable", func(t *testing.T, dir string) { os.Chmod(dir, 0o770) },
			"state directory %[1]s has mode 0770, which lets other users replace the files in it; fix it with: chmod 700 %[1]s"},
		{"world-writable", func(t *testing.T, dir string) { os.Chmod(dir, 0o777) },
			"state directory %[1]s has mode 0777, which lets other users replace the files in it; fix it with: chmod 700 %[1]s"},
		{"another user's", func(t *testing.T, dir string) { chownOther(t, dir) },
			fmt.Sprintf("state directory %%[1]s is owned by uid %d, but gl-signerd runs as uid %d", otherUID, os.Geteuid())},
		{"a file", func(t *testing.T, dir string) {
			os.Remove(dir)
			write(t, dir, "x", 0o600)
		}, "state directory %[1]s is not a directory"},
		{"missing", func(t *testing.T, dir string) { os.Remove(dir) }, "state directory %[1]s does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mkdir(t, filepath.Join(t.TempDir(), "state"), 0o700)
			tc.setup(t, dir)
			err := CheckOwnDir("state directory", dir)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("CheckOwnDir: %v", err)
				}
				return
			}
			if want := fmt.Sprintf(tc.err, dir); err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("CheckOwnDir: %v\nwant %s", err, want)
			}
		})
	}
}
