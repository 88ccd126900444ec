// Package testbin gives the tests that run gl-signerd as a process (the
// end-to-end, fault, install-recipe, hsmd and benchmark tests) the real
// binary, built once and shared: between the test packages of one `go test`
// run, which go test runs in parallel as separate processes, and between
// runs while the source does not change.
//
// There is one binary, the one the container image ships: static
// (CGO_ENABLED=0), stripped, with main.version set by the linker to
// Version. Every test runs that one, so a cold run compiles the daemon's
// packages once without the race detector (the race-built test binaries
// compile them again with it; go build cannot share those, and a static
// binary cannot have the detector). TestBinary gives a test whose child
// processes need not run under the race detector (the crash test's 200
// SIGKILLed children) its package's test binary built the same way, so it
// shares those compiled packages too.
//
// Each binary lives in $TMPDIR/gl-signerd-testbin under a name keyed by the
// Go version, the build settings and the content of every file that goes
// into it (non-test .go files, go.mod, go.sum, and for a test binary its
// package's _test.go files). The first package to need one builds it; one
// file lock serialises all builds, so that the second build finds the
// first one's compiled packages in the build cache instead of compiling
// them at the same time. Binaries of other keys older than a day are
// removed.
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
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"
)

// mainPkg is the binary's package, relative to the module root.
const mainPkg = "./cmd/gl-signerd"

// Version is the version the linker stamps into the binary.
const Version = "v0.0.0-container-test"

// buildEnv and buildFlags are the Dockerfile's build settings, less
// -trimpath (which changes only the file names the binary records).
var (
	buildEnv   = []string{"CGO_ENABLED=0"}
	buildFlags = []string{"-ldflags", "-s -w -X main.version=" + Version}
)

// Path returns the path of the gl-signerd binary the Dockerfile builds
// (static, stripped, main.version = Version) from the module that contains
// the working directory, building it if no up-to-date one exists.
func Path() (string, error) {
	return build("gl-signerd", "", append([]string{"build"}, buildFlags...), mainPkg)
}

// TestBinary returns the test binary (go test -c) of the package pkg, a
// path relative to the module root such as "./signer/state", built as Path
// is: without the race detector even when the calling test runs under it.
// It is for child processes that need the package's test code but not the
// detector.
func TestBinary(pkg string) (string, error) {
	name := strings.Trim(strings.ReplaceAll(filepath.Clean(pkg), "/", "-"), ".-")
	return build(name+".test", filepath.FromSlash(pkg), []string{"test", "-c"}, pkg)
}

// Race reports whether the running binary (a test binary, in a test) was
// built with the race detector.
func Race() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// build returns the binary go args… -o FILE target makes with buildEnv,
// named after name and the key of its sources (testDir: the package
// directory whose _test.go files go in too, or "").
func build(name, testDir string, args []string, target string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	settings := append(append(append([]string(nil), buildEnv...), args...), target)
	key, err := sourceKey(root, settings, testDir)
	if err != nil {
		return "", fmt.Errorf("testbin: hashing the source: %w", err)
	}
	dir := filepath.Join(os.TempDir(), "gl-signerd-testbin")
	if err := ownDir(dir); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, name+"-"+key)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
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
	cmd := exec.Command("go", append(append(append([]string(nil), args...), "-o", tmp), target)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), buildEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("testbin: go %s %s: %v\n%s", strings.Join(args, " "), target, err, out)
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

// sourceKey hashes the Go version, the platform, the build's settings and
// every file the binary is built from, in a fixed order: non-test .go
// files, go.mod and go.sum, and the _test.go files directly in testDir
// (relative to root; "" for none).
func sourceKey(root string, settings []string, testDir string) (string, error) {
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
		test := strings.HasSuffix(name, "_test.go") && testDir != "" && filepath.Dir(path) == filepath.Join(root, testDir)
		if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || test || name == "go.mod" || name == "go.sum" {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s %q\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, settings)
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
		if path == keep || e.Name() == "build.lock" {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			os.Remove(path)
		}
	}
}
