//go:build unix

package logging

import (
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// isJournalStream says whether w is the file systemd connected to the
// journal: $JOURNAL_STREAM holds that stream's "device:inode", and a
// process that redirected its output elsewhere (or inherited the variable)
// must not prefix, as systemd.exec(5) advises.
func isJournalStream(w io.Writer, journalStream string) bool {
	f, ok := w.(*os.File)
	if !ok || journalStream == "" {
		return false
	}
	devText, inoText, ok := strings.Cut(journalStream, ":")
	dev, err1 := strconv.ParseUint(devText, 10, 64)
	ino, err2 := strconv.ParseUint(inoText, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == dev && uint64(st.Ino) == ino
}
