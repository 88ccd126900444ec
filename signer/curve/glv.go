package curve

import (
	"math/big"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/secp256k1"
	"github.com/consensys/gnark-crypto/ecc/secp256k1/fp"
	"github.com/consensys/gnark-crypto/ecc/secp256k1/fr"
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
// instead of one per term. The generator's tables are built once.
//
// None of this is constant-time: the sequence of operations follows the
// scalars' digits.

const (
	pointWindow = 5 // 8 odd multiples of a point, made per multiplication
	baseWindow  = 8 // 64 odd multiples of G and of λ·G, made once
)

var (
	beta    fp.Element // a cube root of unity mod p: λ·(x, y) = (β·x, y)
	lambda  big.Int    // the matching cube root of unity mod n
	lattice ecc.Lattice

	baseTable, baseTablePhi []secp256k1.G1Affine
)

func init() {
	beta.SetString("55594575648329892869085402983802832744385952214688224221778511981742606582254")
	lambda.SetString("37718080363155996902926221483475020450927657555482586988616620542887997980018", 10)
	ecc.PrecomputeLattice(fr.Modulus(), &lambda, &lattice)
	_, g := secp256k1.Generators()
	baseTable = oddMultiples(&g, 1<<(baseWindow-2))
	baseTablePhi = phiTable(baseTable)
}

// oddMultiples returns P, 3P, 5P, …, (2n−1)P in affine coordinates, for P
// not infinity (secp256k1 has prime order, so none of them is).
func oddMultiples(p *secp256k1.G1Affine, n int) []secp256k1.G1Affine {
	jac := make([]secp256k1.G1Jac, n)
	jac[0].FromAffine(p)
	var twice secp256k1.G1Jac
	twice.DoubleMixed(p)
	for i := 1; i < n; i++ {
		jac[i].Set(&jac[i-1]).AddAssign(&twice)
	}
	return batchAffine(jac)
}

// batchAffine converts points none of which is infinity with one field
// inversion (Montgomery's trick).
func batchAffine(jac []secp256k1.G1Jac) []secp256k1.G1Affine {
	out := make([]secp256k1.G1Affine, len(jac))
	acc := fp.One()
	for i := range jac {
		out[i].X = acc // Z₀·…·Zᵢ₋₁, for now
		acc.Mul(&acc, &jac[i].Z)
	}
	var inv fp.Element
	inv.Inverse(&acc)
	for i := len(jac) - 1; i >= 0; i-- {
		var zInv, zInv2 fp.Element
		zInv.Mul(&out[i].X, &inv) // 1/Zᵢ
		inv.Mul(&inv, &jac[i].Z)
		zInv2.Square(&zInv)
		out[i].X.Mul(&jac[i].X, &zInv2)
		out[i].Y.Mul(&jac[i].Y, &zInv2).Mul(&out[i].Y, &zInv)
	}
	return out
}

// phiTable returns λ·T for a table T: (β·x, y) for each point.
func phiTable(t []secp256k1.G1Affine) []secp256k1.G1Affine {
	out := make([]secp256k1.G1Affine, len(t))
	for i := range t {
		out[i].X.Mul(&t[i].X, &beta)
		out[i].Y = t[i].Y
	}
	return out
}

// term is one half-scalar of a sum: its NAF digits (least significant
// first) and the odd multiples they index; negate flips the sign of every
// addition (the half was negative).
type term struct {
	digits []int8
	table  []secp256k1.G1Affine
	negate bool
}

// splitTerms appends the two terms of k·P, where P's odd multiples are
// table and λ·P's are tablePhi.
func splitTerms(terms []term, k *btcec.ModNScalar, table, tablePhi []secp256k1.G1Affine, window uint) []term {
	kb := k.Bytes()
	var s big.Int
	s.SetBytes(kb[:])
	halves := ecc.SplitScalar(&s, &lattice) // k ≡ halves[0] + λ·halves[1] (mod n)
	for i, t := range [2][]secp256k1.G1Affine{table, tablePhi} {
		h := &halves[i]
		terms = append(terms, term{digits: nafDigits(h, window), table: t, negate: h.Sign() < 0})
	}
	return terms
}

// nafDigits returns |k| in width-w NAF, least significant digit first.
func nafDigits(k *big.Int, w uint) []int8 {
	var limbs [6]uint64 // |k| < 2²⁵⁶ here, with room for the carries below
	for i, word := range new(big.Int).Abs(k).Bits() {
		limbs[i] = uint64(word)
	}
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

// sum returns Σ terms in Jacobian coordinates (gnark's infinity (1, 1, 0)
// when it is the point at infinity).
func sum(terms []term) secp256k1.G1Jac {
	var acc secp256k1.G1Jac
	acc.X.SetOne()
	acc.Y.SetOne()
	longest := 0
	for _, t := range terms {
		longest = max(longest, len(t.digits))
	}
	var negated secp256k1.G1Affine
	for i := longest - 1; i >= 0; i-- {
		acc.DoubleAssign()
		for _, t := range terms {
			if i >= len(t.digits) || t.digits[i] == 0 {
				continue
			}
			d := t.digits[i]
			entry := &t.table[abs8(d)/2]
			if (d < 0) != t.negate {
				negated.Neg(entry)
				entry = &negated
			}
			acc.AddMixed(entry)
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
func pointTerms(terms []term, k *btcec.ModNScalar, p *secp256k1.G1Affine) []term {
	table := oddMultiples(p, 1<<(pointWindow-2))
	return splitTerms(terms, k, table, phiTable(table), pointWindow)
}

// baseTerms appends the terms of k·G.
func baseTerms(terms []term, k *btcec.ModNScalar) []term {
	return splitTerms(terms, k, baseTable, baseTablePhi, baseWindow)
}

// MulAffine returns k·p, for p a point of the curve (not infinity), and
// false when the result is infinity (k = 0). Variable-time: see the
// package's note on sums.
func MulAffine(k *btcec.ModNScalar, p *secp256k1.G1Affine) (secp256k1.G1Affine, bool) {
	r := sum(pointTerms(make([]term, 0, 2), k, p))
	return affine(&r)
}
