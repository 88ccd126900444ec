package curve

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/txscript"
	"github.com/lightningnetwork/lnd/input"
	"pgregory.net/rapid"
)

func drawKey(t *rapid.T, label string) *btcec.PrivateKey {
	b := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, label)
	k, _ := btcec.PrivKeyFromBytes(b)
	if k.Key.IsZero() {
		k, _ = btcec.PrivKeyFromBytes([]byte{1})
	}
	return k
}

// The multiplications agree with decred's.
func TestMulPointMatchesDecred(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawKey(t, "point").PubKey()
		k := drawKey(t, "scalar").Key
		var pj, want btcec.JacobianPoint
		p.AsJacobian(&pj)
		btcec.ScalarMultNonConst(&k, &pj, &want)
		pa := affineOf(p)
		gotP := sum(pointTerms(nil, &k, &pa))
		gotG := mulBase(&k)
		var wantG btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&k, &wantG)
		for _, c := range []struct {
			got  *jacobian
			want btcec.JacobianPoint
		}{{&gotP, want}, {&gotG, wantG}} {
			pub, err := toPublicKey(c.got)
			c.want.ToAffine()
			if err != nil || !pub.IsEqual(btcec.NewPublicKey(&c.want.X, &c.want.Y)) {
				t.Fatalf("a multiplication differs from decred's (%v)", err)
			}
		}
	})
}

// VerifyECDSA decides as decred's Verify: on signatures of the hash, of
// another hash, by another key, and on arbitrary (r, s).
func TestVerifyECDSAMatchesDecred(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := drawKey(t, "key")
		hash := sha256.Sum256(rapid.SliceOf(rapid.Byte()).Draw(t, "msg"))
		sig := ecdsa.Sign(key, hash[:])
		r, s := sig.R(), sig.S()
		if !VerifyECDSA(key.PubKey(), hash[:], &r, &s) {
			t.Fatal("a valid signature did not verify")
		}
		if rapid.Bool().Draw(t, "high S") {
			s.Negate() // the other S of the same signature
			if VerifyECDSA(key.PubKey(), hash[:], &r, &s) != ecdsa.NewSignature(&r, &s).Verify(hash[:], key.PubKey()) {
				t.Fatal("differs from decred on a high-S signature")
			}
		}
		other := drawKey(t, "other").PubKey()
		hash2 := hash
		hash2[rapid.IntRange(0, 31).Draw(t, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
		var rr, ss btcec.ModNScalar
		rr.SetByteSlice(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "r"))
		ss.SetByteSlice(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "s"))
		for _, c := range []struct {
			pub  *btcec.PublicKey
			hash []byte
			r, s btcec.ModNScalar
		}{
			{other, hash[:], r, s},
			{key.PubKey(), hash2[:], r, s},
			{key.PubKey(), hash[:], rr, ss},
			{key.PubKey(), hash[:], r, ss},
		} {
			want := !c.r.IsZero() && !c.s.IsZero() && ecdsa.NewSignature(&c.r, &c.s).Verify(c.hash, c.pub)
			if got := VerifyECDSA(c.pub, c.hash, &c.r, &c.s); got != want {
				t.Fatalf("VerifyECDSA = %v, decred %v", got, want)
			}
		}
	})
}

// The derivations agree with lnd's, memo or not.
func TestDerivationsMatchLnd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := drawKey(t, "base").PubKey()
		point := drawKey(t, "point").PubKey()
		d := NewDeriver(16)
		for i := range 3 { // the last time from the memo
			simple, revocation := SimplePubKey, RevocationPubKey
			if i > 0 {
				simple, revocation = d.SimplePubKey, d.RevocationPubKey
			}
			got, err := simple(base, point)
			if err != nil || !got.IsEqual(input.TweakPubKey(base, point)) {
				t.Fatalf("SimplePubKey differs from lnd's TweakPubKey (%v)", err)
			}
			rev, err := revocation(base, point)
			if err != nil || !rev.IsEqual(input.DeriveRevocationPubkey(base, point)) {
				t.Fatalf("RevocationPubKey differs from lnd's (%v)", err)
			}
		}
	})
}

// A memo slot holds one derivation: the kinds and inputs never mix.
func TestMemoKeepsDerivationsApart(t *testing.T) {
	m := newMemo(1) // every derivation in the same slot
	a, _ := btcec.PrivKeyFromBytes([]byte{1})
	b, _ := btcec.PrivKeyFromBytes([]byte{2})
	calls := 0
	derive := func(tag byte) func(_, _ []byte) (*btcec.PublicKey, error) {
		return func(_, _ []byte) (*btcec.PublicKey, error) {
			calls++
			k, _ := btcec.PrivKeyFromBytes([]byte{tag})
			return k.PubKey(), nil
		}
	}
	x1, _ := m.get(kindSimple, a.PubKey(), b.PubKey(), derive(10))
	x2, _ := m.get(kindSimple, a.PubKey(), b.PubKey(), derive(11))
	if calls != 1 || !x1.IsEqual(x2) {
		t.Fatalf("a repeated derivation was not remembered (%d calls)", calls)
	}
	y, _ := m.get(kindRevocation, a.PubKey(), b.PubKey(), derive(12))
	z, _ := m.get(kindSimple, b.PubKey(), a.PubKey(), derive(13))
	if calls != 3 || y.IsEqual(x1) || z.IsEqual(x1) {
		t.Fatalf("another kind or other inputs took a remembered key (%d calls)", calls)
	}
	if _, err := m.get(kindSimple, nil, a.PubKey(), derive(14)); err == nil {
		t.Fatal("a missing basepoint was derived")
	}
}

