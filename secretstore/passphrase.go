package secretstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"gl-signerd/internal/filetrust"
)

// CredentialName is the systemd credential (LoadCredential=passphrase:...)
// that ReadPassphrase looks for in $CREDENTIALS_DIRECTORY.
const CredentialName = "passphrase"

const maxPassphraseLen = 4096

// ErrNoPassphraseSource means ReadPassphrase found no file, no credential and
// no terminal to ask.
var ErrNoPassphraseSource = errors.New("no passphrase was given and there is no terminal to ask for one")

// PassphraseOptions says where ReadPassphrase may look.
type PassphraseOptions struct {
	// File is a passphrase file (--passphrase-file); "" for none.
	File string
	// CredentialsDir is $CREDENTIALS_DIRECTORY; "" for none.
	CredentialsDir string
	// Terminal is the terminal to prompt on (usually os.Stdin when it is
	// one); nil never prompts.
	Terminal *os.File
	// Prompt receives the prompts (usually os.Stderr).
	Prompt io.Writer
	// Confirm asks twice on the terminal (for a new passphrase).
	Confirm bool
	// What names the passphrase in prompts, e.g. "secret store passphrase".
	What string
}

// ReadPassphrase returns the passphrase from, in this order: File,
// CredentialsDir/passphrase, the terminal (without echo). Exactly one
// trailing line ending ("\n" or "\r\n") is stripped from files, after which
// a passphrase may be up to 4096 bytes. An empty passphrase is
// refused (ErrEmptyPassphrase). A passphrase file that group or others may
// read is refused (*PermissionError). source says where the passphrase came
// from, for messages: "file PATH", "systemd credential PATH" or "terminal".
func ReadPassphrase(o PassphraseOptions) (pass []byte, source string, err error) {
	if o.File != "" {
		pass, err = readPassphraseFile(o.File)
		return pass, "file " + o.File, err
	}
	if o.CredentialsDir != "" {
		p := filepath.Join(o.CredentialsDir, CredentialName)
		pass, err = readPassphraseFile(p)
		if !errors.Is(err, fs.ErrNotExist) {
			return pass, "systemd credential " + p, err
		}
	}
	if o.Terminal == nil || !term.IsTerminal(int(o.Terminal.Fd())) {
		return nil, "", ErrNoPassphraseSource
	}
	pass, err = readTerminal(o)
	return pass, "terminal", err
}

func readPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("passphrase file %s does not exist: %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("cannot open the passphrase file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, &passphrasePermissionError{path: path, mode: fi.Mode()}
		}
		if err := filetrust.CheckSecretSource("passphrase file", path, fi); err != nil {
			return nil, err
		}
	}
	// Room for the longest passphrase, its line ending, and one byte more
	// to tell a file that is too long.
	buf := make([]byte, maxPassphraseLen+len("\r\n")+1)
	Mlock(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		Wipe(buf)
		return nil, fmt.Errorf("cannot read the passphrase file %s: %w", path, err)
	}
	pass := trimLineEnding(buf[:n])
	if len(pass) > maxPassphraseLen {
		Wipe(buf)
		return nil, fmt.Errorf("passphrase file %s holds more than %d bytes; is it the right file?", path, maxPassphraseLen)
	}
	if len(pass) == 0 {
		return nil, fmt.Errorf("passphrase file %s: %w", path, ErrEmptyPassphrase)
	}
	return pass, nil
}

// trimLineEnding removes exactly one line ending, "\n" or "\r\n", from the
// end of a passphrase file's content: what an editor or echo adds. Any
// other byte (a second newline, a lone "\r", spaces) is the passphrase's.
func trimLineEnding(b []byte) []byte {
	if t, ok := bytes.CutSuffix(b, []byte("\r\n")); ok {
		return t
	}
	b, _ = bytes.CutSuffix(b, []byte("\n"))
	return b
}

type passphrasePermissionError struct {
	path string
	mode fs.FileMode
}

func (e *passphrasePermissionError) Error() string {
	return fmt.Sprintf("passphrase file %s has mode %04o, which lets other users read it; fix it with: chmod 600 %s",
		e.path, e.mode.Perm(), e.path)
}

func readTerminal(o PassphraseOptions) ([]byte, error) {
	what := o.What
	if what == "" {
		what = "passphrase"
	}
	fd := int(o.Terminal.Fd())
	ask := func(prompt string) ([]byte, error) {
		fmt.Fprintf(o.Prompt, "%s: ", prompt)
		p, err := term.ReadPassword(fd)
		fmt.Fprintln(o.Prompt)
		if err != nil {
			return nil, fmt.Errorf("cannot read the %s from the terminal: %w", what, err)
		}
		Mlock(p)
		return p, nil
	}
	pass, err := ask("Enter the " + what)
	if err != nil {
		return nil, err
	}
	if len(pass) == 0 {
		return nil, ErrEmptyPassphrase
	}
	if o.Confirm {
		again, err := ask("Enter it again")
		if err != nil {
			Wipe(pass)
			return nil, err
		}
		same := bytes.Equal(pass, again)
		Wipe(again)
		if !same {
			Wipe(pass)
			return nil, errors.New("the two passphrases differ; nothing was written")
		}
	}
	return pass, nil
}
