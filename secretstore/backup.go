package secretstore

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// ErrNoWords means a seed was not made from recovery words (a CLN
// hsm_secret imported from its file), so there are no words to check.
var ErrNoWords = errors.New("this secret store holds a CLN hsm_secret imported from a file, which has no recovery words; its backup is a copy of that file")

// ErrNeedsBIP39Passphrase means the seed came from recovery words and a
// BIP39 passphrase, which MatchesMnemonic does not take.
var ErrNeedsBIP39Passphrase = errors.New("this secret store holds a seed made from recovery words and a BIP39 passphrase, which gl-signerd cannot check")

// MatchesMnemonic says whether mnemonic (normalized, NormalizeMnemonic) is
// the backup of s: whether it gives s's secret the way s was made from it
// (the Greenlight secret, or CLN's mnemonic-layout BIP39 seed). A mnemonic
// that is not valid BIP39 gives a *MnemonicError. Neither the answer nor an
// error reveals a word or a secret byte; the comparison takes the same
// time wherever the secrets differ.
func (s *Seed) MatchesMnemonic(mnemonic string) (bool, error) {
	n, err := s.wordsSecretLen()
	if err != nil {
		return false, err
	}
	full, err := mnemonicSeed(mnemonic, "")
	if err != nil {
		return false, err
	}
	defer func() { Munlock(full); Wipe(full) }()
	return len(s.Secret) == n && subtle.ConstantTimeCompare(full[:n], s.Secret) == 1, nil
}

// CanCheckWords says whether MatchesMnemonic can check recovery words
// against s: nil, ErrNoWords or ErrNeedsBIP39Passphrase.
func (s *Seed) CanCheckWords() error {
	_, err := s.wordsSecretLen()
	return err
}

// wordsSecretLen is how many bytes of the BIP39 seed s keeps.
func (s *Seed) wordsSecretLen() (int, error) {
	switch s.Type {
	case TypeGreenlight:
		return 32, nil
	case TypeBIP39Seed:
		return 64, nil
	case TypeHSMSecret, TypeHSMSecretEncrypted:
		return 0, ErrNoWords
	case TypeBIP39SeedWithPassphrase:
		return 0, ErrNeedsBIP39Passphrase
	}
	return 0, fmt.Errorf("secret type %d is not known", uint8(s.Type))
}
