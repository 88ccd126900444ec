package keys

import (
	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/signer/curve"
)

// setPublicKeys sets each key's public key k·G. Converting a point to
// affine coordinates costs a field inversion, about a quarter of the
// multiplication; here one inversion serves all the keys (Montgomery's
// trick: invert the product of the Z coordinates, then peel each 1/Z off
// it). A channel's five base keys are made together, once per channel.
func setPublicKeys(ks ...*PrivateKey) {
	n := len(ks)
	pts := make([]btcec.JacobianPoint, n)
	// prefix[i] is Z₀·…·Zᵢ₋₁.
	prefix := make([]btcec.FieldVal, n)
	var acc btcec.FieldVal
	acc.SetInt(1)
	for i, k := range ks {
		curve.ScalarBaseMult(&k.k.Key, &pts[i])
		prefix[i].Set(&acc)
		acc.Mul(&pts[i].Z)
	}
	// A valid private key is never 0, so no Z is 0 and neither is acc.
	acc.Normalize()
	invAcc := blindedInverse(&acc) // 1/(Z₀·…·Zₙ₋₁)
	inv := &invAcc
	for i := n - 1; i >= 0; i-- {
		var zInv, zInv2, zInv3 btcec.FieldVal
		zInv.Mul2(inv, &prefix[i]) // 1/Zᵢ
		inv.Mul(&pts[i].Z)         // now 1/(Z₀·…·Zᵢ₋₁)
		zInv2.SquareVal(&zInv)
		zInv3.Mul2(&zInv2, &zInv)
		x, y := pts[i].X, pts[i].Y
		x.Mul(&zInv2).Normalize()
		y.Mul(&zInv3).Normalize()
		ks[i].pub = btcec.NewPublicKey(&x, &y)
	}
}
