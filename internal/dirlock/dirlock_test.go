package dirlock

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gl-signerd/internal/filetrust"
)

func TestSecondAcquireNamesHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: got %v, want *HeldError", err)
	}
	if held.PID != os.Getpid() {
		t.Errorf("holder pid = %d, want %d", held.PID, os.Getpid())
	}
	if !strings.Contains(err.Error(), "pid ") || !strings.Contains(err.Error(), dir) {
		t.Errorf("message %q should name the pid and the directory", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
	if fi, err := os.Stat(l2.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v, mode %v; want 0600", err, fi.Mode())
	}
}

// A lock held by another process names that process, and dies with it.
func TestLockHeldByAnotherProcess(t *testing.T) {
	if os.Getenv("DIRLOCK_HOLD") != "" {
		l, err := Acquire(os.Getenv("DIRLOCK_HOLD"))
		if err != nil {
			os.Exit(3)
		}
		defer l.Release()
		os.Stdout.WriteString("locked\n")
		bufio.NewReader(os.Stdin).ReadString('\n') // hold until killed
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHeldByAnotherProcess$")
	cmd.Env = append(os.Environ(), "DIRLOCK_HOLD="+dir)
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	_, err := Acquire(dir)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != cmd.Process.Pid {
		t.Errorf("Acquire while another process holds it: %v (pid %v), want holder pid %d", err, held, cmd.Process.Pid)
	}
	// SIGKILL: no chance to clean up, yet the lock is gone with the process.
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}

// A state directory another user owns, or others may write in, is refused
// before the lock file is created in it.
func TestAcquireRefusesUntrustedDir(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"world-writable", func(t *testing.T, dir string) { os.Chmod(dir, 0o777) }, "has mode 0777, which lets other users replace the files in it; fix it with: chmod 700 "},
		{"group-writable", func(t *testing.T, dir string) { os.Chmod(dir, 0o770) }, "has mode 0770"},
		{"another user's", func(t *testing.T, dir string) {
			if err := os.Chown(dir, 65534, -1); err != nil {
				if errors.Is(err, syscall.EPERM) {
					t.Skipf("cannot give a directory to another uid without root: %v", err)
				}
				t.Fatal(err)
			}
		}, "is owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			l, err := Acquire(dir)
			var ft *filetrust.Error
			if !errors.As(err, &ft) || !strings.HasPrefix(err.Error(), "state directory "+dir+" ") || !strings.Contains(err.Error(), tc.want) {
				l.Release()
				t.Fatalf("Acquire: %v, want a *filetrust.Error saying %q", err, tc.want)
			}
			if _, err := os.Lstat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the lock file was created: %v", err)
			}
		})
	}
}
