package secretstore

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The Argon2id costs in a header are checked before anything is derived:
// every store this project has written opens, a tampered cost is refused
// without running the KDF.
func TestKDFBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    KDFParams
		err  string // "" when accepted
	}{
		{"the default", DefaultKDFParams(), ""},
		{"tests and benchmarks", KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, ""},
		{"twice the default's memory", KDFParams{Time: 4, MemoryKiB: 512 << 10, Threads: 2}, ""},
		{"the most work", KDFParams{Time: 8, MemoryKiB: 256 << 10, Threads: 4}, ""},
		{"1 GiB", KDFParams{Time: 4, MemoryKiB: 1 << 20, Threads: 2}, "memory must be 8 KiB per lane to 524288 KiB"},
		{"4 GiB", KDFParams{Time: 1, MemoryKiB: 4 << 20, Threads: 1}, "memory must be 8 KiB per lane to 524288 KiB"},
		{"all ones", KDFParams{Time: 0xffffffff, MemoryKiB: 0xffffffff, Threads: 0xff}, "time must be 1 to 16"},
		{"17 passes", KDFParams{Time: 17, MemoryKiB: 64, Threads: 1}, "time must be 1 to 16"},
		{"no pass", KDFParams{Time: 0, MemoryKiB: 64, Threads: 1}, "time must be 1 to 16"},
		{"16 passes over 512 MiB", KDFParams{Time: 16, MemoryKiB: 512 << 10, Threads: 2}, "time × memory must be at most 2097152 KiB"},
		{"17 lanes", KDFParams{Time: 1, MemoryKiB: 1 << 10, Threads: 17}, "lanes must be 1 to 16"},
		{"less than 8 KiB a lane", KDFParams{Time: 1, MemoryKiB: 15, Threads: 2}, "memory must be 8 KiB per lane"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A header with these costs, sealed under cheap ones: only
			// the check stands between it and the KDF.
			data, err := seal(testSeed(TypeGreenlight, Bitcoin), testPass, testKDF, rand.Reader, argon2Key)
			if err != nil {
				t.Fatal(err)
			}
			binary.BigEndian.PutUint32(data[10:], tc.p.Time)
			binary.BigEndian.PutUint32(data[14:], tc.p.MemoryKiB)
			data[18] = tc.p.Threads
			derived := false
			_, err = decode(data, testPass, func(pass, salt []byte, p KDFParams) []byte {
				derived = true
				return make([]byte, 32)
			})
			if tc.err == "" {
				if !derived || !errors.Is(err, ErrWrongPassphrase) {
					t.Fatalf("decode: derived %v, %v; want the key derived (and the altered header noticed)", derived, err)
				}
				if err := tc.p.check(); err != nil {
					t.Errorf("Create would refuse it: %v", err)
				}
				return
			}
			var fe *FormatError
			if derived || !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("decode: derived %v, %v; want a *FormatError saying %q before deriving", derived, err, tc.err)
			}
			if err := Create(filepath.Join(t.TempDir(), FileName), testSeed(TypeGreenlight, Bitcoin), testPass, WithKDFParams(tc.p)); err == nil {
				t.Error("Create accepted the costs")
			}
		})
	}
}

// chownOther gives path to uid 65534, or skips where only root may.
func chownOther(t *testing.T, path string) {
	t.Helper()
	if err := os.Lchown(path, 65534, -1); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot give a file to another uid without root: %v", err)
		}
		t.Fatal(err)
	}
}

// Open refuses a store, or a state directory, that another user owns, and
// a store reached through a symlink into a directory others can write.
func TestOpenRefusesUntrustedFiles(t *testing.T) {
	euid := os.Geteuid()
	for _, tc := range []struct {
		name string
		// setup alters the store at path (in its own directory) and
		// returns the path to open.
		setup func(t *testing.T, path string) string
		err   string // "" when accepted; %[1]s the path opened, %[2]s its directory
	}{
		{"as created", func(t *testing.T, path string) string { return path }, ""},
		{"store owned by another user", func(t *testing.T, path string) string { chownOther(t, path); return path },
			fmt.Sprintf("secret store %%[1]s is owned by uid 65534, but gl-signerd runs as uid %d, so another user can read or replace it; fix it with: chown %d %%[1]s", euid, euid)},
		{"directory owned by another user", func(t *testing.T, path string) string { chownOther(t, filepath.Dir(path)); return path },
			fmt.Sprintf("directory %%[2]s is owned by uid 65534, but gl-signerd runs as uid %d", euid)},
		{"symlink into a private directory", func(t *testing.T, path string) string {
			return linkFrom(t, path, 0o700)
		}, ""},
		{"symlink into a world-writable directory", func(t *testing.T, path string) string {
			return linkFrom(t, path, 0o777)
		}, "secret store %[1]s leads through a symlink to %[2]s/seed.enc, in directory %[2]s (mode 0777), which other users can write; fix it with: move the file into the state directory and remove the symlink, or chmod 700 %[2]s"},
		{"symlink into a sticky /tmp-like directory", func(t *testing.T, path string) string {
			return linkFrom(t, path, 0o777|os.ModeSticky)
		}, "secret store %[1]s leads through a symlink to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := newStore(t, testSeed(TypeGreenlight, Bitcoin))
			open := tc.setup(t, path)
			seed, err := Open(open, testPass)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				seed.Wipe()
				return
			}
			var pe *PermissionError
			want := fmt.Sprintf(tc.err, open, filepath.Dir(path))
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Open: %v\nwant a *PermissionError saying %s", err, want)
			}
		})
	}
}

