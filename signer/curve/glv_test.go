package curve

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/consensys/gnark-crypto/ecc/secp256k1"
	"github.com/lightningnetwork/lnd/input"
	"pgregory.net/rapid"
)

func scalarOf(t testing.TB, v *big.Int) btcec.ModNScalar {
	var k btcec.ModNScalar
	if k.SetByteSlice(new(big.Int).Mod(v, btcec.S256().N).Bytes()) {
		t.Fatal("scalar overflow")
	}
	return k
}

func decredMul(k *btcec.ModNScalar, p *btcec.PublicKey) *btcec.PublicKey {
	var pj, r btcec.JacobianPoint
	p.AsJacobian(&pj)
	btcec.ScalarMultNonConst(k, &pj, &r)
	if r.Z.IsZero() {
		return nil
	}
	r.ToAffine()
	return btcec.NewPublicKey(&r.X, &r.Y)
}

// β and λ belong together: λ·G = (β·Gx, Gy).
func TestEndomorphismConstants(t *testing.T) {
	l := scalarOf(t, &lambda)
	var want btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&l, &want)
	want.ToAffine()
	got := baseTablePhi[0].publicKey()
	if !got.IsEqual(btcec.NewPublicKey(&want.X, &want.Y)) {
		t.Fatal("λ·G is not (β·Gx, Gy)")
	}
}

// The digits add up to |k|, are odd and below 2^(w−1) in size, and no two
// nonzero digits are closer than w positions.
func TestNAFDigits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := new(big.Int).SetBytes(rapid.SliceOfN(rapid.Byte(), 0, 33).Draw(t, "k"))
		if rapid.Bool().Draw(t, "negative") {
			k.Neg(k)
		}
		w := uint(rapid.IntRange(2, 8).Draw(t, "w"))
		digits := nafDigits(k, w)
		got, last := new(big.Int), -int(w)
		for i, d := range digits {
			if d == 0 {
				continue
			}
			if d%2 == 0 || abs8(d) >= 1<<(w-1) || i-last < int(w) {
				t.Fatalf("digit %d at %d (previous nonzero at %d) breaks width-%d NAF", d, i, last, w)
			}
			last = i
			got.Add(got, new(big.Int).Lsh(big.NewInt(int64(d)), uint(i)))
		}
		if got.Cmp(new(big.Int).Abs(k)) != 0 {
			t.Fatalf("digits sum to %v, want |%v|", got, k)
		}
	})
}

// Scalars at the edges (small, near n, λ and its neighbours, whose halves
// are extreme) multiply as decred's.
func TestMulAffineEdgeScalars(t *testing.T) {
	n := btcec.S256().N
	p, _ := btcec.PrivKeyFromBytes([]byte{7, 7, 7})
	xy := p.PubKey().SerializeUncompressed()
	x, y := (*[32]byte)(xy[1:33]), (*[32]byte)(xy[33:65])
	for _, v := range []*big.Int{
		big.NewInt(1), big.NewInt(2), big.NewInt(3), big.NewInt(255), big.NewInt(256),
		new(big.Int).Sub(n, big.NewInt(1)), new(big.Int).Sub(n, big.NewInt(2)),
		&lambda, new(big.Int).Add(&lambda, big.NewInt(1)), new(big.Int).Sub(&lambda, big.NewInt(1)),
		new(big.Int).Lsh(big.NewInt(1), 128), new(big.Int).Lsh(big.NewInt(1), 255),
	} {
		k := scalarOf(t, v)
		got, ok := NewMultiplier(&k).MulCompressed(x, y)
		if !ok || [33]byte(decredMul(&k, p.PubKey()).SerializeCompressed()) != got {
			t.Errorf("k = %x: differs from decred", v)
		}
	}
	var zero btcec.ModNScalar
	if _, ok := NewMultiplier(&zero).MulCompressed(x, y); ok {
		t.Error("0·P is not infinity")
	}
	y[31] ^= 1
	one := scalarOf(t, big.NewInt(1))
	if _, ok := NewMultiplier(&one).MulCompressed(x, y); ok {
		t.Error("a point off the curve was multiplied")
	}
}

// A sum of four terms, two of them multiples of G, equals decred's sum,
// including sums that cancel to infinity.
func TestSumMatchesDecred(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p1, p2 := drawKey(t, "p1").PubKey(), drawKey(t, "p2").PubKey()
		k1, k2, u := drawKey(t, "k1").Key, drawKey(t, "k2").Key, drawKey(t, "u").Key
		if rapid.Bool().Draw(t, "cancel") {
			var v btcec.ModNScalar
			v.NegateVal(&u)
			r := sum(baseTerms(baseTerms(nil, &u), &v))
			if _, ok := r.toAffine(); ok {
				t.Fatal("u·G + (−u)·G is not infinity")
			}
			return
		}
		var want, term, acc btcec.JacobianPoint
		for _, c := range []struct {
			k *btcec.ModNScalar
			p *btcec.PublicKey
		}{{&k1, p1}, {&k2, p2}} {
			var pj btcec.JacobianPoint
			c.p.AsJacobian(&pj)
			btcec.ScalarMultNonConst(c.k, &pj, &term)
			btcec.AddNonConst(&acc, &term, &want)
			acc = want
		}
		btcec.ScalarBaseMultNonConst(&u, &term)
		btcec.AddNonConst(&acc, &term, &want)
		a1, a2 := affineOf(p1), affineOf(p2)
		terms := pointTerms(pointTerms(baseTerms(nil, &u), &k1, &a1), &k2, &a2)
		r := sum(terms)
		got, err := toPublicKey(&r)
		want.ToAffine()
		if err != nil || !got.IsEqual(btcec.NewPublicKey(&want.X, &want.Y)) {
			t.Fatalf("the sum differs from decred's (%v)", err)
		}
	})
}

