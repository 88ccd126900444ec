package secretstore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/tyler-smith/go-bip39"
)

// MnemonicError says why a mnemonic is not valid BIP39. It names word
// positions, never words.
type MnemonicError struct {
	Reason string
}

func (e *MnemonicError) Error() string {
	return "the recovery words are not a valid BIP39 mnemonic: " + e.Reason
}

// NewMnemonic returns a fresh English BIP39 mnemonic of words words (12, 15,
// 18, 21 or 24), from crypto/rand.
func NewMnemonic(words int) (string, error) {
	if words < 12 || words > 24 || words%3 != 0 {
		return "", fmt.Errorf("a mnemonic has 12, 15, 18, 21 or 24 words, not %d", words)
	}
	entropy := make([]byte, words*4/3)
	defer Wipe(entropy)
	if _, err := rand.Read(entropy); err != nil {
		return "", fmt.Errorf("cannot read random bytes: %w", err)
	}
	m, err := bip39.NewMnemonic(entropy)
	if err != nil {
		return "", errors.New("cannot make a mnemonic from fresh entropy")
	}
	return m, nil
}

// NormalizeMnemonic lowercases s and separates its words by single spaces,
// the form BIP39 seeds are computed from.
func NormalizeMnemonic(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// CheckMnemonic checks that m is a normalized English BIP39 mnemonic with a
// valid checksum. Its errors name word positions, never words.
func CheckMnemonic(m string) error {
	if NormalizeMnemonic(m) != m {
		return &MnemonicError{Reason: "the words must be lowercase and separated by single spaces"}
	}
	words := strings.Split(m, " ")
	if n := len(words); n < 12 || n > 24 || n%3 != 0 {
		return &MnemonicError{Reason: fmt.Sprintf("it has %d words, where BIP39 has 12, 15, 18, 21 or 24", n)}
	}
	for i, w := range words {
		if _, ok := bip39.GetWordIndex(w); !ok {
			return &MnemonicError{Reason: fmt.Sprintf("word %d is not in the BIP39 English word list", i+1)}
		}
	}
	entropy, err := bip39.EntropyFromMnemonic(m)
	Wipe(entropy)
	if err != nil {
		// go-bip39's own errors may quote a word; say it in our words.
		return &MnemonicError{Reason: "the checksum does not match (a word is wrong, or words are out of order)"}
	}
	return nil
}

// mnemonicSeed returns the 64-byte BIP39 seed of a checked mnemonic.
func mnemonicSeed(m string, bip39Passphrase string) ([]byte, error) {
	if err := CheckMnemonic(m); err != nil {
		return nil, err
	}
	seed := bip39.NewSeed(m, bip39Passphrase)
	Mlock(seed)
	return seed, nil
}

// GreenlightSeed returns the Greenlight-compatible secret of a mnemonic: the
// first 32 bytes of its BIP39 seed with an empty BIP39 passphrase. The
// mnemonic must be normalized (NormalizeMnemonic).
func GreenlightSeed(mnemonic string, network Network) (*Seed, error) {
	if network.code() == 0 {
		return nil, fmt.Errorf("network %q is not one of %s", network, networkNames())
	}
	full, err := mnemonicSeed(mnemonic, "")
	if err != nil {
		return nil, err
	}
	defer func() { Munlock(full); Wipe(full) }()
	secret := make([]byte, 32)
	Mlock(secret)
	copy(secret, full)
	return &Seed{Type: TypeGreenlight, Network: network, Secret: secret}, nil
}
