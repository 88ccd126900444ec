package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// hdChild is the reference derivation: hdkeychain's Derive and
// ECPrivKey, as the Ring used before ckdPriv.
func hdChild(t testing.TB, parent *hdkeychain.ExtendedKey, index uint32) [32]byte {
	t.Helper()
	c, err := parent.Derive(index)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.ECPrivKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Key.Bytes()
}

// hdBIP32Master is bip32Master with hdkeychain: hsmd's "bip32 seed" HKDF,
// the first salt whose master key is usable.
func hdBIP32Master(t testing.TB, secret []byte) *hdkeychain.ExtendedKey {
	t.Helper()
	var buf [32]byte
	for salt := uint32(0); ; salt++ {
		hkdfSHA256(buf[:], le32(salt), secret, "bip32 seed")
		m, err := hdkeychain.NewMaster(buf[:], &chaincfg.MainNetParams)
		if err == nil {
			return m
		}
	}
}

// hdPath derives path under k with hdkeychain.
func hdPath(t testing.TB, k *hdkeychain.ExtendedKey, path ...uint32) *hdkeychain.ExtendedKey {
	t.Helper()
	for _, i := range path {
		var err error
		if k, err = k.Derive(i); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

var ckdIndexes = []uint32{0, 1, 2, 3, 5, 100, 101, 1000, 65535, 1 << 20, 123456789, 1<<31 - 2, 1<<31 - 1}

// WalletKey and BIP86Key (ckdPriv, the cached public key) give the keys
// hdkeychain derives, with and without the cache, before and after
// eviction.
func TestWalletKeysMatchHDKeychain(t *testing.T) {
	for _, secret := range [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{0x42}, 64)} {
		for _, size := range []int{0, 3, defaultWalletCacheSize} {
			t.Run(fmt.Sprintf("%d-byte secret, cache %d", len(secret), size), func(t *testing.T) {
				r, err := New(secret, WithWalletCacheSize(size))
				if err != nil {
					t.Fatal(err)
				}
				refs := map[bool]*hdkeychain.ExtendedKey{false: hdPath(t, hdBIP32Master(t, secret), 0, 0)}
				if r.HasBIP86() {
					m, err := hdkeychain.NewMaster(secret, &chaincfg.MainNetParams)
					if err != nil {
						t.Fatal(err)
					}
					refs[true] = hdPath(t, m, hdkeychain.HardenedKeyStart|86, hdkeychain.HardenedKeyStart, hdkeychain.HardenedKeyStart, 0)
				}
				for round := range 2 { // the second round reads the cache
					for bip86, parent := range refs {
						for _, i := range ckdIndexes {
							want := hdChild(t, parent, i)
							var k *PrivateKey
							if bip86 {
								k, err = r.BIP86Key(i)
							} else {
								k, err = r.WalletKey(i)
							}
							if err != nil {
								t.Fatal(err)
							}
							if got := k.k.Key.Bytes(); got != want {
								t.Fatalf("round %d, bip86 %v, index %d: private key differs from hdkeychain's", round, bip86, i)
							}
							if !k.PubKey().IsEqual(k.k.PubKey()) {
								t.Fatalf("round %d, bip86 %v, index %d: cached public key is not k·G", round, bip86, i)
							}
						}
					}
				}
				if n := r.walletPubs.Len(); n > max(size, 0) {
					t.Errorf("cache holds %d keys, bound %d", n, size)
				}
			})
		}
	}
}

func TestWalletCacheWipe(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{2}, 64))
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint32(10) {
		if _, err := r.UTXOKey(i); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.walletPubs.Len(); n != 10 {
		t.Fatalf("cache holds %d keys, want 10", n)
	}
	r.Wipe()
	if n := r.walletPubs.Len(); n != 0 {
		t.Errorf("cache holds %d keys after Wipe", n)
	}
	for _, p := range []*bip32Parent{r.walletParent, r.bip86Parent} {
		if !p.key.k.Key.IsZero() || p.chain != [32]byte{} {
			t.Error("a BIP32 parent key survives Wipe")
		}
	}
	for _, f := range []func(uint32) (*PrivateKey, error){r.WalletKey, r.BIP86Key, r.UTXOKey} {
		if _, err := f(1); err == nil || !strings.Contains(err.Error(), "wiped") {
			t.Errorf("wallet key after Wipe: %v", err)
		}
	}
}