// benchKeys returns n different keys. The benchmarks cycle through them:
// one input repeated lets the CPU's branch predictor learn the whole run
// of a multiplication, which flattered gnark-crypto's arithmetic by about
// a third against what the signer sees (different points every time).
func benchKeys(n int) []*btcec.PrivateKey {
	keys := make([]*btcec.PrivateKey, n)
	for i := range keys {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8), 'k'})
		keys[i], _ = btcec.PrivKeyFromBytes(h[:])
	}
	return keys
}

func BenchmarkVerifyECDSA(b *testing.B) {
	keys := benchKeys(64)
	type signed struct {
		pub  *btcec.PublicKey
		hash [32]byte
		sig  *ecdsa.Signature
	}
	cases := make([]signed, len(keys))
	for i, k := range keys {
		h := sha256.Sum256([]byte{byte(i), 'm'})
		cases[i] = signed{k.PubKey(), h, ecdsa.Sign(k, h[:])}
	}
	b.Run("curve", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			c := &cases[i%len(cases)]
			r, s := c.sig.R(), c.sig.S()
			VerifyECDSA(c.pub, c.hash[:], &r, &s)
		}
	})
	b.Run("decred", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			c := &cases[i%len(cases)]
			c.sig.Verify(c.hash[:], c.pub)
		}
	})
}

func BenchmarkDerivations(b *testing.B) {
	var pubs []*btcec.PublicKey
	for _, k := range benchKeys(128) {
		pubs = append(pubs, k.PubKey())
	}
	pair := func(i int) (*btcec.PublicKey, *btcec.PublicKey) { return pubs[i%64], pubs[64+i%64] }
	b.Run("revocation", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			RevocationPubKey(pair(i))
		}
	})
	b.Run("revocation-lnd", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			input.DeriveRevocationPubkey(pair(i))
		}
	})
	b.Run("simple", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			SimplePubKey(pair(i))
		}
	})
	b.Run("simple-lnd", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			input.TweakPubKey(pair(i))
		}
	})
}

func mustKey(t *testing.T, h string) *btcec.PublicKey {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	k, err := btcec.ParsePubKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// BOLT 3 Appendix E: the key derivations' test vectors.
func TestBOLT3AppendixE(t *testing.T) {
	base := mustKey(t, "036d6caac248af96f6afa7f904f550253a0f3ef3f5aa2fe6838a95b216691468e2")
	point := mustKey(t, "025f7117a78150fe2ef97db7cfc83bd57b2e2c0d0dd25eaf467a4a1c2a45ce1486")
	if got, err := RevocationPubKey(base, point); err != nil || !got.IsEqual(mustKey(t, "02916e326636d19c33f13e8c0c3a03dd157f332f3e99c317c141dd865eb01f8ff0")) {
		t.Errorf("revocationpubkey: %v", err)
	}
	if got, err := SimplePubKey(base, point); err != nil || !got.IsEqual(mustKey(t, "0235f2dbfaa89b57ec7b055afe29849ef7ddfeb1cefdb9ebdc43f5494984db29e5")) {
		t.Errorf("localpubkey: %v", err)
	}
}

// IsPointOf agrees with btcec's public key of the secret.
func TestIsPointOf(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		secret := [32]byte(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "secret"))
		_, pub := btcec.PrivKeyFromBytes(secret[:])
		point := [33]byte(pub.SerializeCompressed())
		var s btcec.ModNScalar
		valid := s.SetBytes(&secret) == 0 && !s.IsZero()
		if IsPointOf(secret, point) != valid {
			t.Fatalf("IsPointOf(its own point) = %v for a secret valid=%v", !valid, valid)
		}
		other := point
		other[rapid.IntRange(0, 32).Draw(t, "byte")] ^= 1 << rapid.IntRange(0, 7).Draw(t, "bit")
		if IsPointOf(secret, other) {
			t.Fatal("IsPointOf took another point")
		}
	})
	if IsPointOf([32]byte{}, [33]byte{2}) {
		t.Fatal("a zero secret has a point")
	}
}

// TaprootOutputKey is txscript.ComputeTaprootKeyNoScript, for keys of
// either y parity.
func TestTaprootOutputKey(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var b [32]byte
		copy(b[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(rt, "key"))
		k, _ := btcec.PrivKeyFromBytes(b[:])
		if k.Key.IsZero() {
			return
		}
		got, err := TaprootOutputKey(k.PubKey())
		if err != nil {
			rt.Fatal(err)
		}
		if want := txscript.ComputeTaprootKeyNoScript(k.PubKey()); !got.IsEqual(want) {
			rt.Fatalf("key %x: got %x, want %x", b, got.SerializeCompressed(), want.SerializeCompressed())
		}
	})
	if _, err := TaprootOutputKey(nil); err == nil {
		t.Error("a nil key has an output key")
	}
}
