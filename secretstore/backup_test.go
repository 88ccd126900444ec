package secretstore

import (
	"encoding/hex"
	"errors"
	"testing"
)

func TestMatchesMnemonic(t *testing.T) {
	full, _ := hex.DecodeString(abandonSeedEmpty)
	greenlight := &Seed{Type: TypeGreenlight, Network: Bitcoin, Secret: full[:32]}
	bip39Seed := &Seed{Type: TypeBIP39Seed, Network: Bitcoin, Secret: full}
	other := "legal winner thank year wave sausage worth useful legal winner thank yellow" // BIP39 vector, valid
	for _, tc := range []struct {
		name     string
		seed     *Seed
		mnemonic string
		want     bool
		wantErr  error
	}{
		{"greenlight secret, its words", greenlight, abandonMnemonic, true, nil},
		{"greenlight secret, other words", greenlight, other, false, nil},
		{"CLN mnemonic layout, its words", bip39Seed, abandonMnemonic, true, nil},
		{"CLN mnemonic layout, other words", bip39Seed, other, false, nil},
		{"greenlight secret, a bad checksum", greenlight, "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", false, &MnemonicError{}},
		{"plain hsm_secret", testSeed(TypeHSMSecret, Bitcoin), abandonMnemonic, false, ErrNoWords},
		{"encrypted hsm_secret", testSeed(TypeHSMSecretEncrypted, Bitcoin), abandonMnemonic, false, ErrNoWords},
		{"BIP39 passphrase", testSeed(TypeBIP39SeedWithPassphrase, Bitcoin), abandonMnemonic, false, ErrNeedsBIP39Passphrase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.seed.MatchesMnemonic(tc.mnemonic)
			if got != tc.want {
				t.Errorf("MatchesMnemonic = %v, want %v", got, tc.want)
			}
			var me *MnemonicError
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.wantErr != nil && errors.As(tc.wantErr, &me):
				if !errors.As(err, &me) {
					t.Errorf("error %v, want a *MnemonicError", err)
				}
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				assertNoSecrets(t, err.Error(), tc.seed.Secret, nil, tc.mnemonic)
			}
		})
	}
}
