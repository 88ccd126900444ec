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
		{"huge file", PassphraseOptions{File: writeFile(t, filepath.Join(dir, "g"), strings.Repeat("x", 5000), 0o600)}, "", "", "is larger than 4096 bytes; is it the right file?"},
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
