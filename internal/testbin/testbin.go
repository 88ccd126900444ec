// Package testbin gives the tests that run gl-signerd as a process (the
// end-to-end, fault, install-recipe and benchmark tests) the real binary,
// built once and shared: between the test packages of one `go test` run,
// which go test runs in parallel as separate processes, and between runs
// while the source does not change.
//
// Path is the binary `go build` makes (so it shares go vet's and go
// build's compiled packages); Static is the one the container image ships
// (CGO_ENABLED=0), for the tests of the container contract. Each lives in
// $TMPDIR/gl-signerd-testbin under a name keyed by the Go version, the
// build settings and the content of every file that goes into it (non-test
// .go files, go.mod, go.sum). The first package to need one builds it under
// a file lock; the others wait for that build and reuse it. Binaries of
// other keys older than a day are removed.
//
//	bin, err := testbin.Path()
package testbin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// pkg is what is built, relative to the module root.
const pkg = "./cmd/gl-signerd"

// Path returns the path of a gl-signerd binary built from the module that
// contains the working directory, building it if no up-to-date one exists.
func Path() (string, error) { return build(nil, nil) }

// StaticVersion is the version Static stamps into its binary.
const StaticVersion = "v0.0.0-container-test"

// Static is Path for the binary the Dockerfile builds: static
// (CGO_ENABLED=0), stripped, with main.version set by the linker to
// StaticVersion.
func Static() (string, error) {
	return build([]string{"CGO_ENABLED=0"}, []string{"-ldflags", "-s -w -X main.version=" + StaticVersion})
}

// build returns the binary built with env added to the environment and
// flags added to go build's.
func build(env, flags []string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	key, err := sourceKey(root, append(append([]string(nil), env...), flags...))
	if err != nil {
		return "", fmt.Errorf("testbin: hashing the source: %w", err)
	}
	dir := filepath.Join(os.TempDir(), "gl-signerd-testbin")
	if err := ownDir(dir); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gl-signerd-"+key)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("testbin: locking %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another package built it while we waited
	}
	tmp := bin + ".tmp"
	args := append(append([]string{"build", "-o", tmp}, flags...), pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("testbin: go build %s: %v\n%s", pkg, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	prune(dir, bin)
	return bin, nil
}

// moduleRoot is the nearest directory at or above the working directory
// holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testbin: no go.mod above the working directory")
		}
		dir = parent
	}
}

// sourceKey hashes the Go version, the platform, the build's settings
// (extra, and CGO_ENABLED as go build would see it) and every file the binary
// is built from, in a fixed order.
func sourceKey(root string, extra []string) (string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || name == "go.mod" || name == "go.sum" {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s %s CGO_ENABLED=%s %q\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, pkg, os.Getenv("CGO_ENABLED"), extra)
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n", rel)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

// ownDir makes dir (0755, so that tests may run the binary as another
// user) or checks that an existing one is ours and not writable by others,
// since a binary found there is run without question.
func ownDir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("testbin: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("testbin: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("testbin: %s is not a directory of ours that only we may write to; remove it", dir)
	}
	return nil
}

// prune removes binaries other than keep that are older than a day.
func prune(dir, keep string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if path == keep || path == keep+".lock" || !strings.HasPrefix(e.Name(), "gl-signerd-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			os.Remove(path)
		}
	}
}
