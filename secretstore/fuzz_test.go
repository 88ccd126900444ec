package secretstore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// fuzzKDF ignores the header's cost so that the fuzzer can explore headers
// that claim gigabytes of memory without spending them.
func fuzzKDF(passphrase, salt []byte, _ KDFParams) []byte {
	return argon2.IDKey(passphrase, salt, 1, 8, 1, 32)
}

// FuzzOpen feeds arbitrary file bytes to the store decoder: it must never
// panic, never run the KDF with costs out of bounds, fail with a
// FormatError or ErrWrongPassphrase, and never put the passphrase into an
// error.
func FuzzOpen(f *testing.F) {
	for _, s := range []*Seed{testSeed(TypeGreenlight, Bitcoin), testSeed(TypeBIP39Seed, Regtest)} {
		data, err := seal(s, testPass, testKDF, rand.Reader, fuzzKDF)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte(magic))
	f.Add(make([]byte, 73))
	f.Fuzz(func(t *testing.T, data []byte) {
		seed, err := decode(data, testPass, func(pass, salt []byte, p KDFParams) []byte {
			if err := p.check(); err != nil {
				t.Fatalf("the KDF ran with costs out of bounds: %v", err)
			}
			return fuzzKDF(pass, salt, p)
		})
		if err == nil {
			// Only an authentic store decodes; it must then be well formed.
			if seed.Type.Len() != len(seed.Secret) || seed.Network.code() == 0 {
				t.Fatalf("decoded an inconsistent seed: %v", seed)
			}
			return
		}
		var fe *FormatError
		if !errors.As(err, &fe) && !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("unexpected error kind %T: %v", err, err)
		}
		if bytes.Contains([]byte(err.Error()), testPass) {
			t.Fatalf("error contains the passphrase: %v", err)
		}
	})
}

// FuzzPassphraseFile reads arbitrary passphrase files: the passphrase is
// the content less exactly one trailing LF or CRLF, refused when empty or
// longer than the limit, and never returned with an error.
func FuzzPassphraseFile(f *testing.F) {
	for _, s := range []string{"pw\n", "pw\r\n", "pw\n\n", "pw\r", "\n", "\r\n", "", strings.Repeat("x", maxPassphraseLen) + "\r\n"} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "pass")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		pass, err := readPassphraseFile(path)
		want := data
		if w, ok := bytes.CutSuffix(data, []byte("\r\n")); ok {
			want = w
		} else if w, ok := bytes.CutSuffix(data, []byte("\n")); ok {
			want = w
		}
		switch {
		case len(want) == 0 || len(want) > maxPassphraseLen:
			if err == nil || pass != nil {
				t.Fatalf("%d bytes (%d without the line ending): got %d bytes, %v; want a refusal", len(data), len(want), len(pass), err)
			}
		case err != nil || !bytes.Equal(pass, want):
			t.Fatalf("%q: got %q, %v; want %q", data, pass, err, want)
		}
	})
}
