package curve

import (
	"math/big"
	"math/bits"
)

// fe is an element of secp256k1's base field, p = 2²⁵⁶ − c with
// c = 2³² + 977, as four 64-bit limbs, least significant first. Any value
// below 2²⁵⁶ represents itself mod p, so a result may be one of two
// representatives until canonical() picks the one below p.
//
// Why not a library's: decred's field (10×26 bits, constant-time) is the
// slowest here (an ECDH on it takes twice as long). gnark-crypto's (a
// generic Montgomery multiplication, which does not use p's shape) takes
// about 22 ns a multiplication, 24 ns a squaring, on one input repeated
// (this one 21 and 19 ns), and more on the varying inputs a signer sees: with the same GLV code on top, a multiplication of 64 different
// points took 64 µs on gnark's field and 51 µs on this one, a signature
// check 80–83 against 64–65 µs, a revocation key 92–93 against 70–74 µs.
// Here a product is reduced by folding its high half times c into its low
// half, as libsecp256k1 does, and a squaring computes each cross product
// once. The tests check every operation against math/big, at random and at
// the edges where carries wrap twice. The operations branch only where a
// carry or borrow passes 2²⁵⁶ a second time, or a value lies at or above p:
// for values nobody chose, about once in 2²²⁰ operations (base.go relies
// on that); inverse goes through math/big and takes variable time.
type fe [4]uint64

// reductionC is 2²⁵⁶ mod p.
const reductionC = 0x1000003D1

var primeP = fe{0xFFFFFFFEFFFFFC2F, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF}

// feFromBytes reads a big-endian value (any 256-bit value; ≥ p means
// itself minus p).
func feFromBytes(b *[32]byte) fe {
	var z fe
	for i := range 4 {
		off := 24 - 8*i
		z[i] = uint64(b[off])<<56 | uint64(b[off+1])<<48 | uint64(b[off+2])<<40 | uint64(b[off+3])<<32 |
			uint64(b[off+4])<<24 | uint64(b[off+5])<<16 | uint64(b[off+6])<<8 | uint64(b[off+7])
	}
	return z
}

// bytes returns the canonical value, big-endian.
func (z *fe) bytes() [32]byte {
	c := z.canonical()
	var b [32]byte
	for i := range 4 {
		off := 24 - 8*i
		for j := range 8 {
			b[off+j] = byte(c[i] >> (56 - 8*j))
		}
	}
	return b
}

// canonical returns the representative below p.
func (z *fe) canonical() fe {
	var d fe
	var borrow uint64
	d[0], borrow = bits.Sub64(z[0], primeP[0], 0)
	d[1], borrow = bits.Sub64(z[1], primeP[1], borrow)
	d[2], borrow = bits.Sub64(z[2], primeP[2], borrow)
	d[3], borrow = bits.Sub64(z[3], primeP[3], borrow)
	if borrow != 0 {
		return *z
	}
	return d
}

func (z *fe) isZero() bool { return z.canonical() == fe{} }

func (z *fe) equal(a *fe) bool { return z.canonical() == a.canonical() }

func (z *fe) isOdd() bool { c := z.canonical(); return c[0]&1 == 1 }

// addC adds c to a value whose true value is z + 2²⁵⁶, when carry is 1.
func (z *fe) addC(carry uint64) {
	z[0], carry = bits.Add64(z[0], reductionC&-carry, 0)
	z[1], carry = bits.Add64(z[1], 0, carry)
	z[2], carry = bits.Add64(z[2], 0, carry)
	z[3], carry = bits.Add64(z[3], 0, carry)
	if carry != 0 { // wrapped past 2²⁵⁶ again: z is now tiny
		z[0] += reductionC
	}
}

func (z *fe) add(a, b *fe) *fe {
	var carry uint64
	z[0], carry = bits.Add64(a[0], b[0], 0)
	z[1], carry = bits.Add64(a[1], b[1], carry)
	z[2], carry = bits.Add64(a[2], b[2], carry)
	z[3], carry = bits.Add64(a[3], b[3], carry)
	z.addC(carry) // half of all sums pass 2²⁵⁶: no branch
	return z
}

func (z *fe) sub(a, b *fe) *fe {
	var borrow uint64
	z[0], borrow = bits.Sub64(a[0], b[0], 0)
	z[1], borrow = bits.Sub64(a[1], b[1], borrow)
	z[2], borrow = bits.Sub64(a[2], b[2], borrow)
	z[3], borrow = bits.Sub64(a[3], b[3], borrow)
	// A borrow left a − b + 2²⁵⁶ ≡ a − b + c: take c away, and once more if
	// that borrows too (z then is near 2²⁵⁶).
	z[0], borrow = bits.Sub64(z[0], reductionC&-borrow, 0)
	z[1], borrow = bits.Sub64(z[1], 0, borrow)
	z[2], borrow = bits.Sub64(z[2], 0, borrow)
	z[3], borrow = bits.Sub64(z[3], 0, borrow)
	if borrow != 0 {
		z[0] -= reductionC
	}
	return z
}

// mulSmall sets z = a·k for a small k (below 2³⁰).
func (z *fe) mulSmall(a *fe, k uint64) *fe {
	var c, t4 uint64
	c, z[0] = bits.Mul64(a[0], k)
	c, z[1] = madd(a[1], k, c, 0)
	c, z[2] = madd(a[2], k, c, 0)
	t4, z[3] = madd(a[3], k, c, 0)
	_, lo := bits.Mul64(t4, reductionC) // t4 < k: t4·c is below 2⁶⁴ for k < 2³⁰
	z[0], c = bits.Add64(z[0], lo, 0)
	z[1], c = bits.Add64(z[1], 0, c)
	z[2], c = bits.Add64(z[2], 0, c)
	z[3], c = bits.Add64(z[3], 0, c)
	if c != 0 { // rare: the result passed 2²⁵⁶
		z.addC(c)
	}
	return z
}

