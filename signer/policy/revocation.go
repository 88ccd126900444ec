package policy

import (
	"crypto/sha256"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/consensys/gnark-crypto/ecc/secp256k1"
)

// revocationPubKey is BOLT 3's revocationpubkey:
//
//	revocation_basepoint · SHA256(revocation_basepoint ‖ per_commitment_point)
//	  + per_commitment_point · SHA256(per_commitment_point ‖ revocation_basepoint)
//
// as lnd's input.DeriveRevocationPubkey computes it, in one joint
// (Strauss–Shamir) multiplication of gnark-crypto's 4×64-bit arithmetic
// instead of two of decred's: the largest cost of rebuilding a commitment.
// Only public keys are involved.
func revocationPubKey(base, point *btcec.PublicKey) *btcec.PublicKey {
	b, p := base.SerializeCompressed(), point.SerializeCompressed()
	h1 := sha256.Sum256(append(append([]byte(nil), b...), p...))
	h2 := sha256.Sum256(append(append([]byte(nil), p...), b...))
	n := btcec.S256().N
	s1 := new(big.Int).Mod(new(big.Int).SetBytes(h1[:]), n)
	s2 := new(big.Int).Mod(new(big.Int).SetBytes(h2[:]), n)
	a1, a2 := affine(base), affine(point)
	var sum secp256k1.G1Jac
	sum.JointScalarMultiplication(&a1, &a2, s1, s2)
	var r secp256k1.G1Affine
	r.FromJacobian(&sum)
	if r.IsInfinity() {
		// Not reachable with honest keys; lnd's result for the record.
		return nil
	}
	x, y := r.X.Bytes(), r.Y.Bytes()
	var fx, fy btcec.FieldVal
	fx.SetBytes(&x)
	fy.SetBytes(&y)
	return btcec.NewPublicKey(&fx, &fy)
}

func affine(k *btcec.PublicKey) secp256k1.G1Affine {
	var a secp256k1.G1Affine
	xy := k.SerializeUncompressed()
	a.X.SetBytes(xy[1:33])
	a.Y.SetBytes(xy[33:65])
	return a
}
