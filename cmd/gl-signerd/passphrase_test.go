package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: what is written to tty can be read
// from ctrl.
func openPTY(t *testing.T) (ctrl, tty *os.File) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs a Linux pseudo-terminal")
	}
	ctrl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ctrl.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(ctrl.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		ctrl.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ctrl.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ctrl.Close(); tty.Close() })
	return ctrl, tty
}

func TestKDFProgressOnTerminal(t *testing.T) {
	ctrl, tty := openPTY(t)
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(ctrl) // ends with EIO once tty is closed
		read <- string(b)
	}()
	defer func(d time.Duration) { kdfProgressEvery = d }(kdfProgressEvery)
	kdfProgressEvery = 10 * time.Millisecond
	wantErr := errors.New("the work's error")
	err := withKDFProgress(tty, func() error {
		time.Sleep(300 * time.Millisecond)
		return wantErr
	})
	tty.Close()
	got := <-read
	if err != wantErr {
		t.Errorf("withKDFProgress = %v, want the work's error", err)
	}
	if !strings.HasPrefix(got, kdfProgressText) {
		t.Errorf("terminal got %q, want it to start with %q", got, kdfProgressText)
	}
	if !strings.Contains(got, "\r"+kdfProgressText+" 0s") {
		t.Errorf("terminal got %q, want the elapsed seconds updated", got)
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("terminal got %q, want the line cleared at the end", got)
	}
}

func TestKDFProgressNotOnAFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ran := false
	if err := withKDFProgress(f, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("withKDFProgress = %v, ran %v", err, ran)
	}
	if b, _ := os.ReadFile(f.Name()); len(b) != 0 {
		t.Errorf("a file (not a terminal) got %q, want nothing", b)
	}
}

func TestCheckNewPassphrase(t *testing.T) {
	for _, tc := range []struct {
		pass   string
		weakOK bool
		ok     bool
	}{
		{"12345678", false, true},
		{"1234567", false, false},
		{"1234567", true, true},
		{"ünïcödé", false, false}, // 7 characters, 11 bytes
		{"ünïcödé!", false, true},
	} {
		err := checkNewPassphrase([]byte(tc.pass), "file p", tc.weakOK)
		if (err == nil) != tc.ok {
			t.Errorf("checkNewPassphrase(%q, weak %v) = %v, want ok %v", tc.pass, tc.weakOK, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), tc.pass) {
			t.Errorf("the error shows the passphrase: %v", err)
		}
	}
}
