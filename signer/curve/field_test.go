package curve

import (
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

var feEdges = []fe{
	{}, {1}, {2}, {reductionC - 1, 0, 0, 0}, {reductionC, 0, 0, 0},
	{primeP[0] - 1, primeP[1], primeP[2], primeP[3]}, primeP, {primeP[0] + 1, primeP[1], primeP[2], primeP[3]},
	{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}, {^uint64(0) - reductionC, ^uint64(0), ^uint64(0), ^uint64(0)},
	{0, 0, 0, 1 << 63}, {^uint64(0), 0, ^uint64(0), 0},
}

// drawFe draws any 256-bit value, with the edges (0, 1, p − 1, p, p + 1,
// 2²⁵⁶ − 1, values just below 2²⁵⁶ and near c) drawn often: a representative
// need not be below p.
func drawFe(t *rapid.T, label string) fe {
	if rapid.Bool().Draw(t, label+" edge") {
		return feEdges[rapid.IntRange(0, len(feEdges)-1).Draw(t, label+" which")]
	}
	b := [32]byte(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, label))
	return feFromBytes(&b)
}

func rawBig(z fe) *big.Int {
	v := new(big.Int)
	for i := 3; i >= 0; i-- {
		v.Lsh(v, 64).Or(v, new(big.Int).SetUint64(z[i]))
	}
	return v
}

// Every operation agrees with math/big mod p, its result stays below 2²⁵⁶
// (a representative), and bytes() is the canonical value.
func TestFieldMatchesBig(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.SampledFrom([]uint64{2, 3, 4, 8, 1<<30 - 1}).Draw(t, "k")
		checkField(t, drawFe(t, "a"), drawFe(t, "b"), k)
	})
}

// Every pair of edge values, where the carries and borrows that wrap past
// 2²⁵⁶ twice happen.
func TestFieldEdges(t *testing.T) {
	for _, a := range feEdges {
		for _, b := range feEdges {
			for _, k := range []uint64{2, 3, 4, 8, 1<<30 - 1} {
				checkField(t, a, b, k)
			}
		}
	}
}

func checkField(t interface{ Fatalf(string, ...any) }, a, b fe, k uint64) {
	p := fieldPrime
	ab, bb := rawBig(a), rawBig(b)
	mod := func(v *big.Int) *big.Int { return v.Mod(v, p) }
	for _, c := range []struct {
		name string
		got  fe
		want *big.Int
	}{
		{"add", *new(fe).add(&a, &b), mod(new(big.Int).Add(ab, bb))},
		{"sub", *new(fe).sub(&a, &b), mod(new(big.Int).Sub(ab, bb))},
		{"neg", *new(fe).neg(&a), mod(new(big.Int).Neg(ab))},
		{"double", *new(fe).double(&a), mod(new(big.Int).Lsh(ab, 1))},
		{"mul", *new(fe).mul(&a, &b), mod(new(big.Int).Mul(ab, bb))},
		{"square", *new(fe).square(&a), mod(new(big.Int).Mul(ab, ab))},
		{"mulSmall", *new(fe).mulSmall(&a, k), mod(new(big.Int).Mul(ab, new(big.Int).SetUint64(k)))},
	} {
		if rawBig(c.got).Cmp(new(big.Int).Lsh(big.NewInt(1), 256)) >= 0 || mod(rawBig(c.got)).Cmp(c.want) != 0 {
			t.Fatalf("%s(%x, %x) = %x, want %x mod p", c.name, ab, bb, rawBig(c.got), c.want)
		}
		if got := c.got.bytes(); new(big.Int).SetBytes(got[:]).Cmp(c.want) != 0 {
			t.Fatalf("%s: bytes() = %x, want %x", c.name, got, c.want)
		}
	}
	if a.isZero() != (mod(new(big.Int).Set(ab)).Sign() == 0) {
		t.Fatalf("isZero(%x) wrong", ab)
	}
	if a.equal(&b) != (mod(new(big.Int).Set(ab)).Cmp(mod(new(big.Int).Set(bb))) == 0) {
		t.Fatalf("equal(%x, %x) wrong", ab, bb)
	}
	var inv, one fe
	inv.inverse(&a)
	one.mul(&inv, &a)
	if !a.isZero() && !one.equal(&fe{1}) {
		t.Fatalf("inverse(%x)·a = %x", ab, rawBig(one))
	}
}

func BenchmarkFieldMul(b *testing.B) {
	x := fe{0x1234567890abcdef, 0xfedcba0987654321, 0x0f0f0f0f0f0f0f0f, 0x7777777777777777}
	y := x
	for range b.N {
		y.mul(&y, &x)
	}
}

// FuzzField checks every field operation against math/big on any two
// 256-bit values, canonical or not.
func FuzzField(f *testing.F) {
	for _, e := range feEdges {
		b := e.bytesRaw()
		f.Add(b[:], b[:], uint32(2))
	}
	f.Fuzz(func(t *testing.T, a, b []byte, k uint32) {
		if len(a) != 32 || len(b) != 32 {
			return
		}
		k = k%(1<<30-1) + 1 // mulSmall takes 1 ≤ k < 2³⁰
		fa, fb := feFromBytes((*[32]byte)(a)), feFromBytes((*[32]byte)(b))
		checkField(t, fa, fb, uint64(k))
	})
}

// bytesRaw is the representative itself, big-endian (bytes() would
// reduce it).
func (z *fe) bytesRaw() [32]byte {
	var b [32]byte
	for i := range 4 {
		for j := range 8 {
			b[24-8*i+j] = byte(z[i] >> (56 - 8*j))
		}
	}
	return b
}
