package curve

import (
	"encoding/binary"
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/consensys/gnark-crypto/ecc"
)

// Sums of multiples, Σ kᵢ·Pᵢ, the way libsecp256k1's variable-time
// multiplication makes them (not its code): each scalar is split by the GLV
// endomorphism into two halves of about 128 bits, k = k₁ + λ·k₂ with
// λ·(x, y) = (β·x, y); each half is written in width-w NAF, whose nonzero
// digits are odd and at least w positions apart; and all the halves share
// one chain of doublings (Strauss), adding an affine odd multiple from a
// small table at each nonzero digit. Against gnark-crypto's GLV
// multiplication (2-bit windows, Jacobian additions) that is a third of the
// additions, each cheaper, and one chain of doublings for a whole sum
// instead of one per term; the field arithmetic is field.go's. The
// generator's tables are built once. gnark-crypto's lattice reduction
// splits the scalars.
//
// None of this is constant-time: the sequence of operations follows the
// scalars' digits.

const (
	pointWindow = 5 // 8 odd multiples of a point, made per multiplication
	baseWindow  = 8 // 64 odd multiples of G and of λ·G, made once
)

var (
	beta    fe      // a cube root of unity mod p: λ·(x, y) = (β·x, y)
	lambda  big.Int // the matching cube root of unity mod n
	lattice ecc.Lattice

	baseTable, baseTablePhi []affinePoint
)

func init() {
	var b big.Int
	b.SetString("7ae96a2b657c07106e64479eac3434e99cf0497512f58995c1396c28719501ee", 16)
	beta = feFromBig(&b)
	lambda.SetString("5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72", 16)
	ecc.PrecomputeLattice(btcec.S256().N, &lambda, &lattice)
	g := affinePoint{x: feFromBig(btcec.S256().Gx), y: feFromBig(btcec.S256().Gy)}
	baseTable = oddMultiples(&g, 1<<(baseWindow-2))
	baseTablePhi = phiTable(baseTable)
}

func feFromBig(v *big.Int) fe {
	var b [32]byte
	v.FillBytes(b[:])
	return feFromBytes(&b)
}

// oddMultiples returns P, 3P, 5P, …, (2n−1)P in affine coordinates, for P
// not infinity (secp256k1 has prime order, so none of them is).
func oddMultiples(p *affinePoint, n int) []affinePoint {
	jac := make([]jacobian, n)
	jac[0].setAffine(p)
	twice := jac[0]
	twice.double()
	for i := 1; i < n; i++ {
		jac[i] = jac[i-1]
		jac[i].add(&twice)
	}
	return batchAffine(jac)
}

// batchAffine converts points none of which is infinity with one field
// inversion (Montgomery's trick).
func batchAffine(jac []jacobian) []affinePoint {
	out := make([]affinePoint, len(jac))
	acc := fe{1}
	for i := range jac {
		out[i].x = acc // Z₀·…·Zᵢ₋₁, for now
		acc.mul(&acc, &jac[i].z)
	}
	var inv fe
	inv.inverse(&acc)
	for i := len(jac) - 1; i >= 0; i-- {
		var zInv, zInv2 fe
		zInv.mul(&out[i].x, &inv) // 1/Zᵢ
		inv.mul(&inv, &jac[i].z)
		zInv2.square(&zInv)
		out[i].x.mul(&jac[i].x, &zInv2)
		out[i].y.mul(&jac[i].y, &zInv2)
		out[i].y.mul(&out[i].y, &zInv)
	}
	return out
}

// phiTable returns λ·T for a table T: (β·x, y) for each point.
func phiTable(t []affinePoint) []affinePoint {
	out := make([]affinePoint, len(t))
	for i := range t {
		out[i].x.mul(&t[i].x, &beta)
		out[i].y = t[i].y
	}
	return out
}

// term is one half-scalar of a sum: its NAF digits (least significant
// first) and the odd multiples they index; negate flips the sign of every
// addition (the half was negative).
type term struct {
	digits []int8
	table  []affinePoint
	negate bool
}

// splitTerms appends the two terms of k·P, where P's odd multiples are
// table and λ·P's are tablePhi.
func splitTerms(terms []term, k *btcec.ModNScalar, table, tablePhi []affinePoint, window uint) []term {
	kb := k.Bytes()
	var s big.Int
	s.SetBytes(kb[:])
	clear(kb[:])
	halves := ecc.SplitScalar(&s, &lattice) // k ≡ halves[0] + λ·halves[1] (mod n)
	for i, t := range [2][]affinePoint{table, tablePhi} {
		h := &halves[i]
		terms = append(terms, term{digits: nafDigits(h, window), table: t, negate: h.Sign() < 0})
		clear(h.Bits())
	}
	clear(s.Bits()) // a Multiplier's scalar may be a secret (ECDH)
	return terms
}

