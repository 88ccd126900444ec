package curve

import (
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Multiples of the generator, k·G: every signature's nonce point, every
// public key made from a secret, every per-commitment point. decred's
// ScalarBaseMultNonConst, which this replaces, writes k in 32 base-256
// digits and adds one point from a table of 32×256 multiples of G per
// digit: no doublings. We do the same on field.go's arithmetic, with signed
// digits: k = Σ dᵢ·256ⁱ, i < 33, dᵢ in [−128, 127], so a table row holds
// 1·256ⁱ·G … 128·256ⁱ·G and a negative digit adds the negated point. The
// table (33 rows of 128 affine points, 270 KB) is made on first use, in
// about 5 ms.
//
// It leaks what decred's leaks, no more: which table entry each digit reads
// (through the cache), and a digit of zero skips its addition. The field
// arithmetic's own branches depend on carries that occur with negligible
// probability for values that are not chosen, and a digit's sign is applied
// without a branch.

const (
	combDigits = 33  // 32 bytes, and the carry out of the last one
	combRow    = 128 // |dᵢ| ≤ 128
)

var (
	combOnce  sync.Once
	combTable *[combDigits][combRow]affinePoint // [i][j]: (j+1)·256ⁱ·G
)

func buildComb() {
	t := new([combDigits][combRow]affinePoint)
	row := make([]jacobian, combRow)
	b := affinePoint{x: feFromBig(btcec.S256().Gx), y: feFromBig(btcec.S256().Gy)} // 256ⁱ·G
	for i := range combDigits {
		row[0].setAffine(&b)
		for j := 1; j < combRow; j++ {
			row[j] = row[j-1]
			row[j].addAffine(&b)
		}
		copy(t[i][:], batchAffine(row))
		next := row[combRow-1] // 128·256ⁱ·G
		next.double()
		b, _ = next.toAffine() // never infinity: the prime n does not divide 256ⁱ⁺¹
	}
	combTable = t
}

// combDigitsOf writes k in signed base-256 digits, least significant first.
func combDigitsOf(k *btcec.ModNScalar, d *[combDigits]int16) {
	kb := k.Bytes()
	var carry int16
	for i := range 32 {
		v := int16(kb[31-i]) + carry // 0 … 256
		carry = (v + 128) >> 8       // 1 when v ≥ 128
		d[i] = v - carry<<8          // −128 … 127
	}
	d[32] = carry
	clear(kb[:])
}

// mulBaseJacobian returns k·G (infinity for k = 0).
func mulBaseJacobian(k *btcec.ModNScalar) jacobian {
	combOnce.Do(buildComb)
	var d [combDigits]int16
	combDigitsOf(k, &d)
	acc := infinity()
	for i := range combDigits {
		if d[i] == 0 {
			continue
		}
		neg := uint64(uint16(d[i]) >> 15) // 1 for a negative digit
		mag := (d[i] ^ -int16(neg)) + int16(neg)
		p := combTable[i][mag-1]
		var ny fe
		ny.neg(&p.y)
		mask := -neg
		for l := range p.y {
			p.y[l] = ny[l]&mask | p.y[l]&^mask
		}
		acc.addAffine(&p)
	}
	clear(d[:])
	return acc
}

// ScalarBaseMult sets result to k·G in decred's Jacobian coordinates, as
// btcec.ScalarBaseMultNonConst does (for k = 0: X = Y = Z = 0).
func ScalarBaseMult(k *btcec.ModNScalar, result *btcec.JacobianPoint) {
	j := mulBaseJacobian(k)
	if j.isInfinity() {
		result.X.Zero()
		result.Y.Zero()
		result.Z.Zero()
		return
	}
	x, y, z := j.x.bytes(), j.y.bytes(), j.z.bytes()
	result.X.SetBytes(&x)
	result.Y.SetBytes(&y)
	result.Z.SetBytes(&z)
}