func BenchmarkMulPoint(b *testing.B) {
	keys := benchKeys(65)
	k := &keys[64].Key
	var xs, ys [64][32]byte
	for i := range 64 {
		xy := keys[i].PubKey().SerializeUncompressed()
		xs[i], ys[i] = [32]byte(xy[1:33]), [32]byte(xy[33:65])
	}
	b.Run("curve", func(b *testing.B) {
		for i := 0; b.Loop(); i++ { // the split too, as gnark's makes it each time
			NewMultiplier(k).MulCompressed(&xs[i%64], &ys[i%64])
		}
	})
	b.Run("gnark", func(b *testing.B) {
		kb := k.Bytes()
		s := new(big.Int).SetBytes(kb[:])
		for i := 0; b.Loop(); i++ {
			var pa, r secp256k1.G1Affine
			pa.X.SetBytes(xs[i%64][:])
			pa.Y.SetBytes(ys[i%64][:])
			r.ScalarMultiplication(&pa, s)
		}
	})
}

// FuzzSums compares a signature check, a revocation key and a
// multiplication with decred's and lnd's on fuzzed keys and hashes.
func FuzzSums(f *testing.F) {
	f.Add([]byte{1}, []byte{2}, []byte{3}, []byte("m"))
	f.Add(bytes.Repeat([]byte{0xff}, 32), []byte{1}, bytes.Repeat([]byte{0xfe}, 32), []byte{})
	f.Fuzz(func(t *testing.T, a, b, k, msg []byte) {
		ka, _ := btcec.PrivKeyFromBytes(a)
		kb, _ := btcec.PrivKeyFromBytes(b)
		var s btcec.ModNScalar
		if len(k) > 32 || s.SetByteSlice(k) || ka.Key.IsZero() || kb.Key.IsZero() {
			return
		}
		pa, pb := ka.PubKey(), kb.PubKey()

		xy := pb.SerializeUncompressed()
		got, ok := NewMultiplier(&s).MulCompressed((*[32]byte)(xy[1:33]), (*[32]byte)(xy[33:65]))
		want := decredMul(&s, pb)
		if ok != (want != nil) || ok && got != [33]byte(want.SerializeCompressed()) {
			t.Fatalf("k·P differs from decred's for k %x", k)
		}

		hash := sha256.Sum256(msg)
		sig := ecdsa.Sign(ka, hash[:])
		r, sv := sig.R(), sig.S()
		other := sha256.Sum256(append(msg, 0))
		for _, c := range []struct {
			pub  *btcec.PublicKey
			hash []byte
		}{{pa, hash[:]}, {pb, hash[:]}, {pa, other[:]}} {
			if VerifyECDSA(c.pub, c.hash, &r, &sv) != sig.Verify(c.hash, c.pub) {
				t.Fatal("VerifyECDSA decides otherwise than decred")
			}
		}

		rev, err := RevocationPubKey(pa, pb)
		if err != nil || !rev.IsEqual(input.DeriveRevocationPubkey(pa, pb)) {
			t.Fatalf("RevocationPubKey differs from lnd's (%v)", err)
		}
	})
}

// A Multiplier gives what decred gives, from several goroutines at once,
// prints no digit, and gives nothing once wiped.
func TestMultiplier(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := drawKey(t, "scalar").Key
		m := NewMultiplier(&k)
		var points [4]*btcec.PublicKey
		for i := range points {
			points[i] = drawKey(t, "point").PubKey()
		}
		errs := make(chan string, len(points))
		for _, p := range points {
			go func() {
				xy := p.SerializeUncompressed()
				got, ok := m.MulCompressed((*[32]byte)(xy[1:33]), (*[32]byte)(xy[33:65]))
				if !ok || got != [33]byte(decredMul(&k, p).SerializeCompressed()) {
					errs <- "differs from decred's"
					return
				}
				errs <- ""
			}()
		}
		for range points {
			if e := <-errs; e != "" {
				t.Fatal(e)
			}
		}
		for _, shown := range []string{fmt.Sprint(m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m)} {
			if shown != "curve.Multiplier{redacted}" {
				t.Fatalf("a Multiplier prints as %q", shown)
			}
		}
		m.Wipe()
		xy := points[0].SerializeUncompressed()
		if _, ok := m.MulCompressed((*[32]byte)(xy[1:33]), (*[32]byte)(xy[33:65])); ok {
			t.Fatal("a wiped Multiplier still multiplies")
		}
	})
}
