package keys

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"pgregory.net/rapid"
)

func drawScalar(t *rapid.T, label string) btcec.ModNScalar {
	var s btcec.ModNScalar
	b := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, label)
	if s.SetByteSlice(b) || s.IsZero() {
		s.SetInt(uint32(rapid.Uint32Min(1).Draw(t, label+" small")))
	}
	return s
}

// drawKeyPair returns one drawn key as btcec's key pair and as ours.
func drawKeyPair(t *rapid.T) (*btcec.PrivateKey, *btcec.PublicKey, *PrivateKey) {
	d := drawScalar(t, "d")
	db := d.Bytes()
	priv, pub := btcec.PrivKeyFromBytes(db[:])
	k, err := PrivKeyFromBytes(db[:])
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub, k
}

// The blinded conversions give exactly decred's results, and a fresh blind
// each time does not change them.
func TestBlindedAffineMatchesDecred(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := drawScalar(t, "k")
		var want, got btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&k, &want)
		got = want
		want.ToAffine()
		toAffine(&got)
		if !got.X.Equals(&want.X) || !got.Y.Equals(&want.Y) || !got.Z.IsOne() {
			t.Fatalf("toAffine = (%v, %v), decred (%v, %v)", got.X, got.Y, want.X, want.Y)
		}
		if p := pubKeyOf(&k); !p.IsEqual(btcec.NewPublicKey(&want.X, &want.Y)) {
			t.Fatal("pubKeyOf differs from k·G")
		}

		var wantInv btcec.ModNScalar
		wantInv.InverseValNonConst(&k)
		for range 2 {
			if inv := blindedScalarInverse(&k); !inv.Equals(&wantInv) {
				t.Fatalf("blindedScalarInverse = %v, want %v", inv, wantInv)
			}
		}
	})
}

func TestBlindedInverseOfZeroIsZero(t *testing.T) {
	var zero btcec.FieldVal
	if inv := blindedInverse(&zero); !inv.IsZero() {
		t.Fatalf("1/0 = %v, want 0 (as decred)", inv)
	}
	var one btcec.FieldVal
	one.SetInt(1)
	if inv := blindedInverse(&one); !inv.IsOne() {
		t.Fatalf("1/1 = %v", inv)
	}
}

// Signatures through the blinded path verify and equal btcec's RFC6979
// signature where btcec's nonce input matches ours (a hash below n).
func TestSignWithBlindingMatchesBtcec(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		priv, pub, k := drawKeyPair(t)
		if !k.PubKey().IsEqual(pub) {
			t.Fatal("PubKey differs from btcec's")
		}
		var hash [32]byte
		copy(hash[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "hash"))
		hash[0] &= 0x7f // below n, so btcec's unreduced nonce input is ours
		got := k.SignRFC6979(hash)
		want := ecdsa.Sign(priv, hash[:])
		if !got.IsEqual(want) {
			t.Fatalf("signature %x, btcec %x", got.Serialize(), want.Serialize())
		}
		if !got.Verify(hash[:], pub) {
			t.Fatal("signature does not verify")
		}
	})
}
