package hsmproto

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
)

// validPoint reports whether b is a compressed secp256k1 point, as
// libsecp256k1's secp256k1_ec_pubkey_parse decides (CLN's fromwire_pubkey):
// prefix 0x02 or 0x03, x below the field prime p, and x³+7 a square mod p.
//
// Deciding that last condition by taking the square root (btcec.ParsePubKey)
// costs a field exponentiation, about 11 µs, for every pubkey of every
// request. The Jacobi symbol of x³+7 says the same thing without the root:
// jacobiP computes it with libsecp256k1's variable-time algorithm
// (secp256k1_jacobi64_maybe_var, Bernstein–Yang divsteps), about 5 times
// faster. The rare input it does not settle falls back to the square root.
func validPoint(b []byte) bool {
	if len(b) != 33 || (b[0] != 2 && b[0] != 3) {
		return false
	}
	if recentPoints.has(b) {
		return true
	}
	if !onCurve(b) {
		return false
	}
	recentPoints.add(b)
	return true
}

// onCurve decides validPoint's last condition for b, a 33-byte point
// with a valid prefix.
func onCurve(b []byte) bool {
	var x, y2 btcec.FieldVal
	if overflow := x.SetByteSlice(b[1:]); overflow {
		return false
	}
	y2.SquareVal(&x).Mul(&x).AddInt(7).Normalize()
	var yb [32]byte
	y2.PutBytes(&yb)
	l := limbs62(&yb)
	switch jacobiP(&l) {
	case 1:
		return true
	case -1:
		return false
	}
	// x³+7 ≡ 0 (no such x on secp256k1) or no convergence: decide
	// with the square root.
	_, err := btcec.ParsePubKey(b)
	return err == nil
}

// recentPoints remembers points validPoint accepted lately: a channel's
// remote funding key comes with every commitment signed on it, and a
// commitment's per-commitment point with each of its HTLC signatures; the
// check (2 µs) need not be repeated for them. It is direct-mapped on bytes
// of x: a lookup compares the whole point, so a collision (chosen by a
// peer or not) costs a check, never a wrong answer.
var recentPoints pointCache

// pointCacheSlots bounds the cache to 33 KiB.
const pointCacheSlots = 1024

type pointCache struct {
	mu    sync.Mutex
	slots [pointCacheSlots][33]byte // all zero: no point has prefix 0
}

func slotOf(b []byte) int {
	return int(binary.LittleEndian.Uint16(b[31:])) % pointCacheSlots
}

func (c *pointCache) has(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Equal(c.slots[slotOf(b)][:], b)
}

func (c *pointCache) add(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	copy(c.slots[slotOf(b)][:], b)
}

// Signed-62 arithmetic after libsecp256k1's modinv64 (here every value and
// every transition matrix entry is non-negative, so it is unsigned).

const m62 = math.MaxUint64 >> 2

// fieldP62 is secp256k1's field prime p = 2²⁵⁶ − 2³² − 977 in 62-bit limbs,
// least significant first.
var fieldP62 = [5]uint64{0x3FFFFFFEFFFFFC2F, m62, m62, m62, 0xFF}

// limbs62 splits a 32-byte big-endian number into 62-bit limbs.
func limbs62(b *[32]byte) [5]uint64 {
	var w [4]uint64 // little-endian 64-bit words
	for i := range 4 {
		for j := range 8 {
			w[3-i] = w[3-i]<<8 | uint64(b[8*i+j])
		}
	}
	return [5]uint64{
		w[0] & m62,
		(w[0]>>62 | w[1]<<2) & m62,
		(w[1]>>60 | w[2]<<4) & m62,
		(w[2]>>58 | w[3]<<6) & m62,
		w[3] >> 56,
	}
}

// trans2x2 is the transition matrix of 62 divsteps: 2⁶²·[f', g'] =
// [[u, v], [q, r]]·[f, g].
type trans2x2 struct{ u, v, q, r uint64 }