func (z *fe) neg(a *fe) *fe { return z.sub(&fe{}, a) }

func (z *fe) double(a *fe) *fe { return z.mulSmall(a, 2) }

// madd returns a·b + c + d as two words (it never exceeds 128 bits).
func madd(a, b, c, d uint64) (hi, lo uint64) {
	hi, lo = bits.Mul64(a, b)
	var carry uint64
	lo, carry = bits.Add64(lo, c, 0)
	hi += carry
	lo, carry = bits.Add64(lo, d, 0)
	hi += carry
	return hi, lo
}

// mul sets z = a·b: the 512-bit product t, then t_low + t_high·c, then the
// few bits above 2²⁵⁶ folded in once more.
func (z *fe) mul(a, b *fe) *fe {
	var t0, t1, t2, t3, t4, t5, t6, t7, c uint64
	c, t0 = bits.Mul64(a[0], b[0])
	c, t1 = madd(a[0], b[1], c, 0)
	c, t2 = madd(a[0], b[2], c, 0)
	t4, t3 = madd(a[0], b[3], c, 0)

	c, t1 = madd(a[1], b[0], t1, 0)
	c, t2 = madd(a[1], b[1], t2, c)
	c, t3 = madd(a[1], b[2], t3, c)
	t5, t4 = madd(a[1], b[3], t4, c)

	c, t2 = madd(a[2], b[0], t2, 0)
	c, t3 = madd(a[2], b[1], t3, c)
	c, t4 = madd(a[2], b[2], t4, c)
	t6, t5 = madd(a[2], b[3], t5, c)

	c, t3 = madd(a[3], b[0], t3, 0)
	c, t4 = madd(a[3], b[1], t4, c)
	c, t5 = madd(a[3], b[2], t5, c)
	t7, t6 = madd(a[3], b[3], t6, c)

	z.reduce(t0, t1, t2, t3, t4, t5, t6, t7)
	return z
}

// square sets z = a²: each cross product once, doubled.
func (z *fe) square(a *fe) *fe {
	// Cross products a_i·a_j, i < j, into t1..t6.
	var t0, t1, t2, t3, t4, t5, t6, t7, c uint64
	c, t1 = bits.Mul64(a[0], a[1])
	c, t2 = madd(a[0], a[2], c, 0)
	t4, t3 = madd(a[0], a[3], c, 0)
	c, t3 = madd(a[1], a[2], t3, 0)
	t5, t4 = madd(a[1], a[3], t4, c)
	t6, t5 = madd(a[2], a[3], t5, 0)
	// Double them.
	t7 = t6 >> 63
	t6 = t6<<1 | t5>>63
	t5 = t5<<1 | t4>>63
	t4 = t4<<1 | t3>>63
	t3 = t3<<1 | t2>>63
	t2 = t2<<1 | t1>>63
	t1 <<= 1
	// Add the squares a_i² at 2i.
	var hi, lo uint64
	hi, t0 = bits.Mul64(a[0], a[0])
	t1, c = bits.Add64(t1, hi, 0)
	hi, lo = bits.Mul64(a[1], a[1])
	t2, c = bits.Add64(t2, lo, c)
	t3, c = bits.Add64(t3, hi, c)
	hi, lo = bits.Mul64(a[2], a[2])
	t4, c = bits.Add64(t4, lo, c)
	t5, c = bits.Add64(t5, hi, c)
	hi, lo = bits.Mul64(a[3], a[3])
	t6, c = bits.Add64(t6, lo, c)
	t7, _ = bits.Add64(t7, hi, c)
	z.reduce(t0, t1, t2, t3, t4, t5, t6, t7)
	return z
}

// reduce sets z to the 512-bit t mod p, below 2²⁵⁶.
func (z *fe) reduce(t0, t1, t2, t3, t4, t5, t6, t7 uint64) {
	// h = t_high·c, five limbs (the top one below 2³⁴).
	var h0, h1, h2, h3, h4, c uint64
	c, h0 = bits.Mul64(t4, reductionC)
	c, h1 = madd(t5, reductionC, c, 0)
	c, h2 = madd(t6, reductionC, c, 0)
	h4, h3 = madd(t7, reductionC, c, 0)
	z[0], c = bits.Add64(t0, h0, 0)
	z[1], c = bits.Add64(t1, h1, c)
	z[2], c = bits.Add64(t2, h2, c)
	z[3], c = bits.Add64(t3, h3, c)
	top := h4 + c // the multiple of 2²⁵⁶ left, below 2³⁵
	hi, lo := bits.Mul64(top, reductionC)
	z[0], c = bits.Add64(z[0], lo, 0)
	z[1], c = bits.Add64(z[1], hi, c)
	z[2], c = bits.Add64(z[2], 0, c)
	z[3], c = bits.Add64(z[3], 0, c)
	if c != 0 { // rare: the result passed 2²⁵⁶
		z.addC(c)
	}
}

func (z *fe) bigInt() *big.Int {
	b := z.bytes()
	return new(big.Int).SetBytes(b[:])
}

// inverse sets z = 1/a (0 for a = 0), with math/big: for public values only.
func (z *fe) inverse(a *fe) *fe {
	v := a.bigInt()
	if v.ModInverse(v, fieldPrime) == nil {
		*z = fe{}
		return z
	}
	var b [32]byte
	v.FillBytes(b[:])
	*z = feFromBytes(&b)
	return z
}

var fieldPrime = new(big.Int).SetBytes([]byte{
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFC, 0x2F,
})
