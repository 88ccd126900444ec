package secretstore

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestGreenlightSeed(t *testing.T) {
	s, err := GreenlightSeed(abandonMnemonic, Bitcoin)
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != TypeGreenlight || hex.EncodeToString(s.Secret) != abandonSeedEmpty[:64] {
		t.Errorf("GreenlightSeed = %v %x, want the first 32 bytes of %s", s, s.Secret, abandonSeedEmpty)
	}
	if _, err := GreenlightSeed(abandonMnemonic, "main"); err == nil {
		t.Error("bad network accepted")
	}
}

func TestNewMnemonic(t *testing.T) {
	for _, n := range []int{12, 15, 18, 21, 24} {
		m, err := NewMnemonic(n)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(strings.Fields(m)); got != n {
			t.Errorf("NewMnemonic(%d) has %d words", n, got)
		}
		if err := CheckMnemonic(m); err != nil {
			t.Errorf("NewMnemonic(%d) does not check: %v", n, err)
		}
	}
	a, _ := NewMnemonic(12)
	b, _ := NewMnemonic(12)
	if a == b {
		t.Error("two fresh mnemonics are equal")
	}
	for _, n := range []int{0, 11, 13, 27} {
		if _, err := NewMnemonic(n); err == nil {
			t.Errorf("NewMnemonic(%d) succeeded", n)
		}
	}
}

func TestCheckMnemonic(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" for valid
	}{
		{abandonMnemonic, ""},
		{"legal winner thank year wave sausage worth useful legal winner thank yellow", ""},
		{"zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote", ""},
		{strings.Repeat("abandon ", 11) + "abandon", "the checksum does not match (a word is wrong, or words are out of order)"},
		{strings.Repeat("abandon ", 10) + "bitcoin about", "word 11 is not in the BIP39 English word list"},
		{strings.Repeat("abandon ", 10) + "about", "it has 11 words, where BIP39 has 12, 15, 18, 21 or 24"},
		{strings.ToUpper(abandonMnemonic), "the words must be lowercase and separated by single spaces"},
		{" " + abandonMnemonic, "the words must be lowercase and separated by single spaces"},
		{"", "it has 1 words"},
	} {
		err := CheckMnemonic(tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckMnemonic(%q) = %v", tc.in, err)
			}
			continue
		}
		var me *MnemonicError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckMnemonic(%q) = %v, want %q", tc.in, err, tc.want)
			continue
		}
		assertNoSecrets(t, err.Error(), nil, nil, "abandon about bitcoin zoo vote")
	}
}

func TestNormalizeMnemonic(t *testing.T) {
	in := "  Abandon abandon\tabandon abandon abandon abandon\nabandon abandon abandon abandon abandon ABOUT\n"
	if got := NormalizeMnemonic(in); got != abandonMnemonic {
		t.Errorf("NormalizeMnemonic = %q", got)
	}
}
