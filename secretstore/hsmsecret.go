package secretstore

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"

	"gl-signerd/secretstore/internal/secretstream"
)

// HSMSecretFormat is a layout of CLN's hsm_secret file, as CLN v26.06
// (common/hsm_secret.c) tells them apart: by length, then by the first 32
// bytes.
type HSMSecretFormat int

const (
	// HSMSecretPlain is 32 raw bytes.
	HSMSecretPlain HSMSecretFormat = iota + 1
	// HSMSecretEncrypted is 73 bytes: libsodium secretstream
	// XChaCha20-Poly1305 (24-byte header, 1 tag byte, 32 bytes, 16-byte MAC)
	// under an Argon2id key from the passphrase.
	HSMSecretEncrypted
	// HSMSecretMnemonic is 32 zero bytes followed by a BIP39 mnemonic
	// (no BIP39 passphrase).
	HSMSecretMnemonic
	// HSMSecretMnemonicWithPassphrase is SHA-256 of the BIP39 seed followed
	// by the mnemonic; the passphrase is the BIP39 passphrase.
	HSMSecretMnemonicWithPassphrase
)

func (f HSMSecretFormat) String() string {
	switch f {
	case HSMSecretPlain:
		return "plain (32 bytes)"
	case HSMSecretEncrypted:
		return "passphrase-encrypted (73 bytes)"
	case HSMSecretMnemonic:
		return "mnemonic without passphrase"
	case HSMSecretMnemonicWithPassphrase:
		return "mnemonic with passphrase"
	}
	return "unknown"
}

// NeedsPassphrase says whether ImportHSMSecret needs a passphrase for f.
func (f HSMSecretFormat) NeedsPassphrase() bool {
	return f == HSMSecretEncrypted || f == HSMSecretMnemonicWithPassphrase
}

const (
	hsmSecretPlainLen     = 32
	hsmSecretEncryptedLen = secretstream.HeaderSize + secretstream.Overhead + 32 // 73
	hsmSecretMaxLen       = 32 + 24*9                                            // hash + 24 words of at most 8 letters and a space
)

// CLN's Argon2id parameters for hsm_secret (common/hsm_secret.c,
// get_encryption_key): libsodium crypto_pwhash with
// crypto_pwhash_argon2id_OPSLIMIT_MODERATE (3), MEMLIMIT_MODERATE (256 MiB),
// one lane, and the fixed 16-byte salt "c-lightning" padded with zeros.
var (
	clnSalt = []byte("c-lightning\x00\x00\x00\x00\x00")
)

const (
	clnArgonTime   = 3
	clnArgonMemKiB = 268435456 / 1024
	clnArgonLanes  = 1
)

// ErrNotHSMSecret means the bytes are in none of CLN's hsm_secret layouts.
var ErrNotHSMSecret = errors.New("the file is not a CLN hsm_secret")

// DetectHSMSecret tells which layout data is in.
func DetectHSMSecret(data []byte) (HSMSecretFormat, error) {
	switch {
	case len(data) < hsmSecretPlainLen:
		return 0, fmt.Errorf("%w: it has %d bytes, fewer than the 32 of the smallest layout", ErrNotHSMSecret, len(data))
	case len(data) == hsmSecretPlainLen:
		return HSMSecretPlain, nil
	case len(data) == hsmSecretEncryptedLen:
		return HSMSecretEncrypted, nil
	case len(data) > hsmSecretMaxLen:
		return 0, fmt.Errorf("%w: it has %d bytes, more than any layout holds", ErrNotHSMSecret, len(data))
	case bytes.Equal(data[:32], make([]byte, 32)):
		return HSMSecretMnemonic, nil
	default:
		return HSMSecretMnemonicWithPassphrase, nil
	}
}

// clnEncryptionKey derives CLN's hsm_secret encryption key.
func clnEncryptionKey(passphrase []byte) []byte {
	k := argon2.IDKey(passphrase, clnSalt, clnArgonTime, clnArgonMemKiB, clnArgonLanes, secretstream.KeySize)
	Mlock(k)
	return k
}

// ImportHSMSecret reads a CLN hsm_secret (any layout DetectHSMSecret knows)
// and returns it as a Seed for network. passphrase is needed where the
// layout says so (NeedsPassphrase) and must be nil otherwise. A wrong
// passphrase gives ErrWrongPassphrase.
//
// The plain and encrypted layouts give a 32-byte TypeHSMSecret or
// TypeHSMSecretEncrypted seed; the mnemonic layouts give the 64-byte BIP39
// seed CLN uses, as TypeBIP39Seed or TypeBIP39SeedWithPassphrase.
func ImportHSMSecret(data, passphrase []byte, network Network) (*Seed, error) {
	if network.code() == 0 {
		return nil, fmt.Errorf("network %q is not one of %s", network, networkNames())
	}
	format, err := DetectHSMSecret(data)
	if err != nil {
		return nil, err
	}
	if format.NeedsPassphrase() && len(passphrase) == 0 {
		return nil, fmt.Errorf("this hsm_secret is %s, so its passphrase is needed", format)
	}
	if !format.NeedsPassphrase() && passphrase != nil {
		return nil, fmt.Errorf("this hsm_secret is %s and takes no passphrase", format)
	}
	secret := make([]byte, 0, 64)
	Mlock(secret[:cap(secret)])
	typ := TypeHSMSecret

	switch format {
	case HSMSecretPlain:
		secret = append(secret, data...)

	case HSMSecretEncrypted:
		key := clnEncryptionKey(passphrase)
		msg, _, err := secretstream.Open(key, data)
		Munlock(key)
		Wipe(key)
		if err != nil {
			return nil, fmt.Errorf("cannot decrypt the hsm_secret: %w", ErrWrongPassphrase)
		}
		secret = append(secret, msg...)
		Wipe(msg)
		typ = TypeHSMSecretEncrypted

	case HSMSecretMnemonic, HSMSecretMnemonicWithPassphrase:
		typ = TypeBIP39Seed
		if format == HSMSecretMnemonicWithPassphrase {
			typ = TypeBIP39SeedWithPassphrase
		}
		m := string(data[32:])
		if err := CheckMnemonic(m); err != nil {
			return nil, fmt.Errorf("the hsm_secret's mnemonic is damaged: %w", err)
		}
		seed, err := mnemonicSeed(m, string(passphrase))
		if err != nil {
			return nil, err
		}
		if format == HSMSecretMnemonicWithPassphrase {
			h := sha256.Sum256(seed)
			ok := subtle.ConstantTimeCompare(h[:], data[:32]) == 1
			if !ok {
				Munlock(seed)
				Wipe(seed)
				return nil, fmt.Errorf("the hsm_secret's mnemonic passphrase does not match: %w", ErrWrongPassphrase)
			}
		}
		secret = append(secret, seed...)
		Munlock(seed)
		Wipe(seed)
	}
	return &Seed{Type: typ, Network: network, Secret: secret}, nil
}
