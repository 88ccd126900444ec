//go:build unix

package logging

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// streamID is a file's "device:inode", as systemd puts it in JOURNAL_STREAM.
func streamID(t *testing.T, f *os.File) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func TestJournalPriorityPrefix(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     func(own, other string) string
		journal bool
	}{
		{"JOURNAL_STREAM names the output", func(own, _ string) string { return own }, true},
		{"JOURNAL_STREAM unset", func(string, string) string { return "" }, false},
		{"JOURNAL_STREAM names another file (output redirected)", func(_, other string) string { return other }, false},
		{"JOURNAL_STREAM garbage", func(string, string) string { return "journal" }, false},
		{"JOURNAL_STREAM with trailing bytes", func(own, _ string) string { return own + "x" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out, err := os.Create(filepath.Join(dir, "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			other, err := os.Create(filepath.Join(dir, "other"))
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			t.Setenv("JOURNAL_STREAM", tc.env(streamID(t, out), streamID(t, other)))

			log, err := New(out, "debug", "auto") // a file: JSON
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("d")
			log.Info("i")
			log.Warn("w")
			log.Error("e")
			log.Sync()
			b, err := os.ReadFile(out.Name())
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			want := []struct{ prefix, msg string }{{"<7>", "d"}, {"<6>", "i"}, {"<4>", "w"}, {"<3>", "e"}}
			if len(lines) != len(want) {
				t.Fatalf("got %d lines, want %d: %q", len(lines), len(want), b)
			}
			for i, w := range want {
				line := lines[i]
				if tc.journal {
					if !strings.HasPrefix(line, w.prefix) {
						t.Errorf("line %d = %q, want the prefix %s", i, line, w.prefix)
						continue
					}
					line = strings.TrimPrefix(line, w.prefix)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil || m["msg"] != w.msg {
					t.Errorf("line %d = %q (%v), want a JSON line with msg %q", i, lines[i], err, w.msg)
				}
			}
		})
	}
}

// A console entry spanning lines (a stack trace) keeps its level on each.
func TestJournalPrefixEveryLine(t *testing.T) {
	out, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	t.Setenv("JOURNAL_STREAM", streamID(t, out))
	log, err := New(out, "info", "console")
	if err != nil {
		t.Fatal(err)
	}
	log.WithOptions(zap.AddStacktrace(zapcore.ErrorLevel)).Error("with a stack")
	log.Sync()
	b, _ := os.ReadFile(out.Name())
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("want a multi-line entry, got %q", b)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, "<3>") {
			t.Errorf("line %d = %q, want the prefix <3>", i, l)
		}
	}
}
