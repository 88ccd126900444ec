package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// BIP39's English vectors (passphrase "TREZOR"): mnemonic → seed, and the
// seed's BIP32 root.
func TestBIP39Vectors(t *testing.T) {
	raw, err := os.ReadFile(sharedPath(t, "reference/bip39/vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string][][]string
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	english := all["english"]
	if len(english) == 0 {
		t.Fatal("no English vectors")
	}
	for _, v := range english {
		mnemonic, seedHex, xprv := v[1], v[2], v[3]
		t.Run(strings.Join(strings.Fields(mnemonic)[:3], "_"), func(t *testing.T) {
			seed, err := MnemonicToSeed(mnemonic, "TREZOR")
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(seed); got != seedHex {
				t.Errorf("seed %s, want %s", got, seedHex)
			}
			m, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
			if err != nil {
				t.Fatal(err)
			}
			if m.String() != xprv {
				t.Errorf("root %s, want %s", m.String(), xprv)
			}
			r, err := NewFromMnemonic(mnemonic, "TREZOR")
			if err != nil {
				t.Fatal(err)
			}
			if r.SecretType() != SecretMnemonicWithPass || !r.HasBIP86() {
				t.Errorf("type %d, bip86 %v", r.SecretType(), r.HasBIP86())
			}
			r2, _ := New(seed)
			if r2.NodeID() != r.NodeID() {
				t.Errorf("NewFromMnemonic and New(seed) disagree")
			}
		})
	}
}

func TestMnemonicErrors(t *testing.T) {
	for _, m := range []string{
		"",
		"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", // bad checksum
		"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abut",    // not a word
	} {
		if _, err := NewFromMnemonic(m, ""); !errors.Is(err, ErrInvalidMnemonic) {
			t.Errorf("%q: %v", m, err)
		}
	}
	r, err := NewFromMnemonic("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.SecretType() != SecretMnemonicNoPass {
		t.Errorf("no passphrase: type %d", r.SecretType())
	}
}

// BIP86's test vectors (bip-0086.mediawiki): the mnemonic "abandon … about"
// with no passphrase.  CLN takes m/86'/0'/0' from the 64-byte seed.
func TestBIP86Vectors(t *testing.T) {
	r, err := NewFromMnemonic("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "")
	if err != nil {
		t.Fatal(err)
	}
	const accountXpub = "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ"
	dec := base58.Decode(accountXpub)
	if len(dec) != ExtKeySize+4 {
		t.Fatalf("xpub decodes to %d bytes", len(dec))
	}
	got, err := r.BIP86BaseExtKey(BIP32Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:], dec[:ExtKeySize]) {
		t.Errorf("m/86'/0'/0'\n got %x\nwant %x", got, dec[:ExtKeySize])
	}
	for i, internal := range []string{
		"cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115",
		"83dfe85a3151d2517290da461fe2815591ef69f2b18a2ce63f01697a8b313145",
	} {
		k, err := r.BIP86Key(uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		if x := hex.EncodeToString(k.PubKey().SerializeCompressed()[1:]); x != internal {
			t.Errorf("m/86'/0'/0'/0/%d internal key %s, want %s", i, x, internal)
		}
		u, _ := r.UTXOKey(uint32(i))
		if !u.PubKey().IsEqual(k.PubKey()) {
			t.Errorf("UTXOKey(%d) does not use BIP86 for a 64-byte seed", i)
		}
	}
	// Testnet versions change only the version bytes.
	tn, err := r.BIP86BaseExtKey(BIP32Testnet)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tn[:4], []byte{0x04, 0x35, 0x87, 0xcf}) || !bytes.Equal(tn[4:], got[4:]) {
		t.Errorf("testnet BIP86 base %x", tn)
	}
}

func TestWalletKeyIndex(t *testing.T) {
	r := ringFor(t, strings.Repeat("01", 32))
	if _, err := r.WalletKey(1<<31 - 1); err != nil {
		t.Errorf("index 2^31-1: %v", err)
	}
	for _, idx := range []uint32{1 << 31, ^uint32(0)} {
		if _, err := r.WalletKey(idx); !errors.Is(err, ErrIndexTooGreat) {
			t.Errorf("index %d: %v", idx, err)
		}
	}
	if _, err := r.BIP86Key(0); !errors.Is(err, ErrNoBIP86) {
		t.Errorf("BIP86Key on a 32-byte secret: %v", err)
	}
	w, _ := r.WalletKey(5)
	u, _ := r.UTXOKey(5)
	if !w.PubKey().IsEqual(u.PubKey()) {
		t.Errorf("UTXOKey does not use m/0/0/i for a 32-byte secret")
	}
}

func TestBIP32Versions(t *testing.T) {
	r := ringFor(t, strings.Repeat("01", 32))
	main, err := r.WalletExtKey(BIP32Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v    BIP32Version
		want []byte // version bytes, or nil for an error
	}{
		{BIP32Mainnet, []byte{0x04, 0x88, 0xb2, 0x1e}},
		{BIP32Testnet, []byte{0x04, 0x35, 0x87, 0xcf}},
		// libwally derives the public version from the private one.
		{BIP32Version{Public: BIP32Mainnet.Public, Private: BIP32Testnet.Private}, []byte{0x04, 0x35, 0x87, 0xcf}},
		{BIP32Version{Public: 0x045f1cf6, Private: 0x045f18bc}, nil},
		{BIP32Version{}, nil},
	} {
		got, err := r.WalletExtKey(tc.v)
		if tc.want == nil {
			if !errors.Is(err, ErrKeyVersion) {
				t.Errorf("%08x/%08x: %v", tc.v.Public, tc.v.Private, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:4], tc.want) || !bytes.Equal(got[4:], main[4:]) {
			t.Errorf("%08x/%08x: %x", tc.v.Public, tc.v.Private, got)
		}
	}
	// m/0/0: depth 2, child 0.
	if main[4] != 2 || !bytes.Equal(main[9:13], []byte{0, 0, 0, 0}) {
		t.Errorf("wallet ext key depth %d child %x", main[4], main[9:13])
	}
}
