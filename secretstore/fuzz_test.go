package secretstore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"golang.org/x/crypto/argon2"
)

// fuzzKDF ignores the header's cost so that the fuzzer can explore headers
// that claim gigabytes of memory without spending them.
func fuzzKDF(passphrase, salt []byte, _ KDFParams) []byte {
	return argon2.IDKey(passphrase, salt, 1, 8, 1, 32)
}

// FuzzOpen feeds arbitrary file bytes to the store decoder: it must never
// panic, must fail with a FormatError or ErrWrongPassphrase, and must never
// put the passphrase into an error.
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
		seed, err := decode(data, testPass, fuzzKDF)
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
