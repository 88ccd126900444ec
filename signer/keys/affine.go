package keys

import (
	"crypto/rand"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/signer/curve"
)

// Every signature and every public key we make ends with a point of a
// secret multiple (the nonce's R, k·G) turned into affine coordinates, which
// divides by its Z coordinate. decred's FieldVal.Inverse does that in
// constant time by an exponentiation: about 20 µs here, a quarter of a
// signature. math/big's ModInverse takes about 2 µs, but its time depends on
// its input. Blinding makes the fast one safe: we invert Z·b for a fresh
// random b ≠ 0, a value uniformly distributed whatever Z is, and multiply the
// result by b. Only that product reaches math/big; every other step of the
// conversion stays in decred's constant-time arithmetic. (The multiplication
// k·G before it is curve.ScalarBaseMult, whose timing is that of decred's
// tables it replaced; see signer/curve/base.go.) The nonce's inverse modulo n, which
// decred computes with math/big on the secret itself
// (ModNScalar.InverseValNonConst), is blinded the same way.

var fieldPrime = btcec.S256().P

// randomFieldVal returns a uniformly random nonzero field element.
func randomFieldVal() btcec.FieldVal {
	var b [32]byte
	var f btcec.FieldVal
	for {
		rand.Read(b[:])
		if f.SetBytes(&b) == 0 && !f.IsZero() { // below p and nonzero: uniform
			clear(b[:])
			return f
		}
	}
}

// randomScalar returns a uniformly random nonzero scalar modulo n.
func randomScalar() btcec.ModNScalar {
	var b [32]byte
	var s btcec.ModNScalar
	for {
		rand.Read(b[:])
		if s.SetBytes(&b) == 0 && !s.IsZero() {
			clear(b[:])
			return s
		}
	}
}

// blindedInverse returns 1/z for a nonzero z, through a blinded ModInverse.
func blindedInverse(z *btcec.FieldVal) btcec.FieldVal {
	blind := randomFieldVal()
	var zb btcec.FieldVal
	zb.Mul2(z, &blind).Normalize()
	zbBytes := zb.Bytes()
	var v big.Int
	v.SetBytes(zbBytes[:])
	if v.ModInverse(&v, fieldPrime) == nil { // z = 0: as decred, whose inverse of 0 is 0
		return btcec.FieldVal{}
	}
	var invBytes [32]byte
	v.FillBytes(invBytes[:])
	var inv btcec.FieldVal
	inv.SetBytes(&invBytes)
	inv.Mul(&blind).Normalize() // 1/(z·b) · b
	return inv
}

// toAffine is JacobianPoint.ToAffine with a blinded inversion: p becomes
// (X/Z², Y/Z³, 1), X and Y normalised.
func toAffine(p *btcec.JacobianPoint) {
	z := p.Z
	z.Normalize()
	zInv := blindedInverse(&z)
	var zInv2 btcec.FieldVal
	zInv2.SquareVal(&zInv)
	p.X.Mul(&zInv2).Normalize()
	p.Y.Mul(zInv2.Mul(&zInv)).Normalize()
	p.Z.SetInt(1)
}

// blindedScalarInverse returns k⁻¹ mod n for a nonzero k.
func blindedScalarInverse(k *btcec.ModNScalar) btcec.ModNScalar {
	blind := randomScalar()
	var kb, inv btcec.ModNScalar
	kb.Mul2(k, &blind)
	inv.InverseValNonConst(&kb) // of k·b, uniformly random
	inv.Mul(&blind)
	kb.Zero()
	blind.Zero()
	return inv
}

// pubKeyOf returns k·G for a nonzero k (btcec's PrivateKey.PubKey, with
// toAffine).
func pubKeyOf(k *btcec.ModNScalar) *btcec.PublicKey {
	var p btcec.JacobianPoint
	curve.ScalarBaseMult(k, &p)
	toAffine(&p)
	return btcec.NewPublicKey(&p.X, &p.Y)
}
