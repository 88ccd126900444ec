package secretstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadPassphrase(t *testing.T) {
	dir := t.TempDir()
	creds := t.TempDir()
	writeFile(t, filepath.Join(creds, CredentialName), "from credential\n", 0o400)
	noTTY, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer noTTY.Close()

	for _, tc := range []struct {
		name       string
		opts       PassphraseOptions
		want       string
		wantSource string
		err        string
	}{
		{"file", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "a"), "secret one\n", 0o600)}, "secret one", "file " + filepath.Join(dir, "a"), ""},
		{"crlf", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "b"), "secret two\r\n", 0o600)}, "secret two", "", ""},
		{"one newline only", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "c"), "three\n\n", 0o600)}, "three\n", "", ""},
		{"no newline", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "d"), " four ", 0o400)}, " four ", "", ""},
		{"file before credential", PassphraseOptions{File: filepath.Join(dir, "a"), CredentialsDir: creds}, "secret one", "", ""},
		{"credential", PassphraseOptions{CredentialsDir: creds}, "from credential", "systemd credential " + filepath.Join(creds, CredentialName), ""},
		{"empty file", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "e"), "\n", 0o600)}, "", "",
			"passphrase file " + filepath.Join(dir, "e") + ": the passphrase is empty, and an empty passphrase is refused"},
		{"open file", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "f"), "x", 0o644)}, "", "",
			"passphrase file " + filepath.Join(dir, "f") + " has mode 0644, which lets other users read it; fix it with: chmod 600 " + filepath.Join(dir, "f")},
		{"missing file", PassphraseOptions{File: filepath.Join(dir, "nope")}, "", "", "passphrase file " + filepath.Join(dir, "nope") + " does not exist"},
		{"huge file", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "g"), strings.Repeat("x", 5000), 0o600)}, "", "", "holds more than 4096 bytes; is it the right file?"},
		// Exactly one line ending is stripped, then the length limit applies.
		{"pw LF", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "h1"), "pw\n", 0o600)}, "pw", "", ""},
		{"pw CRLF", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "h2"), "pw\r\n", 0o600)}, "pw", "", ""},
		{"pw LF LF", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "h3"), "pw\n\n", 0o600)}, "pw\n", "", ""},
		{"pw CRLF CRLF", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "h4"), "pw\r\n\r\n", 0o600)}, "pw\r\n", "", ""},
		{"a lone CR is the passphrase's", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "h5"), "pw\r", 0o600)}, "pw\r", "", ""},
		{"LF CR", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "h6"), "pw\n\r", 0o600)}, "pw\n\r", "", ""},
		{"the limit", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "i1"), strings.Repeat("x", 4096), 0o600)}, strings.Repeat("x", 4096), "", ""},
		{"the limit and LF", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "i2"), strings.Repeat("x", 4096)+"\n", 0o600)}, strings.Repeat("x", 4096), "", ""},
		{"the limit and CRLF", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "i3"), strings.Repeat("x", 4096)+"\r\n", 0o600)}, strings.Repeat("x", 4096), "", ""},
		{"one byte over the limit", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "i4"), strings.Repeat("x", 4097), 0o600)}, "", "", "holds more than 4096 bytes"},
		{"one byte over the limit and LF", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "i5"), strings.Repeat("x", 4097)+"\n", 0o600)}, "", "", "holds more than 4096 bytes"},
		{"the limit and LF LF", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "i6"), strings.Repeat("x", 4096)+"\n\n", 0o600)}, "", "", "holds more than 4096 bytes"},
		{"nothing", PassphraseOptions{CredentialsDir: dir, Terminal: noTTY}, "", "", ErrNoPassphraseSource.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, source, err := ReadPassphrase(tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("passphrase = %q, want %q", got, tc.want)
			}
			if tc.wantSource != "" && source != tc.wantSource {
				t.Errorf("source = %q, want %q", source, tc.wantSource)
			}
		})
	}
	if _, _, err := ReadPassphrase(PassphraseOptions{}); !errors.Is(err, ErrNoPassphraseSource) {
		t.Errorf("no source: %v", err)
	}
}