// jacobiP returns the Jacobi symbol (x | p) of 0 ≤ x < p, which for the
// prime p is 1 when x is a non-zero square and −1 when it is not; 0 when
// x = 0 or the algorithm did not converge (it always does in practice;
// libsecp256k1 gives up at the same point and takes the square root).
//
// This is libsecp256k1's secp256k1_jacobi64_maybe_var: f = p, g = x,
// batches of 62 "posdivsteps" computed on the low 64 bits, each batch's
// matrix then applied to the full numbers; the symbol's sign flips are
// tracked in the low bit of jac (quadratic reciprocity on each swap, the
// second supplementary law on each halving) until f = 1.
func jacobiP(x *[5]uint64) int {
	f, g := fieldP62, *x
	n := 5
	eta := int64(-1) // −δ
	var jac uint64
	for range 25 {
		var t trans2x2
		eta, t, jac = posdivsteps62(eta, f[0]|f[1]<<62, g[0]|g[1]<<62, jac)
		updateFG62(n, &f, &g, &t)
		if f[0] == 1 {
			rest := uint64(0)
			for j := 1; j < n; j++ {
				rest |= f[j]
			}
			if rest == 0 {
				return 1 - 2*int(jac&1)
			}
		}
		if n > 1 && f[n-1] == 0 && g[n-1] == 0 {
			n--
		}
	}
	return 0
}

// posdivsteps62 is secp256k1_modinv64_posdivsteps_62_var: 62 divsteps on
// the low 64 bits of f (odd) and g, returning the new eta, the
// transition matrix and jac with its low bit updated.
func posdivsteps62(eta int64, f, g uint64, j uint64) (int64, trans2x2, uint64) {
	u, v, q, r := uint64(1), uint64(0), uint64(0), uint64(1)
	i := uint(62)
	for {
		// All the halvings of g at once, at most i of them (sentinel bit).
		zeros := uint(bits.TrailingZeros64(g|math.MaxUint64<<(i&63))) & 63
		g >>= zeros
		u <<= zeros
		v <<= zeros
		eta -= int64(zeros)
		i -= zeros
		// Halving g an odd number of times flips the sign if f ≡ 3, 5 (mod 8).
		j ^= uint64(zeros) & (f>>1 ^ f>>2)
		if i == 0 {
			break
		}
		// f and g are odd here.
		swap := eta < 0
		if swap {
			eta = -eta
			f, g = g, f
			u, q = q, u
			v, r = r, v
			// Reciprocity: swapping flips the sign if f ≡ g ≡ 3 (mod 4).
			j ^= (f & g) >> 1
		}
		// At most min(eta+1, i) low bits of g may be cancelled by adding
		// a multiple w of f: up to 6 after a swap, 4 otherwise.
		limit := min(uint(eta)+1, i)
		mask := uint64(math.MaxUint64) >> ((64 - limit) & 63)
		var w uint64
		if swap {
			w = (f * g * (f*f - 2)) & mask & 63
		} else {
			w = f + ((f + 1) & 4 << 1)
			w = (-w * g) & mask & 15
		}
		g += f * w
		q += u * w
		r += v * w
	}
	return eta, trans2x2{u, v, q, r}, j
}

// u128 is an unsigned 128-bit accumulator.
type u128 struct{ hi, lo uint64 }

func (a *u128) addMul(x, y uint64) {
	hi, lo := bits.Mul64(x, y)
	var c uint64
	a.lo, c = bits.Add64(a.lo, lo, 0)
	a.hi += hi + c
}

func (a *u128) shr62() {
	a.lo = a.lo>>62 | a.hi<<2
	a.hi >>= 62
}

// updateFG62 is secp256k1_modinv64_update_fg_62_var: [f, g] = t·[f, g]/2⁶²
// on the n low limbs (the division is exact; max(f, g) never grows).
func updateFG62(n int, f, g *[5]uint64, t *trans2x2) {
	var cf, cg u128
	cf.addMul(t.u, f[0])
	cf.addMul(t.v, g[0])
	cg.addMul(t.q, f[0])
	cg.addMul(t.r, g[0])
	cf.shr62()
	cg.shr62()
	for i := 1; i < n; i++ {
		fi, gi := f[i], g[i]
		cf.addMul(t.u, fi)
		cf.addMul(t.v, gi)
		cg.addMul(t.q, fi)
		cg.addMul(t.r, gi)
		f[i-1] = cf.lo & m62
		g[i-1] = cg.lo & m62
		cf.shr62()
		cg.shr62()
	}
	f[n-1] = cf.lo
	g[n-1] = cg.lo
}
