package signer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// descriptorAddress derives index's address from one of
// keys.WalletDescriptors' lines, as a watching wallet would, and returns
// the key it used.
func descriptorAddress(t *testing.T, d string, index uint32) (string, *btcec.PublicKey) {
	t.Helper()
	body, sum, _ := strings.Cut(d, "#")
	if want, err := keys.DescriptorChecksum(body); err != nil || want != sum {
		t.Fatalf("%s: checksum %q, want %q", d, sum, want)
	}
	open := strings.LastIndexByte(body, '(')
	form := body[:open]
	xpub, path, _ := strings.Cut(strings.TrimRight(body[open+1:], ")"), "/")
	k, err := hdkeychain.NewKeyFromString(xpub)
	if err != nil {
		t.Fatalf("%s: %v", d, err)
	}
	for _, step := range strings.Split(strings.TrimSuffix(path, "/*"), "/") {
		if step != "0" {
			t.Fatalf("%s: unexpected path step %q", d, step)
		}
		if k, err = k.Derive(0); err != nil {
			t.Fatal(err)
		}
	}
	if k, err = k.Derive(index); err != nil {
		t.Fatal(err)
	}
	pub, err := k.ECPubKey()
	if err != nil {
		t.Fatal(err)
	}
	params := &chaincfg.MainNetParams
	var addr btcutil.Address
	switch form {
	case "wpkh":
		addr, err = btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), params)
	case "sh(wpkh":
		redeem := append([]byte{0x00, 0x14}, btcutil.Hash160(pub.SerializeCompressed())...)
		addr, err = btcutil.NewAddressScriptHash(redeem, params)
	case "tr":
		addr, err = btcutil.NewAddressTaproot(schnorr.SerializePubKey(txscript.ComputeTaprootKeyNoScript(pub)), params)
	default:
		t.Fatalf("%s: unexpected form %q", d, form)
	}
	if err != nil {
		t.Fatal(err)
	}
	return addr.EncodeAddress(), pub
}

// The descriptors gl-signerd export descriptors prints describe the keys
// the engine confirms when lightningd asks check_pubkey (32-byte secrets)
// or check_bip86_pubkey (64-byte seeds) for a wallet index, and, for BIP86's
// test seed, BIP86's published addresses.
func TestWalletDescriptorsMatchEngine(t *testing.T) {
	bip86Seed, err := keys.MnemonicToSeed("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		check  func(index uint32, pub hsmproto.Pubkey) hsmproto.Message
		tr     map[uint32]string // known p2tr addresses
	}{
		{"32-byte hsm_secret", bytes.Repeat([]byte{0x42}, 32),
			func(i uint32, p hsmproto.Pubkey) hsmproto.Message { return &hsmproto.CheckPubkey{Index: i, Pubkey: p} }, nil},
		{"64-byte BIP39 seed", bip86Seed,
			func(i uint32, p hsmproto.Pubkey) hsmproto.Message {
				return &hsmproto.CheckBip86Pubkey{Index: i, Pubkey: p}
			},
			map[uint32]string{ // bip-0086.mediawiki's test vectors
				0: "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
				1: "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEngine(tc.secret)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := keys.WalletDescriptors(tc.secret, keys.BIP32Mainnet)
			if err != nil {
				t.Fatal(err)
			}
			prefixes := []string{"bc1q", "3", "bc1p"}
			for n, d := range ds {
				for _, index := range []uint32{0, 1, 1000} {
					addr, pub := descriptorAddress(t, d, index)
					if !strings.HasPrefix(addr, prefixes[n]) {
						t.Errorf("%s index %d: address %s, want it to start %s", d, index, addr, prefixes[n])
					}
					if want, ok := tc.tr[index]; ok && prefixes[n] == "bc1p" && addr != want {
						t.Errorf("%s index %d: address %s, want BIP86's %s", d, index, addr, want)
					}
					reply, re := ask(t, e, MasterClient, tc.check(index, hsmproto.PubkeyFrom(pub)))
					if re != nil {
						t.Fatalf("%s index %d: the engine refused the descriptor's key: %v", d, index, re.Reason)
					}
					switch r := reply.(type) {
					case *hsmproto.CheckPubkeyReply:
						if !r.Ok {
							t.Errorf("%s index %d: check_pubkey not ok", d, index)
						}
					case *hsmproto.CheckBip86PubkeyReply:
						if !r.Ok {
							t.Errorf("%s index %d: check_bip86_pubkey not ok", d, index)
						}
					}
					// The next index's key is not this one.
					if _, re := ask(t, e, MasterClient, tc.check(index+1, hsmproto.PubkeyFrom(pub))); re == nil {
						t.Errorf("%s: the engine confirmed index %d's key for index %d", d, index, index+1)
					}
				}
			}
		})
	}
}
