package secretstore

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// ErrNoWords means a seed was not made from recovery words (a CLN
// hsm_secret imported from its file), so there are no words to check.
var ErrNoWords = errors.New("this secret store holds a CLN hsm_secret imported from a file, which has no recovery words; its backup is a copy of that file")

// MatchesMnemonic says whether mnemonic (normalized, NormalizeMnemonic) is
// the backup of s: whether it gives s's secret the way s was made from it
// (the Greenlight secret, or CLN's mnemonic-layout BIP39 seed, with
// bip39Passphrase for a seed made with one; see NeedsBIP39Passphrase). A
// mnemonic that is not valid BIP39 gives a *MnemonicError. Neither the
// answer nor an error reveals a word, a passphrase or a secret byte; the
// comparison takes the same time wherever the secrets differ.
func (s *Seed) MatchesMnemonic(mnemonic string, bip39Passphrase []byte) (bool, error) {
	n, err := s.wordsSecretLen()
	if err != nil {
		return false, err
	}
	if s.NeedsBIP39Passphrase() != (len(bip39Passphrase) > 0) {
		if len(bip39Passphrase) > 0 {
			return false, errors.New("this secret store's seed was made without a BIP39 passphrase, and one was given")
		}
		return false, errors.New("this secret store's seed was made with a BIP39 passphrase, and none was given")
	}
	full, err := mnemonicSeed(mnemonic, string(bip39Passphrase))
	if err != nil {
		return false, err
	}
	defer func() { Munlock(full); Wipe(full) }()
	return len(s.Secret) == n && subtle.ConstantTimeCompare(full[:n], s.Secret) == 1, nil
}

// CanCheckWords says whether MatchesMnemonic can check recovery words
// against s: nil, or ErrNoWords.
func (s *Seed) CanCheckWords() error {
	_, err := s.wordsSecretLen()
	return err
}

// NeedsBIP39Passphrase says whether s was made from recovery words and a
// BIP39 passphrase (CLN's mnemonic layout with a passphrase), which
// MatchesMnemonic then needs too.
func (s *Seed) NeedsBIP39Passphrase() bool { return s.Type == TypeBIP39SeedWithPassphrase }

// wordsSecretLen is how many bytes of the BIP39 seed s keeps.
func (s *Seed) wordsSecretLen() (int, error) {
	switch s.Type {
	case TypeGreenlight:
		return 32, nil
	case TypeBIP39Seed, TypeBIP39SeedWithPassphrase:
		return 64, nil
	case TypeHSMSecret, TypeHSMSecretEncrypted:
		return 0, ErrNoWords
	}
	return 0, fmt.Errorf("secret type %d is not known", uint8(s.Type))
}
