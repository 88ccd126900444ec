package curve

import (
	"bytes"
	"math/big"
	mathrand "math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"pgregory.net/rapid"
)

// checkBaseMult compares ScalarBaseMult with decred's for k.
func checkBaseMult(t interface{ Fatalf(string, ...any) }, k *btcec.ModNScalar) {
	var got, want btcec.JacobianPoint
	ScalarBaseMult(k, &got)
	btcec.ScalarBaseMultNonConst(k, &want)
	if want.Z.IsZero() || k.IsZero() {
		if !got.X.IsZero() || !got.Y.IsZero() || !got.Z.IsZero() {
			t.Fatalf("k = %x: k·G is not decred's infinity (X = Y = Z = 0)", k.Bytes())
		}
		return
	}
	got.ToAffine()
	want.ToAffine()
	if !got.X.Equals(&want.X) || !got.Y.Equals(&want.Y) {
		t.Fatalf("k = %x: k·G differs from decred's", k.Bytes())
	}
}

func TestScalarBaseMultMatchesDecred(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var k btcec.ModNScalar
		k.SetByteSlice(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "k"))
		checkBaseMult(t, &k)
	})
}

// Scalars whose digits carry all the way, sit at a digit's edges, or fill
// the top digit's row to its end (256 for k's top byte 0xff with a carry).
func TestScalarBaseMultEdges(t *testing.T) {
	n := btcec.S256().N
	two := func(e uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), e) }
	vals := []*big.Int{
		big.NewInt(0), big.NewInt(1), big.NewInt(2), big.NewInt(127), big.NewInt(128),
		big.NewInt(129), big.NewInt(255), big.NewInt(256), big.NewInt(128 * 256),
		new(big.Int).Sub(n, big.NewInt(1)), new(big.Int).Sub(n, big.NewInt(2)),
		new(big.Int).Sub(n, big.NewInt(128)), new(big.Int).Sub(n, two(255)),
		two(255), new(big.Int).Sub(two(255), big.NewInt(1)),
		&lambda,
	}
	for _, fill := range []byte{0x7f, 0x80, 0x81, 0xff} {
		vals = append(vals, new(big.Int).SetBytes(bytes.Repeat([]byte{fill}, 32)))
	}
	for _, v := range vals {
		k := scalarOf(t, v)
		checkBaseMult(t, &k)
	}
	nMinus1 := scalarOf(t, new(big.Int).Sub(n, big.NewInt(1)))
	var d [combSigned + 1]int16
	if combDigitsOf(&nMinus1, &d); d[combSigned] != combTopRow {
		t.Errorf("n − 1's top digit is %d, not the top row's last entry", d[combSigned])
	}
}

// The digits add up to k: the signed ones within [−128, 127], the top one
// within [0, 256].
func TestCombDigits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var k btcec.ModNScalar
		k.SetByteSlice(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "k"))
		var d [combSigned + 1]int16
		combDigitsOf(&k, &d)
		sum := new(big.Int)
		for i := combSigned; i >= 0; i-- {
			if i < combSigned && (d[i] < -128 || d[i] > 127) || i == combSigned && (d[i] < 0 || d[i] > 256) {
				t.Fatalf("digit %d is %d", i, d[i])
			}
			sum.Lsh(sum, 8).Add(sum, big.NewInt(int64(d[i])))
		}
		kb := k.Bytes()
		if sum.Cmp(new(big.Int).SetBytes(kb[:])) != 0 {
			t.Fatalf("the digits of %x add up to %x", kb, sum)
		}
	})
}

// A digit of 0 skips its addition, so zero digits must be as rare as zero
// bytes are in decred's digits (about 1 in 256), whatever the scalar: a
// digit that is 0 for a large share of scalars (as a 33rd, carry digit
// would be for half of them) tells a clock something about every nonce.
func TestCombZeroDigitsAreRare(t *testing.T) {
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	const scalars = 20000
	var zeros [combSigned + 1]int
	for range scalars {
		var b [32]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		var k btcec.ModNScalar
		k.SetBytes(&b)
		var d [combSigned + 1]int16
		combDigitsOf(&k, &d)
		for i, v := range d {
			if v == 0 {
				zeros[i]++
			}
		}
	}
	for i, z := range zeros {
		if z > scalars/64 { // expected scalars/256; 4 times that is no accident
			t.Errorf("digit %d is 0 for %d of %d scalars", i, z, scalars)
		}
	}
}

func FuzzScalarBaseMult(f *testing.F) {
	f.Add([]byte{1})
	f.Add(bytes.Repeat([]byte{0x80}, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		var k btcec.ModNScalar
		if len(b) > 32 || k.SetByteSlice(b) {
			return
		}
		checkBaseMult(t, &k)
	})
}

func BenchmarkScalarBaseMult(b *testing.B) {
	keys := benchKeys(64)
	b.Run("curve", func(b *testing.B) {
		var r btcec.JacobianPoint
		for i := 0; b.Loop(); i++ {
			ScalarBaseMult(&keys[i%64].Key, &r)
		}
	})
	b.Run("decred", func(b *testing.B) {
		var r btcec.JacobianPoint
		for i := 0; b.Loop(); i++ {
			btcec.ScalarBaseMultNonConst(&keys[i%64].Key, &r)
		}
	})
}
