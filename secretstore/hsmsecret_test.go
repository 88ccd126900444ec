package secretstore

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"gl-signerd/secretstore/internal/secretstream"
)

const (
	// BIP39's first English test vector.
	abandonMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	// Its BIP39 seed with an empty passphrase (the BIP84 test vector seed;
	// also checked against Python's hashlib.pbkdf2_hmac).
	abandonSeedEmpty = "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc19a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4"
	// Its BIP39 seed with passphrase "TREZOR" (BIP39's published vectors).
	abandonSeedTrezor = "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
)

// An encrypted (73-byte) hsm_secret made with libsodium 1.0.18 itself
// through its C API, following CLN v26.06's common/hsm_secret.c exactly:
// key = crypto_pwhash(32 bytes, passphrase, salt "c-lightning" padded with
// zeros to 16 bytes, crypto_pwhash_argon2id_OPSLIMIT_MODERATE,
// crypto_pwhash_argon2id_MEMLIMIT_MODERATE, crypto_pwhash_ALG_ARGON2ID13),
// then crypto_secretstream_xchacha20poly1305_init_push + push of the secret
// with tag 0 and no additional data. It was not made with this package's
// code, so it checks the Argon2id parameters and the stream construction
// independently.
const (
	clnFixturePassphrase = "gl-signerd fixture passphrase"
	clnFixtureKey        = "b2513a242ff12ba517d91c7def9ea873b8dca35f385e1ed7c3c402fa5003a89d" // libsodium crypto_pwhash output
	clnFixtureFile       = "4c0c089351a2ccf4489b2a3f614fefb4ed2fc6cdac1c1e95c5c2c13bee5110048d4af04bc5982b138f3b2bd05c48d3f876e748fc334447fef7892f867e8341362c79a86e025c8c22c8"
	clnFixtureSecret     = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mnemonicFile(hash []byte, m string) []byte {
	return append(bytes.Clone(hash), m...)
}

func TestDetectHSMSecret(t *testing.T) {
	trezorHash := sha256.Sum256(mustHex(t, abandonSeedTrezor))
	for _, tc := range []struct {
		name string
		data []byte
		want HSMSecretFormat
		err  string
	}{
		{"plain", make([]byte, 32), HSMSecretPlain, ""},
		{"encrypted", make([]byte, 73), HSMSecretEncrypted, ""},
		{"mnemonic", mnemonicFile(make([]byte, 32), abandonMnemonic), HSMSecretMnemonic, ""},
		{"mnemonic with passphrase", mnemonicFile(trezorHash[:], abandonMnemonic), HSMSecretMnemonicWithPassphrase, ""},
		{"short", make([]byte, 31), 0, "the file is not a CLN hsm_secret: it has 31 bytes, fewer than the 32 of the smallest layout"},
		{"long", make([]byte, 4096), 0, "the file is not a CLN hsm_secret: it has 4096 bytes, more than any layout holds"},
	} {
		got, err := DetectHSMSecret(tc.data)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err || !errors.Is(err, ErrNotHSMSecret) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: DetectHSMSecret = %v, %v, want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestImportHSMSecret(t *testing.T) {
	plain := mustHex(t, clnFixtureSecret)
	trezorHash := sha256.Sum256(mustHex(t, abandonSeedTrezor))
	for _, tc := range []struct {
		name string
		data []byte
		pass []byte
		typ  SecretType
		want string // hex
	}{
		{"plain", plain, nil, TypeHSMSecret, clnFixtureSecret},
		{"mnemonic", mnemonicFile(make([]byte, 32), abandonMnemonic), nil, TypeBIP39Seed, abandonSeedEmpty},
		{"mnemonic with passphrase", mnemonicFile(trezorHash[:], abandonMnemonic), []byte("TREZOR"), TypeBIP39SeedWithPassphrase, abandonSeedTrezor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ImportHSMSecret(tc.data, tc.pass, Regtest)
			if err != nil {
				t.Fatalf("ImportHSMSecret: %v", err)
			}
			if s.Type != tc.typ || s.Network != Regtest || hex.EncodeToString(s.Secret) != tc.want {
				t.Errorf("got %v %x, want %v %s", s, s.Secret, tc.typ, tc.want)
			}
		})
	}
}

func TestImportHSMSecretErrors(t *testing.T) {
	trezorHash := sha256.Sum256(mustHex(t, abandonSeedTrezor))
	badWord := strings.Replace(abandonMnemonic, "about", "abouts", 1)
	badChecksum := strings.Replace(abandonMnemonic, "about", "above", 1)
	for _, tc := range []struct {
		name    string
		data    []byte
		pass    []byte
		network Network
		want    string
		wrong   bool
	}{
		{"wrong mnemonic passphrase", mnemonicFile(trezorHash[:], abandonMnemonic), []byte("trezor"), Bitcoin,
			"the hsm_secret's mnemonic passphrase does not match: wrong passphrase", true},
		{"missing passphrase", mnemonicFile(trezorHash[:], abandonMnemonic), nil, Bitcoin,
			"this hsm_secret is mnemonic with passphrase, so its passphrase is needed", false},
		{"needless passphrase", make([]byte, 32), []byte("x"), Bitcoin,
			"this hsm_secret is plain (32 bytes) and takes no passphrase", false},
		{"bad word", mnemonicFile(make([]byte, 32), badWord), nil, Bitcoin,
			"the hsm_secret's mnemonic is damaged: the recovery words are not a valid BIP39 mnemonic: word 12 is not in the BIP39 English word list", false},
		{"bad checksum", mnemonicFile(make([]byte, 32), badChecksum), nil, Bitcoin,
			"the hsm_secret's mnemonic is damaged: the recovery words are not a valid BIP39 mnemonic: the checksum does not match (a word is wrong, or words are out of order)", false},
		{"trailing newline", mnemonicFile(make([]byte, 32), abandonMnemonic+"\n"), nil, Bitcoin,
			"the words must be lowercase and separated by single spaces", false},
		{"bad network", make([]byte, 32), nil, "mainnet", `network "mainnet" is not one of bitcoin, testnet, signet, regtest`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ImportHSMSecret(tc.data, tc.pass, tc.network)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if errors.Is(err, ErrWrongPassphrase) != tc.wrong {
				t.Errorf("errors.Is(err, ErrWrongPassphrase) = %v", !tc.wrong)
			}
			assertNoSecrets(t, err.Error(), nil, tc.pass, "abandon about above abouts")
		})
	}
}

// The libsodium-made fixture opens with this package's code: Argon2id
// parameters, salt and stream construction all match CLN's.
func TestImportEncryptedHSMSecretLibsodiumFixture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs CLN's Argon2id cost (256 MiB) twice")
	}
	key := clnEncryptionKey([]byte(clnFixturePassphrase))
	if hex.EncodeToString(key) != clnFixtureKey {
		t.Fatalf("Argon2id key = %x, want libsodium's %s", key, clnFixtureKey)
	}
	file := mustHex(t, clnFixtureFile)
	s, err := ImportHSMSecret(file, []byte(clnFixturePassphrase), Bitcoin)
	if err != nil {
		t.Fatalf("ImportHSMSecret: %v", err)
	}
	if s.Type != TypeHSMSecretEncrypted || hex.EncodeToString(s.Secret) != clnFixtureSecret {
		t.Errorf("got %v %x, want %s", s, s.Secret, clnFixtureSecret)
	}

	_, err = ImportHSMSecret(file, []byte("not the passphrase"), Bitcoin)
	if !errors.Is(err, ErrWrongPassphrase) || err.Error() != "cannot decrypt the hsm_secret: wrong passphrase" {
		t.Errorf("wrong passphrase: %v", err)
	}
}