// Concurrent derivations through a small cache (go test -race).
func TestWalletCacheConcurrent(t *testing.T) {
	secret := bytes.Repeat([]byte{3}, 32)
	r, err := New(secret, WithWalletCacheSize(8))
	if err != nil {
		t.Fatal(err)
	}
	wallet := hdPath(t, hdBIP32Master(t, secret), 0, 0)
	want := make([][33]byte, 32)
	for i := range want {
		k := hdChild(t, wallet, uint32(i))
		p, err := PrivKeyFromBytes(k[:])
		if err != nil {
			t.Fatal(err)
		}
		copy(want[i][:], p.PubKey().SerializeCompressed())
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := range 200 {
				i := (n*7 + g) % len(want)
				pub, err := r.WalletPubKey(uint32(i))
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(pub.SerializeCompressed(), want[i][:]) {
					t.Errorf("index %d: wrong public key", i)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A key that carries its public key still prints nothing secret.
func TestWalletKeyDoesNotFormat(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{4}, 32))
	if err != nil {
		t.Fatal(err)
	}
	k, err := r.WalletKey(9)
	if err != nil {
		t.Fatal(err)
	}
	kb := k.k.Key.Bytes()
	leak := hex.EncodeToString(kb[:])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		for _, v := range []any{k, *k, r.walletParent, r} {
			if out := fmt.Sprintf(verb, v); strings.Contains(strings.ToLower(out), leak) || strings.Contains(out, "{{") {
				t.Errorf("%s of %T prints %s", verb, v, out)
			}
		}
	}
}

// Channel keys carry their public keys; the per-commitment derivations
// from them are unchanged (the vectors check the values).
func TestChannelBaseKeysCarryPubKeys(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := r.Channel([33]byte{2, 9}, 7)
	if err != nil {
		t.Fatal(err)
	}
	for name, get := range map[string]func() (*PrivateKey, error){
		"funding": ck.FundingKey, "revocation": ck.RevocationBaseKey, "htlc": ck.HTLCBaseKey,
		"payment": ck.PaymentBaseKey, "delayed payment": ck.DelayedPaymentBaseKey,
	} {
		k, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if k.pub == nil || !k.pub.IsEqual(k.k.PubKey()) {
			t.Errorf("%s base key: carried public key is not k·G", name)
		}
	}
	point := ck.FundingPubKey()
	for name, get := range map[string]func() (*PrivateKey, error){
		"htlc":     func() (*PrivateKey, error) { return ck.HTLCKey(point) },
		"delayed":  func() (*PrivateKey, error) { return ck.DelayedPaymentKey(point) },
		"payment":  func() (*PrivateKey, error) { return ck.PaymentKey(point) },
		"taproot":  func() (*PrivateKey, error) { k, _ := ck.FundingKey(); return k.TaprootTweak(nil) },
		"taproot2": func() (*PrivateKey, error) { k, _ := ck.HTLCBaseKey(); return k.TaprootTweak(make([]byte, 32)) },
	} {
		k, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if k.pub != nil && !k.pub.IsEqual(k.k.PubKey()) {
			t.Errorf("%s: derived key carries a wrong public key", name)
		}
	}
	var wiped PrivateKey
	k, _ := ck.FundingKey()
	k.Wipe()
	if *k != wiped {
		t.Error("Wipe leaves something in the key")
	}
}

// PerCommitmentSecretAndPoint gives what the separate derivations give,
// for nearby and distant indexes and at the edges.
func TestPerCommitmentSecretAndPoint(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{6}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := r.Channel([33]byte{3, 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	pairs := [][2]uint64{{0, 2}, {0, 0}, {1, 3}, {5, 7}, {6, 8}, {1000, 1002}, {1 << 20, 1<<20 + 2},
		{MaxCommitmentIndex - 2, MaxCommitmentIndex}, {MaxCommitmentIndex, 0}, {12345, 987654321}, {7, 1 << 40}}
	for n := uint64(0); n < 300; n++ {
		pairs = append(pairs, [2]uint64{n, n + 2}, [2]uint64{n * 7919, n*104729 + 1})
	}
	for _, p := range pairs {
		s, point, err := ck.PerCommitmentSecretAndPoint(p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		ws, _ := ck.PerCommitmentSecret(p[0])
		wp, _ := ck.PerCommitmentPoint(p[1])
		if s != ws || !point.IsEqual(wp) {
			t.Fatalf("PerCommitmentSecretAndPoint(%d, %d) differs", p[0], p[1])
		}
	}
	for _, p := range [][2]uint64{{MaxCommitmentIndex + 1, 0}, {0, MaxCommitmentIndex + 1}, {^uint64(0), 1}} {
		if _, _, err := ck.PerCommitmentSecretAndPoint(p[0], p[1]); !errors.Is(err, ErrCommitmentIndex) {
			t.Errorf("(%d, %d): %v", p[0], p[1], err)
		}
	}
	r.Wipe()
	if _, _, err := ck.PerCommitmentSecretAndPoint(1, 3); !errors.Is(err, ErrWiped) {
		t.Errorf("after Wipe: %v", err)
	}
}

// The cached shachain node changes no secret: per-commitment secrets in
// order, out of order, across node boundaries and at the edges, from 4
// goroutines at once (go test -race), equal ShachainFromSeed from the
// seed; Wipe clears the node.
func TestShachainNodeCache(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := r.Channel([33]byte{2, 2}, 5)
	if err != nil {
		t.Fatal(err)
	}
	var ns []uint64
	for n := range uint64(600) {
		ns = append(ns, n)
	}
	for _, n := range []uint64{255, 256, 257, 511, 512, 1 << 20, 1<<20 - 1, MaxCommitmentIndex, MaxCommitmentIndex - 255, 0, 77, 1 << 40} {
		ns = append(ns, n, n+1)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range 3 * len(ns) {
				n := ns[(k*13+g*101)%len(ns)]
				if n > MaxCommitmentIndex {
					continue
				}
				got, err := ck.PerCommitmentSecret(n)
				if err != nil {
					t.Error(err)
					return
				}
				if want := ShachainFromSeed(ck.shaseed, ShachainIndex(n)); got != want {
					t.Errorf("secret %d differs from the walk from the seed", n)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := ck.PerCommitmentSecret(MaxCommitmentIndex + 1); !errors.Is(err, ErrCommitmentIndex) {
		t.Errorf("2^48: %v", err)
	}
	r.Wipe()
	if ck.shaCached || ck.shaNode != (Secret{}) {
		t.Error("the shachain node survives Wipe")
	}
}
