package hsmproto

import (
	"bytes"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

var bigP, _ = new(big.Int).SetString("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f", 16)

// randomField returns a random 32-byte number, biased towards the edges
// (many leading zero or 0xff bytes).
func randomField(rng *rand.Rand) [32]byte {
	var b [32]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	switch rng.IntN(3) {
	case 0:
		clear(b[:rng.IntN(33)])
	case 1:
		for i := range rng.IntN(33) {
			b[i] = 0xff
		}
	}
	return b
}

// jacobiP against math/big on random values below p, and on the edges.
func TestJacobiP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pMinus := func(k int64) [32]byte {
		var b [32]byte
		new(big.Int).Sub(bigP, big.NewInt(k)).FillBytes(b[:])
		return b
	}
	cases := [][32]byte{{31: 1}, {31: 2}, {31: 7}, pMinus(1), pMinus(2), {0: 0x80}}
	for range 100_000 {
		cases = append(cases, randomField(rng))
	}
	for _, b := range cases {
		x := new(big.Int).SetBytes(b[:])
		if x.Cmp(bigP) >= 0 {
			continue
		}
		l := limbs62(&b)
		got, want := jacobiP(&l), big.Jacobi(x, bigP)
		if got != want {
			t.Fatalf("jacobiP(%x) = %d, want %d", b, got, want)
		}
	}
	var zero [5]uint64
	if got := jacobiP(&zero); got != 0 {
		t.Errorf("jacobiP(0) = %d, want 0", got)
	}
}

// validPoint decides exactly as btcec.ParsePubKey (libsecp256k1's
// secp256k1_ec_pubkey_parse for 33 bytes).
func TestValidPointMatchesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var cases [][]byte
	for _, prefix := range []byte{0, 1, 2, 3, 4, 6, 7} {
		for _, x := range [][32]byte{{}, {31: 1}, {31: 7}, randomField(rng)} {
			cases = append(cases, append([]byte{prefix}, x[:]...))
		}
		var p [32]byte
		bigP.FillBytes(p[:])
		cases = append(cases, append([]byte{prefix}, p[:]...))
		cases = append(cases, append([]byte{prefix}, bytes.Repeat([]byte{0xff}, 32)...))
	}
	for i := range 64 {
		k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{byte(i + 1)}, 32))
		cases = append(cases, k.PubKey().SerializeCompressed())
	}
	for i := range 50_000 {
		x := randomField(rng)
		cases = append(cases, append([]byte{2 + byte(i&1)}, x[:]...))
	}
	valid := 0
	for _, b := range cases {
		_, err := btcec.ParsePubKey(b)
		if got, want := validPoint(b), err == nil; got != want {
			t.Fatalf("validPoint(%x) = %v, ParsePubKey says %v (%v)", b, got, want, err)
		}
		if err == nil {
			valid++
		}
	}
	// About half of the random x are on the curve: both outcomes tested.
	if valid < len(cases)/3 || valid > 2*len(cases)/3 {
		t.Errorf("%d of %d valid", valid, len(cases))
	}
	for _, b := range [][]byte{nil, {2}, make([]byte, 32), make([]byte, 34), make([]byte, 65)} {
		if validPoint(b) {
			t.Errorf("validPoint accepts %d bytes", len(b))
		}
	}
}

// BenchmarkValidPoint compares the Jacobi-symbol check with the square
// root btcec.ParsePubKey takes, and with a point checked lately.
func BenchmarkValidPoint(b *testing.B) {
	var keys [][]byte
	for i := range 64 {
		k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{byte(i + 1)}, 32))
		keys = append(keys, k.PubKey().SerializeCompressed())
	}
	b.Run("jacobi", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if !onCurve(keys[i%len(keys)]) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if !validPoint(keys[i%len(keys)]) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("btcec.ParsePubKey", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := btcec.ParsePubKey(keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A point remembered by validPoint does not make another point with the
// same cache slot valid: the whole point is compared.
func TestRecentPointsCompareWholePoint(t *testing.T) {
	k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{9}, 32))
	p := k.PubKey().SerializeCompressed()
	if !validPoint(p) || !recentPoints.has(p) {
		t.Fatal("a valid point is not remembered")
	}
	q := append([]byte(nil), p...)
	for i := 0; ; i++ {
		q[1] = byte(i)
		q[2] = byte(i >> 8)
		if q[1] != p[1] && !onCurve(q) {
			break
		}
	}
	if slotOf(q) != slotOf(p) {
		t.Fatal("the test point should share the slot")
	}
	if validPoint(q) {
		t.Fatalf("validPoint(%x) is true: an invalid point sharing a remembered point's slot", q)
	}
	if recentPoints.has(q) || !recentPoints.has(p) {
		t.Error("an invalid point was remembered, or evicted the valid one")
	}
}
