package keys

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"pgregory.net/rapid"
)

// extKey derives what hdkeychain derives: for random seeds and paths of
// hardened and non-hardened indexes, the same private key and the same
// extended public key (depth, parent fingerprint, child number, chain
// code, public key).
func TestExtKeyMatchesHDKeychain(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.SliceOfN(rapid.Byte(), hdkeychain.MinSeedBytes, hdkeychain.MaxSeedBytes).Draw(rt, "seed")
		path := rapid.SliceOfN(rapid.Uint32(), 0, 5).Draw(rt, "path")
		want, werr := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
		got, gerr := newMasterKey(seed)
		if (werr == nil) != (gerr == nil) {
			rt.Fatalf("master: hdkeychain %v, extKey %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		for depth, i := range path {
			want, werr = want.Derive(i)
			got, gerr = got.derive(i)
			if (werr == nil) != (gerr == nil) {
				rt.Fatalf("depth %d, index %d: hdkeychain %v, extKey %v", depth, i, werr, gerr)
			}
			if werr != nil {
				return
			}
		}
		priv, err := want.ECPrivKey()
		if err != nil {
			rt.Fatal(err)
		}
		if got.key.k.Key.Bytes() != priv.Key.Bytes() {
			rt.Fatalf("path %v: private keys differ", path)
		}
		if !got.key.PubKey().IsEqual(priv.PubKey()) {
			rt.Fatalf("path %v: public keys differ", path)
		}
		ser, err := got.serializePub(BIP32Mainnet)
		if err != nil {
			rt.Fatal(err)
		}
		pub, err := want.Neuter()
		if err != nil {
			rt.Fatal(err)
		}
		if ours, theirs := base58CheckExtKey(ser), pub.String(); ours != theirs {
			rt.Fatalf("path %v: extended public key\n ours    %s\n hdkeychain %s", path, ours, theirs)
		}
	})
}

// Fixed cases: BIP32's test vector 1 (m/0'/1/2'/2/1000000000), and
// indexes at the hardened boundary.
func TestExtKeyVector(t *testing.T) {
	seed := []byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	k, err := newMasterKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{hdkeychain.HardenedKeyStart, 1, hdkeychain.HardenedKeyStart + 2, 2, 1000000000} {
		if k, err = k.derive(i); err != nil {
			t.Fatal(err)
		}
	}
	ser, err := k.serializePub(BIP32Mainnet)
	if err != nil {
		t.Fatal(err)
	}
	const want = "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy"
	if got := base58CheckExtKey(ser); got != want {
		t.Fatalf("m/0'/1/2'/2/1000000000:\n got  %s\n want %s", got, want)
	}
	if k.depth != 5 || k.child != 1000000000 {
		t.Errorf("depth %d, child %d", k.depth, k.child)
	}
	var fp [4]byte
	binary.BigEndian.PutUint32(fp[:], k.parentFP)
	if !bytes.Equal(fp[:], []byte{0xd8, 0x80, 0xd7, 0xd8}) {
		t.Errorf("parent fingerprint %x, want d880d7d8", fp)
	}
	if _, err := newMasterKey(make([]byte, 15)); !errors.Is(err, hdkeychain.ErrInvalidSeedLen) {
		t.Errorf("a 15-byte seed: %v", err)
	}
	secret := k.key.k.Key.Bytes()
	if s := fmt.Sprintf("%v %+v %#v %x %s", k, k, k, k, k); bytes.Contains([]byte(s), []byte(hex.EncodeToString(secret[:]))) || !bytes.Contains([]byte(s), []byte(redacted)) {
		t.Error("formatting an extKey shows its private key")
	}
}

// A key of depth 255 has no children (the depth is one byte), as with
// hdkeychain.
func TestExtKeyMaxDepth(t *testing.T) {
	k, err := newMasterKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	k.depth = maxBIP32Depth
	if _, err := k.derive(1); !errors.Is(err, hdkeychain.ErrDeriveBeyondMaxDepth) {
		t.Fatalf("a child at depth 256: %v", err)
	}
	k.depth = maxBIP32Depth - 1
	if c, err := k.derive(1); err != nil || c.depth != maxBIP32Depth {
		t.Fatalf("a child at depth 255: %v", err)
	}
}