// nafDigits returns |k| in width-w NAF, least significant digit first.
func nafDigits(k *big.Int, w uint) []int8 {
	// |k| below 2³⁸⁴ (here below 2¹³⁰), its magnitude read from the bytes
	// so that the word size does not matter.
	var be [48]byte
	k.FillBytes(be[:]) // the absolute value
	var limbs [6]uint64
	for i := range limbs {
		limbs[i] = binary.BigEndian.Uint64(be[40-8*i:])
	}
	clear(be[:])
	digits := make([]int8, 0, k.BitLen()+1)
	full, half := uint64(1)<<w, uint64(1)<<(w-1)
	for limbs != [6]uint64{} {
		var d int
		if limbs[0]&1 == 1 {
			m := limbs[0] & (full - 1)
			if m >= half {
				d = int(m) - int(full)
				addSmall(&limbs, uint64(-d))
			} else {
				d = int(m)
				limbs[0] -= m // m ≤ limbs[0]'s low bits: no borrow
			}
		}
		digits = append(digits, int8(d))
		for i := range len(limbs) - 1 {
			limbs[i] = limbs[i]>>1 | limbs[i+1]<<63
		}
		limbs[len(limbs)-1] >>= 1
	}
	return digits
}

func addSmall(limbs *[6]uint64, v uint64) {
	for i := range limbs {
		var carry uint64
		limbs[i], carry = limbs[i]+v, 0
		if limbs[i] < v {
			carry = 1
		}
		if carry == 0 {
			return
		}
		v = 1
	}
}

// sum returns Σ terms.
func sum(terms []term) jacobian {
	acc := infinity()
	longest := 0
	for _, t := range terms {
		longest = max(longest, len(t.digits))
	}
	var negated affinePoint
	for i := longest - 1; i >= 0; i-- {
		acc.double()
		for _, t := range terms {
			if i >= len(t.digits) || t.digits[i] == 0 {
				continue
			}
			d := t.digits[i]
			entry := &t.table[abs8(d)/2]
			if (d < 0) != t.negate {
				negated.x = entry.x
				negated.y.neg(&entry.y)
				entry = &negated
			}
			acc.addAffine(entry)
		}
	}
	return acc
}

func abs8(d int8) int {
	if d < 0 {
		return -int(d)
	}
	return int(d)
}

// pointTerms appends the terms of k·p.
func pointTerms(terms []term, k *btcec.ModNScalar, p *affinePoint) []term {
	table := oddMultiples(p, 1<<(pointWindow-2))
	return splitTerms(terms, k, table, phiTable(table), pointWindow)
}

// baseTerms appends the terms of k·G.
func baseTerms(terms []term, k *btcec.ModNScalar) []term {
	return splitTerms(terms, k, baseTable, baseTablePhi, baseWindow)
}

// Multiplier is a scalar split and written in digits once, to multiply
// many points: keys.Ring keeps one for the node key, so that an ECDH makes
// no new copies of the key (gnark-crypto's split leaves big.Int values of
// it on the heap, which nothing clears). Its methods may be called
// concurrently, but not with Wipe.
type Multiplier struct {
	halves [2]term // their tables are set per point
}

// NewMultiplier prepares k.
func NewMultiplier(k *btcec.ModNScalar) *Multiplier {
	terms := splitTerms(make([]term, 0, 2), k, nil, nil, pointWindow)
	return &Multiplier{halves: [2]term{terms[0], terms[1]}}
}

// MulCompressed returns k·P compressed (SEC 1) for P = (x, y), a point of
// the curve given by its big-endian coordinates, and false when the result
// is infinity (k = 0, or a wiped Multiplier) or (x, y) is not on the curve.
// Variable-time: see the package's note on sums.
func (m *Multiplier) MulCompressed(x, y *[32]byte) ([33]byte, bool) {
	p := affinePoint{x: feFromBytes(x), y: feFromBytes(y)}
	if !p.onCurve() {
		return [33]byte{}, false
	}
	table := oddMultiples(&p, 1<<(pointWindow-2))
	terms := m.halves
	terms[0].table, terms[1].table = table, phiTable(table)
	r := sum(terms[:])
	a, ok := r.toAffine()
	if !ok {
		return [33]byte{}, false
	}
	return a.compressed(), true
}

// String implements fmt.Stringer without revealing the digits (they are
// the scalar's).
func (m *Multiplier) String() string { return "curve.Multiplier{redacted}" }

// GoString implements fmt.GoStringer without revealing the digits.
func (m *Multiplier) GoString() string { return m.String() }

// Wipe clears the digits: the Multiplier then multiplies by 0.
func (m *Multiplier) Wipe() {
	for i := range m.halves {
		clear(m.halves[i].digits)
		m.halves[i].negate = false
	}
}
