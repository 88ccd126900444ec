package clnhsmd

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tyler-smith/go-bip39"

	"gl-signerd/hsmproto"
	"gl-signerd/secretstore"
)

// With no hsm_secret, one is created as CLN's hsmd creates it: a mnemonic
// layout, mode 0400, the seed hash zero without a passphrase and SHA-256
// of the BIP39 seed with one; the next start reads the same secret.
func TestCreateHSMSecret(t *testing.T) {
	for _, pass := range []*string{nil, ptr("correct horse")} {
		dir := t.TempDir()
		init := &hsmproto.Init{}
		init.Tlvs.HsmPassphrase = pass
		var logged []string
		logf := func(l LogLevel, s string) { logged = append(logged, s) }
		h1, err := OpenHSMSecret(dir, init, logf)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, HSMSecretFile)
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o400 {
			t.Fatalf("hsm_secret: %v, mode %v; want 0400", err, fi.Mode())
		}
		data, _ := os.ReadFile(path)
		mnemonic := string(data[32:])
		if err := secretstore.CheckMnemonic(mnemonic); err != nil || len(bytes.Fields(data[32:])) != 12 {
			t.Fatalf("created hsm_secret's mnemonic: %v", err)
		}
		want := make([]byte, 32)
		if pass != nil {
			h := sha256.Sum256(bip39.NewSeed(mnemonic, *pass))
			want = h[:]
		}
		if !bytes.Equal(data[:32], want) {
			t.Errorf("seed hash %x, want %x", data[:32], want)
		}
		if len(logged) != 1 || logged[0] != "HSM: created new hsm_secret file" {
			t.Errorf("logged %q", logged)
		}
		logged = nil
		h2, err := OpenHSMSecret(dir, init, logf)
		if err != nil {
			t.Fatal(err)
		}
		if len(logged) != 0 {
			t.Errorf("second start logged %q", logged)
		}
		if a, b := h1.NodeID(), h2.NodeID(); a != b {
			t.Errorf("node id changed between starts: %x, %x", a, b)
		}
	}
}

// Each layout opens, or fails with CLN's error code.
func TestHSMSecretErrors(t *testing.T) {
	const mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	cases := []struct {
		name string
		file []byte
		pass *string
		code uint32 // 0: opens
	}{
		{"plain", make([]byte, 32), nil, 0},
		{"plain with a passphrase, which CLN ignores", make([]byte, 32), ptr("x"), 0},
		{"mnemonic", append(make([]byte, 32), mnemonic...), nil, 0},
		{"too short", make([]byte, 31), nil, ErrCodeInvalidFormat},
		{"too long", make([]byte, 5000), nil, ErrCodeInvalidFormat},
		{"encrypted without passphrase", make([]byte, 73), nil, ErrCodePassphraseRequired},
		{"mnemonic with an unneeded passphrase", append(make([]byte, 32), mnemonic...), ptr("x"), ErrCodePassphraseNotNeeded},
		{"mnemonic with a bad checksum", append(make([]byte, 32), (mnemonic[:len(mnemonic)-5] + "zoo")...), nil, ErrCodeInvalidMnemonic},
		{"hashed mnemonic, wrong passphrase", append(bytes.Repeat([]byte{1}, 32), mnemonic...), ptr("x"), ErrCodeWrongPassphrase},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, HSMSecretFile), tc.file, 0o400)
			init := &hsmproto.Init{}
			init.Tlvs.HsmPassphrase = tc.pass
			_, err := OpenHSMSecret(dir, init, func(LogLevel, string) {})
			var ie *InitError
			if tc.code == 0 && err != nil || tc.code != 0 && (!errors.As(err, &ie) || ie.Code != tc.code) {
				t.Errorf("error %v, want code %d", err, tc.code)
			}
		})
	}
}

func ptr(s string) *string { return &s }
