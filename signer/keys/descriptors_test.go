package keys

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// BIP380's test vector and two from Bitcoin Core's documentation and tests.
func TestDescriptorChecksum(t *testing.T) {
	for _, tc := range []struct{ desc, sum string }{
		{"raw(deadbeef)", "89f8spxm"},
		{"pkh(02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5)", "8fhd9pwu"},
		{"wpkh([d34db33f/84h/0h/0h]xpub6DJ2dNUysrn5Vt36jH2KLBT2i1auw1tTSSomg8PhqNiUtx8QX2SvC9nrHu81fT41fvDUnhMjEzQgXnQjKEu3oaqMSzhSrHMxyyoEAmUHQbY/0/*)", "cjjspncu"},
	} {
		got, err := DescriptorChecksum(tc.desc)
		if err != nil || got != tc.sum {
			t.Errorf("DescriptorChecksum(%s) = %q, %v; want %q", tc.desc, got, err, tc.sum)
		}
	}
	if _, err := DescriptorChecksum("raw(dé)"); err == nil || !strings.Contains(err.Error(), `'é' at 5`) {
		t.Errorf("a character outside the set: %v", err)
	}
}

// splitDescriptor returns a WalletDescriptors line's script form, extended
// key and path, after checking its checksum.
func splitDescriptor(t *testing.T, d string) (form, xpub, path string) {
	t.Helper()
	body, sum, ok := strings.Cut(d, "#")
	if want, _ := DescriptorChecksum(body); !ok || sum != want {
		t.Fatalf("%s: checksum %q, want %q", d, sum, want)
	}
	open := strings.LastIndexByte(body, '(')
	form = body[:open+1] + strings.Repeat(")", strings.Count(body, ")"))
	inner := strings.TrimRight(body[open+1:], ")")
	xpub, path, _ = strings.Cut(inner, "/")
	return form, xpub, path
}

func TestWalletDescriptorsBIP86Seed(t *testing.T) {
	// BIP86's test vector: the account key of "abandon … about" is
	// m/86'/0'/0', which CLN uses for a 64-byte (mnemonic) hsm_secret.
	seed, err := MnemonicToSeed("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := WalletDescriptors(seed, BIP32Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	const account = "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ"
	wantForms := []string{"wpkh()", "sh(wpkh())", "tr()"}
	if len(ds) != len(wantForms) {
		t.Fatalf("got %d descriptors, want %d: %q", len(ds), len(wantForms), ds)
	}
	for i, d := range ds {
		form, xpub, path := splitDescriptor(t, d)
		if form != wantForms[i] || xpub != account || path != "0/*" {
			t.Errorf("descriptor %d = %s; want %s over %s/0/*", i, d, wantForms[i], account)
		}
	}
}

func TestWalletDescriptorsHSMSecret(t *testing.T) {
	secret := bytes.Repeat([]byte{0x11}, 32)
	for _, v := range []struct {
		version BIP32Version
		prefix  string
	}{{BIP32Mainnet, "xpub"}, {BIP32Testnet, "tpub"}} {
		ds, err := WalletDescriptors(secret, v.version)
		if err != nil {
			t.Fatal(err)
		}
		ring, err := New(secret)
		if err != nil {
			t.Fatal(err)
		}
		// hsmd_init's bip32 reply is m/0/0; the descriptors' key is m, and
		// their path starts 0/0.
		want, err := ring.WalletExtKey(v.version)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			_, xpub, path := splitDescriptor(t, d)
			if !strings.HasPrefix(xpub, v.prefix) || path != "0/0/*" {
				t.Fatalf("%s: want a %s key and the path 0/0/*", d, v.prefix)
			}
			k, err := hdkeychain.NewKeyFromString(xpub)
			if err != nil || k.IsPrivate() || k.Depth() != 0 {
				t.Fatalf("%s: key %v (private %v, depth %d), want a public master key", d, err, k.IsPrivate(), k.Depth())
			}
			m0, _ := k.Derive(0)
			m00, err := m0.Derive(0)
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := m00.ECPubKey()
			if !bytes.Equal(pub.SerializeCompressed(), want[45:]) || !bytes.Equal(m00.ChainCode(), want[13:45]) {
				t.Errorf("%s: m/0/0 is %x, want hsmd_init's %x", d, pub.SerializeCompressed(), want[45:])
			}
			if strings.Contains(d, hex.EncodeToString(secret)) {
				t.Errorf("%s shows the secret", d)
			}
		}
	}
	if _, err := WalletDescriptors(make([]byte, 31), BIP32Mainnet); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
	if _, err := WalletDescriptors(secret, BIP32Version{1, 2}); err == nil {
		t.Error("an unknown BIP32 version was accepted")
	}
}
