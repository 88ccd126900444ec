package secretstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var newTestPass = []byte("a new and longer passphrase")

func TestChangePassphrase(t *testing.T) {
	seed := testSeed(TypeGreenlight, Regtest)
	path := newStore(t, seed)
	if err := ChangePassphrase(path, testPass, newTestPass, WithKDFParams(testKDF)); err != nil {
		t.Fatalf("ChangePassphrase: %v", err)
	}
	got, err := Open(path, newTestPass)
	if err != nil {
		t.Fatalf("Open with the new passphrase: %v", err)
	}
	if got.Type != seed.Type || got.Network != seed.Network || !bytes.Equal(got.Secret, seed.Secret) {
		t.Errorf("after the change the store holds %v, want the same seed %v", got, seed)
	}
	if _, err := Open(path, testPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("Open with the old passphrase after the change = %v, want ErrWrongPassphrase", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the new store's mode is %v (%v), want 0600", fi.Mode(), err)
	}
	if left := tempFiles(t, filepath.Dir(path)); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

// Refusals leave the store as it was, byte for byte, and say why without
// a secret.
func TestChangePassphraseRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new []byte
		want     error
		wantText string
	}{
		{"wrong old passphrase", []byte("not the passphrase"), newTestPass, ErrWrongPassphrase, ""},
		{"empty new passphrase", testPass, nil, ErrEmptyPassphrase, ""},
		{"empty old passphrase", nil, newTestPass, ErrEmptyPassphrase, ""},
		{"same passphrase", testPass, testPass, nil, "the new passphrase is the same as the old one; nothing was changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := testSeed(TypeGreenlight, Bitcoin)
			path := newStore(t, seed)
			before, _ := os.ReadFile(path)
			err := ChangePassphrase(path, tc.old, tc.new, WithKDFParams(testKDF))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || (tc.wantText != "" && err.Error() != tc.wantText) {
				t.Fatalf("ChangePassphrase = %v, want %v %q", err, tc.want, tc.wantText)
			}
			assertNoSecrets(t, err.Error(), seed.Secret, newTestPass, "")
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the store changed")
			}
		})
	}
}

// A change interrupted before the new store replaces the old one (a full
// disk, a failed rename) leaves the old store opening with the old
// passphrase, and no temporary file; a later change succeeds.
func TestChangePassphraseInterrupted(t *testing.T) {
	seed := testSeed(TypeGreenlight, Signet)
	path := newStore(t, seed)
	before, _ := os.ReadFile(path)
	t.Cleanup(func() { testHookBeforeReplace = nil })

	testHookBeforeReplace = func(tmp string) error {
		if _, err := os.Stat(tmp); err != nil {
			t.Errorf("the re-encrypted store is not beside the old one: %v", err)
		}
		return errors.New("injected crash")
	}
	err := ChangePassphrase(path, testPass, newTestPass, WithKDFParams(testKDF))
	testHookBeforeReplace = nil
	if err == nil || !strings.Contains(err.Error(), "injected crash") || !strings.Contains(err.Error(), "the old one is unchanged") {
		t.Fatalf("ChangePassphrase = %v, want the injected crash", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the old store changed")
	}
	got, err := Open(path, testPass)
	if err != nil || !bytes.Equal(got.Secret, seed.Secret) {
		t.Fatalf("the old store does not open with the old passphrase: %v", err)
	}
	if left := tempFiles(t, filepath.Dir(path)); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
	if err := ChangePassphrase(path, testPass, newTestPass, WithKDFParams(testKDF)); err != nil {
		t.Fatalf("ChangePassphrase after an interrupted one: %v", err)
	}
	if _, err := Open(path, newTestPass); err != nil {
		t.Fatalf("Open with the new passphrase: %v", err)
	}
}