// linkFrom gives path's directory mode dirMode and returns a symlink to
// path from a new private directory (where the daemon's state directory
// would be).
func linkFrom(t *testing.T, path string, dirMode os.FileMode) string {
	t.Helper()
	if err := os.Chmod(filepath.Dir(path), dirMode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Dir(path), 0o700) })
	link := filepath.Join(t.TempDir(), FileName)
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// Create (init) refuses a directory another user owns.
func TestCreateRefusesOthersDirectory(t *testing.T) {
	dir := t.TempDir()
	chownOther(t, dir)
	err := Create(filepath.Join(dir, FileName), testSeed(TypeGreenlight, Bitcoin), testPass, WithKDFParams(testKDF))
	var pe *PermissionError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "is owned by uid 65534") {
		t.Fatalf("Create: %v, want a *PermissionError", err)
	}
	if err := PrepareDir(dir); !errors.As(err, &pe) {
		t.Errorf("PrepareDir: %v, want a *PermissionError", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Create wrote in another user's directory: %v", entries)
	}
}

// RemoveLeftovers removes the temporary files of a Create that died, and
// leaves alone the one a running Create is writing.
func TestRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	dead := []string{filepath.Join(dir, "."+FileName+".tmp-1234"), filepath.Join(dir, "."+FileName+".tmp-")}
	for _, p := range dead {
		if err := os.WriteFile(p, []byte("half a store"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "."+FileName+".tmp-link")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	dead = append(dead, link)
	others := []string{filepath.Join(dir, "config.toml"), filepath.Join(dir, ".seed.enc.bak"), filepath.Join(dir, "x.seed.enc.tmp-1")}
	for _, p := range others {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A Create in progress: its temporary file is locked until renamed.
	var running string
	removedWhileRunning := []string{}
	t.Cleanup(func() { testHookBeforeRename = nil })
	testHookBeforeRename = func(tmp string) error {
		running = tmp
		var err error
		removedWhileRunning, err = RemoveLeftovers(path)
		return err
	}
	if err := Create(path, testSeed(TypeGreenlight, Bitcoin), testPass, WithKDFParams(testKDF)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if running == "" {
		t.Fatal("the hook did not run")
	}
	for _, p := range removedWhileRunning {
		if p == running {
			t.Errorf("RemoveLeftovers removed %s while Create was writing it", p)
		}
	}
	if len(removedWhileRunning) != len(dead) {
		t.Errorf("removed %v, want %v", removedWhileRunning, dead)
	}
	for _, p := range dead {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	for _, p := range append(others, path, "/etc/passwd") {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if seed, err := Open(path, testPass); err != nil {
		t.Errorf("the store Create wrote meanwhile: %v", err)
	} else {
		seed.Wipe()
	}
	if removed, err := RemoveLeftovers(path); len(removed) != 0 || err != nil {
		t.Errorf("a second RemoveLeftovers: %v, %v", removed, err)
	}
}

// A passphrase file another user owns is theirs to write (and to chmod):
// that user chooses the passphrase init seals the seed with, or reads it.
// Refused; the daemon's own files and root's (systemd credentials) pass.
func TestPassphraseFileOwner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pw")
	if err := os.WriteFile(path, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPassphrase(PassphraseOptions{File: path}); err != nil {
		t.Fatalf("our own passphrase file: %v", err)
	}
	chownOther(t, path)
	pass, _, err := ReadPassphrase(PassphraseOptions{File: path})
	if err == nil {
		t.Fatalf("read %q from a passphrase file owned by uid 65534; want a refusal", pass)
	}
	euid := os.Geteuid()
	want := fmt.Sprintf("passphrase file %s is owned by uid 65534, but gl-signerd runs as uid %d, so that user can choose or read the passphrase; fix it with: chown %d %s", path, euid, euid, path)
	if err.Error() != want {
		t.Fatalf("got %q\nwant %q", err, want)
	}
	if strings.Contains(err.Error(), "correct horse") {
		t.Fatal("the error holds the passphrase")
	}
}
