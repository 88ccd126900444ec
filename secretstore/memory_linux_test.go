package secretstore

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDisableCoreDumps(t *testing.T) {
	// Irreversible for this test process, which is fine: it should not dump core.
	if err := DisableCoreDumps(); err != nil {
		t.Fatalf("DisableCoreDumps: %v", err)
	}
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Cur != 0 || r.Max != 0 {
		t.Errorf("RLIMIT_CORE = %+v, want 0/0", r)
	}
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d != 0 {
		t.Errorf("PR_GET_DUMPABLE = %d, want 0", d)
	}
}

func TestOpenRefusesFIFO(t *testing.T) {
	path := t.TempDir() + "/" + FileName
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	_, err := Open(path, testPass)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Reason != "it is not a regular file" {
		t.Errorf("Open of a FIFO = %v, want a FormatError", err)
	}
}
