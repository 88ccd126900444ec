package secretstore

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func setNotDumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("secretstore: cannot mark the process non-dumpable (prctl PR_SET_DUMPABLE): %w", err)
	}
	return nil
}
