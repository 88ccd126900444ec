// Package filetrust decides whether gl-signerd may trust a file or a
// directory with a secret before it uses it: the secret store, the device
// key and certificate, the state directory that holds them. Whoever can read
// them has the node's seed or its Greenlight identity; whoever can replace
// them (or the directory they are in) can make the signer use theirs. So a
// file must be a regular file owned by the user gl-signerd runs as, closed
// to group and others, and not reached through a symlink into a directory
// other users can write; a directory gl-signerd writes in must be owned by
// that user and writable by nobody else.
//
//	data, err := filetrust.ReadPrivateFile("device key", path, 64<<10)
//	err := filetrust.CheckOwnDir("state directory", dir)
//
// Every refusal is an *Error whose text names the file, says what is wrong
// and gives the command that fixes it. The checks trust the kernel's word on
// owner and mode; they are no defence against root or against the user
// gl-signerd runs as.
package filetrust

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Error is a refusal: What Path Problem; fix it with: Fix.
type Error struct {
	What    string // what the file is to us: "secret store", "device key", "state directory"
	Path    string
	Problem string // reads after the path: "has mode 0644, which lets other users read it"
	Fix     string // a command, or what to do
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s %s; fix it with: %s", e.What, e.Path, e.Problem, e.Fix)
}

// CheckPrivateFile checks what fi (from stat or fstat of path) says about a
// file that holds a secret: a regular file, owned by us, no permission for
// group or others.
func CheckPrivateFile(what, path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &Error{What: what, Path: path, Problem: "is not a regular file (" + fi.Mode().Type().String() + ")",
			Fix: "put the file itself at " + path}
	}
	if err := checkOwner(what, path, fi); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		does := "read it"
		if perm&0o044 == 0 {
			does = "change it"
		}
		return &Error{What: what, Path: path, Problem: fmt.Sprintf("has mode %04o, which lets other users %s", perm, does),
			Fix: "chmod 600 " + path}
	}
	return nil
}

func checkOwner(what, path string, fi fs.FileInfo) error {
	u, ok := owner(fi)
	uid := uint32(os.Geteuid())
	if !ok || u == uid {
		return nil
	}
	return &Error{What: what, Path: path,
		Problem: fmt.Sprintf("is owned by uid %d, but gl-signerd runs as uid %d, so another user can read or replace it", u, uid),
		Fix:     fmt.Sprintf("chown %d %s (after checking that its content is yours), or run gl-signerd as uid %d", uid, path, u)}
}

// CheckSecretSource refuses a file that gives us a secret to use (a
// passphrase file) when another uid than ours or root's owns it: that user
// can write it, or chmod it and read it. Root's files pass (systemd
// credentials are root's).
func CheckSecretSource(what, path string, fi fs.FileInfo) error {
	u, ok := owner(fi)
	uid := uint32(os.Geteuid())
	if !ok || u == uid || u == 0 {
		return nil
	}
	return &Error{What: what, Path: path,
		Problem: fmt.Sprintf("is owned by uid %d, but gl-signerd runs as uid %d, so that user can choose or read the passphrase", u, uid),
		Fix:     fmt.Sprintf("chown %d %s", uid, path)}
}

// CheckOwnDir checks a directory gl-signerd keeps secrets in and writes
// to: a directory, owned by us, that group and others cannot write (mode
// 0755, systemd's default for a StateDirectory, is accepted).
func CheckOwnDir(what, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s %s does not exist: %w", what, dir, fs.ErrNotExist)
		}
		return fmt.Errorf("cannot use %s %s: %w", what, dir, err)
	}
	if !fi.IsDir() {
		return &Error{What: what, Path: dir, Problem: "is not a directory", Fix: "point gl-signerd at a directory"}
	}
	if err := checkOwner(what, dir, fi); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &Error{What: what, Path: dir, Problem: fmt.Sprintf("has mode %04o, which lets other users replace the files in it", perm),
			Fix: "chmod 700 " + dir}
	}
	return nil
}

// CheckLinkTarget checks where path leads when symlinks are involved: if
// it is (or goes through) a symlink, the directory of the file it finally
// names must be owned by us or root and writable by nobody else, or another
// user could swap the file. A path without symlinks, or one that does not
// resolve, is left to the caller's other checks.
func CheckLinkTarget(what, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil || real == abs {
		return nil
	}
	dir := filepath.Dir(real)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot check %s %s: it leads to %s, and %w", what, path, real, err)
	}
	if u, ok := owner(fi); ok && u != uint32(os.Geteuid()) && u != 0 {
		return &Error{What: what, Path: path,
			Problem: fmt.Sprintf("leads through a symlink to %s, in a directory owned by uid %d, who can replace it", real, u),
			Fix:     "move the file into the state directory and remove the symlink"}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &Error{What: what, Path: path,
			Problem: fmt.Sprintf("leads through a symlink to %s, in directory %s (mode %04o), which other users can write", real, dir, perm),
			Fix:     fmt.Sprintf("move the file into the state directory and remove the symlink, or chmod 700 %s", dir)}
	}
	return nil
}

// ReadPrivateFile reads a file that holds a secret, after CheckLinkTarget
// and CheckPrivateFile on the opened file. A file larger than max bytes is
// refused. A missing file gives an error that wraps fs.ErrNotExist.
func ReadPrivateFile(what, path string, max int64) ([]byte, error) {
	if err := CheckLinkTarget(what, path); err != nil {
		return nil, err
	}
	// Stat first: a FIFO at the path would block the open.
	if fi, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s %s does not exist: %w", what, path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("cannot read %s %s: %w", what, path, err)
	} else if !fi.Mode().IsRegular() {
		return nil, CheckPrivateFile(what, path, fi)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s %s: %w", what, path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read %s %s: %w", what, path, err)
	}
	if err := CheckPrivateFile(what, path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s %s: %w", what, path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s %s is larger than %d bytes; is it the right file?", what, path, max)
	}
	return data, nil
}
