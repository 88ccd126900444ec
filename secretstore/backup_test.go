package secretstore

import (
	"encoding/hex"
	"errors"
	"testing"
)

// errAny stands for "some error" in the table below.
var errAny = errors.New("any error")

func TestMatchesMnemonic(t *testing.T) {
	full, _ := hex.DecodeString(abandonSeedEmpty)
	trezor, _ := hex.DecodeString(abandonSeedTrezor)
	greenlight := &Seed{Type: TypeGreenlight, Network: Bitcoin, Secret: full[:32]}
	bip39Seed := &Seed{Type: TypeBIP39Seed, Network: Bitcoin, Secret: full}
	withPass := &Seed{Type: TypeBIP39SeedWithPassphrase, Network: Bitcoin, Secret: trezor}
	other := "legal winner thank year wave sausage worth useful legal winner thank yellow" // BIP39 vector, valid
	for _, tc := range []struct {
		name     string
		seed     *Seed
		mnemonic string
		pass     string
		want     bool
		wantErr  error
	}{
		{"greenlight secret, its words", greenlight, abandonMnemonic, "", true, nil},
		{"greenlight secret, other words", greenlight, other, "", false, nil},
		{"greenlight secret, a BIP39 passphrase given", greenlight, abandonMnemonic, "TREZOR", false, errAny},
		{"CLN mnemonic layout, its words", bip39Seed, abandonMnemonic, "", true, nil},
		{"CLN mnemonic layout, other words", bip39Seed, other, "", false, nil},
		{"BIP39 passphrase, its words and passphrase", withPass, abandonMnemonic, "TREZOR", true, nil},
		{"BIP39 passphrase, another passphrase", withPass, abandonMnemonic, "trezor", false, nil},
		{"BIP39 passphrase, none given", withPass, abandonMnemonic, "", false, errAny},
		{"greenlight secret, a bad checksum", greenlight, "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", "", false, &MnemonicError{}},
		{"plain hsm_secret", testSeed(TypeHSMSecret, Bitcoin), abandonMnemonic, "", false, ErrNoWords},
		{"encrypted hsm_secret", testSeed(TypeHSMSecretEncrypted, Bitcoin), abandonMnemonic, "", false, ErrNoWords},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.seed.MatchesMnemonic(tc.mnemonic, []byte(tc.pass))
			if got != tc.want {
				t.Errorf("MatchesMnemonic = %v, want %v", got, tc.want)
			}
			var me *MnemonicError
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.wantErr == errAny:
				if err == nil {
					t.Error("no error, want one")
				}
			case tc.wantErr != nil && errors.As(tc.wantErr, &me):
				if !errors.As(err, &me) {
					t.Errorf("error %v, want a *MnemonicError", err)
				}
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				assertNoSecrets(t, err.Error(), tc.seed.Secret, []byte(tc.pass), tc.mnemonic)
			}
		})
	}
}