// A file encrypted the CLN way by this package's own Seal round-trips, and
// reproduces the libsodium fixture byte for byte given the same header.
func TestImportEncryptedHSMSecretOwnEncryption(t *testing.T) {
	if testing.Short() {
		t.Skip("runs CLN's Argon2id cost (256 MiB)")
	}
	pass := []byte(clnFixturePassphrase)
	key := clnEncryptionKey(pass)
	fixture := mustHex(t, clnFixtureFile)
	sealed, err := secretstream.Seal(key, fixture[:secretstream.HeaderSize], mustHex(t, clnFixtureSecret), secretstream.TagMessage)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed, fixture) {
		t.Errorf("own encryption =\n%x\nlibsodium's =\n%x", sealed, fixture)
	}

	header := make([]byte, secretstream.HeaderSize)
	rand.Read(header)
	secret := make([]byte, 32)
	rand.Read(secret)
	file, err := secretstream.Seal(key, header, secret, secretstream.TagMessage)
	if err != nil {
		t.Fatal(err)
	}
	if len(file) != 73 {
		t.Fatalf("encrypted hsm_secret has %d bytes, want 73", len(file))
	}
	s, err := ImportHSMSecret(file, pass, Testnet)
	if err != nil {
		t.Fatalf("ImportHSMSecret: %v", err)
	}
	if !bytes.Equal(s.Secret, secret) {
		t.Errorf("round trip: got %x, want %x", s.Secret, secret)
	}
}
