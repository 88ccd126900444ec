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
// digits below the top one: k = Σ dᵢ·256ⁱ, i < 32, dᵢ in [−128, 127] for
// i < 31 (a row holds 1·256ⁱ·G … 128·256ⁱ·G, and a negative digit adds the
// negated point) and d₃₁ in [0, 256] (its row holds 256 multiples). The
// table (4,224 affine points, 270 KB) is made on first use, in about 5 ms.
//
// The timing is decred's: 32 digits, each adding one table entry read at
// an index the digit chooses (a cache may show which), and a digit of 0
// skipping its addition, about once in 256 digits as a zero byte does in
// decred's. The top digit is not signed so that no 33rd digit exists: it
// would be 0 for half of all scalars and skip an addition, telling the
// nonce's top bit to a clock. A digit's sign is applied without a branch;
// the field arithmetic's own branches depend on carries that occur with
// negligible probability for values nobody chose. The sum's additions never
// meet their exceptional cases (P = ±Q) for k in [1, n): below the top
// digit the partial sum is smaller than the next term, as integers below
// n. Temporaries on the stack (a table entry, decred's coordinates) are
// not cleared, as decred clears none; the digits and k's bytes are.

const (
	combSigned = 31  // digits 0 … 30 are signed
	combRow    = 128 // their |dᵢ| ≤ 128
	combTopRow = 256 // d₃₁ ≤ 256
)

var (
	combOnce sync.Once
	combRows *[combSigned][combRow]affinePoint // [i][j]: (j+1)·256ⁱ·G
	combTop  *[combTopRow]affinePoint          // [j]: (j+1)·256³¹·G
)

// multiplesOf returns b, 2b, …, n·b in affine coordinates, for b not
// infinity and n below the group order.
func multiplesOf(b *affinePoint, n int) []affinePoint {
	row := make([]jacobian, n)
	row[0].setAffine(b)
	for j := 1; j < n; j++ {
		row[j] = row[j-1]
		row[j].addAffine(b)
	}
	return batchAffine(row)
}

func buildComb() {
	rows := new([combSigned][combRow]affinePoint)
	b := affinePoint{x: feFromBig(btcec.S256().Gx), y: feFromBig(btcec.S256().Gy)} // 256ⁱ·G
	for i := range combSigned {
		copy(rows[i][:], multiplesOf(&b, combRow))
		var next jacobian
		next.setAffine(&rows[i][combRow-1]) // 128·256ⁱ·G
		next.double()
		b, _ = next.toAffine() // never infinity: the prime n does not divide 256ⁱ⁺¹
	}
	top := new([combTopRow]affinePoint)
	copy(top[:], multiplesOf(&b, combTopRow))
	combRows, combTop = rows, top
}

// combDigitsOf writes k in base-256 digits, least significant first:
// signed below the top one.
func combDigitsOf(k *btcec.ModNScalar, d *[combSigned + 1]int16) {
	kb := k.Bytes()
	var carry int16
	for i := range combSigned {
		v := int16(kb[31-i]) + carry // 0 … 256
		carry = (v + 128) >> 8       // 1 when v ≥ 128
		d[i] = v - carry<<8          // −128 … 127
	}
	d[combSigned] = int16(kb[0]) + carry // 0 … 256
	clear(kb[:])
}

// mulBase returns k·G (infinity for k = 0).
func mulBase(k *btcec.ModNScalar) jacobian {
	combOnce.Do(buildComb)
	var d [combSigned + 1]int16
	combDigitsOf(k, &d)
	acc := infinity()
	for i := range combSigned {
		if d[i] == 0 {
			continue
		}
		neg := uint64(uint16(d[i]) >> 15) // 1 for a negative digit
		mag := (d[i] ^ -int16(neg)) + int16(neg)
		p := combRows[i][mag-1]
		var ny fe
		ny.neg(&p.y)
		mask := -neg
		for l := range p.y {
			p.y[l] = ny[l]&mask | p.y[l]&^mask
		}
		acc.addAffine(&p)
	}
	if top := d[combSigned]; top != 0 {
		acc.addAffine(&combTop[top-1])
	}
	clear(d[:])
	return acc
}

// ScalarBaseMult sets result to k·G in decred's Jacobian coordinates, as
// btcec.ScalarBaseMultNonConst does (for k = 0: X = Y = Z = 0).
func ScalarBaseMult(k *btcec.ModNScalar, result *btcec.JacobianPoint) {
	j := mulBase(k)
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
