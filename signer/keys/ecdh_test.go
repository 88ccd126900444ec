package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/signer/curve"
)

// ecdhDcrd is ECDH through btcec's (decred's) variable-base
// multiplication, the way it was computed before: the reference the test
// and the benchmark hold ECDH to.
func ecdhDcrd(p *PrivateKey, pub *btcec.PublicKey) [32]byte {
	var pj, s btcec.JacobianPoint
	pub.AsJacobian(&pj)
	btcec.ScalarMultNonConst(&p.k.Key, &pj, &s)
	s.ToAffine()
	return sha256.Sum256(btcec.NewPublicKey(&s.X, &s.Y).SerializeCompressed())
}

// ECDH agrees with decred's multiplication for edge scalars (1, 2, n−1,
// n−2, small and high ones, scalars the endomorphism splits unevenly) and
// 200 derived keys, each against several points.
func TestECDHMatchesDecred(t *testing.T) {
	n := btcec.S256().N
	scalar := func(hexOrInt any) *PrivateKey {
		var b [32]byte
		switch v := hexOrInt.(type) {
		case int64:
			binary.BigEndian.PutUint64(b[24:], uint64(v))
		case []byte:
			copy(b[32-len(v):], v)
		}
		k, err := PrivKeyFromBytes(b[:])
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	sub := func(d int64) []byte {
		return new(big.Int).Sub(n, big.NewInt(d)).Bytes()
	}
	keys := []*PrivateKey{scalar(int64(1)), scalar(int64(2)), scalar(int64(3)), scalar(int64(1 << 40)),
		scalar(sub(1)), scalar(sub(2)), scalar(new(big.Int).Rsh(n, 1).Bytes()), scalar(new(big.Int).Rsh(n, 128).Bytes())}
	for i := range 200 {
		keys = append(keys, testKey(t, 1000+i))
	}
	points := []*btcec.PublicKey{scalar(int64(1)).PubKey(), scalar(sub(1)).PubKey()}
	for i := range 6 {
		points = append(points, testKey(t, 5000+i).PubKey())
	}
	for i, k := range keys {
		for j, p := range points {
			if got, want := ecdhOf(k, p), ecdhDcrd(k, p); got != want {
				t.Errorf("key %d, point %d: ECDH %x, decred's %x", i, j, got, want)
			}
		}
	}
}

// BenchmarkECDH alternates ECDH and the decred multiplication it replaced
// on the same keys and points (ratios only mean something within a run on
// a shared machine).
func BenchmarkECDH(b *testing.B) {
	k := testKey(b, 1)
	var points []*btcec.PublicKey
	for i := range 64 {
		points = append(points, testKey(b, 100+i).PubKey())
	}
	b.Run("curve", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			ecdhOf(k, points[i%len(points)])
		}
	})
	b.Run("decred", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			ecdhDcrd(k, points[i%len(points)])
		}
	})
}

// ECDHCompressed equals ECDH of the parsed key for both parities, and
// refuses what btcec.ParsePubKey refuses: a bad prefix, x ≥ p, an x with
// no point.
func TestECDHCompressed(t *testing.T) {
	k := testKey(t, 7)
	for i := range 64 {
		pub := testKey(t, 300+i).PubKey()
		var c [33]byte
		copy(c[:], pub.SerializeCompressed())
		got, err := ecdhCompressedOf(k, c)
		if err != nil || got != ecdhOf(k, pub) {
			t.Fatalf("point %x: %x, %v; want %x", c, got, err, ecdhOf(k, pub))
		}
	}
	valid := [33]byte(testKey(t, 1).PubKey().SerializeCompressed())
	notOnCurve := valid
	for {
		notOnCurve[32]++
		if _, err := btcec.ParsePubKey(notOnCurve[:]); err != nil {
			break
		}
	}
	var xTooBig [33]byte
	xTooBig[0] = 2
	for i := 1; i < 33; i++ {
		xTooBig[i] = 0xff
	}
	badPrefix := valid
	badPrefix[0] = 4
	for name, p := range map[string][33]byte{"not on the curve": notOnCurve, "x ≥ p": xTooBig, "prefix 04": badPrefix, "zero": {}} {
		if _, err := btcec.ParsePubKey(p[:]); err == nil {
			t.Fatalf("%s: btcec parses %x", name, p)
		}
		if _, err := ecdhCompressedOf(k, p); err != ErrPoint {
			t.Errorf("%s: %v; want ErrPoint", name, err)
		}
	}
}

// FuzzECDHCompressed: for any 33 bytes, ECDHCompressed succeeds exactly
// when btcec.ParsePubKey does, and then equals ECDH of the parsed key and
// decred's multiplication; it never panics.
func FuzzECDHCompressed(f *testing.F) {
	f.Add(testKey(f, 1).PubKey().SerializeCompressed(), []byte{1})
	f.Add(make([]byte, 33), []byte{2})
	f.Add(append([]byte{3}, bytes.Repeat([]byte{0xff}, 32)...), []byte{3})
	f.Fuzz(func(t *testing.T, point, key []byte) {
		if len(point) != 33 {
			return
		}
		seed := sha256.Sum256(key)
		k, err := PrivKeyFromBytes(seed[:])
		if err != nil {
			return
		}
		got, err := ecdhCompressedOf(k, [33]byte(point))
		pub, perr := btcec.ParsePubKey(point)
		if (err == nil) != (perr == nil) {
			t.Fatalf("point %x: ECDHCompressed error %v, ParsePubKey error %v", point, err, perr)
		}
		if err == nil && (got != ecdhOf(k, pub) || got != ecdhDcrd(k, pub)) {
			t.Fatalf("point %x: %x; ECDH of the parsed key %x, decred's %x", point, got, ecdhOf(k, pub), ecdhDcrd(k, pub))
		}
	})
}

// The Ring's ECDH, through the node key split once, equals the node key's
// own ECDH for parsed and compressed points, and wiping the Ring clears
// the split digits (its multiplier then multiplies by 0).
func TestRingECDHMatchesNodeKey(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	node := r.node
	for i := range 32 {
		pub := testKey(t, 500+i).PubKey()
		want := ecdhOf(&node, pub)
		got, err := r.ECDHNode(pub)
		if err != nil || got != want {
			t.Fatalf("point %d: ECDHNode %x, %v; the node key's ECDH %x", i, got, err, want)
		}
		got, err = r.ECDHNodeCompressed([33]byte(pub.SerializeCompressed()))
		if err != nil || got != want {
			t.Fatalf("point %d: ECDHNodeCompressed %x, %v; the node key's ECDH %x", i, got, err, want)
		}
	}
	if _, err := r.ECDHNodeCompressed([33]byte{}); err != ErrPoint {
		t.Errorf("ECDHNodeCompressed of zeros: %v; want ErrPoint", err)
	}
	m := r.nodeECDH
	r.Wipe()
	xy := testKey(t, 1).PubKey().SerializeUncompressed()
	if _, ok := m.MulCompressed((*[32]byte)(xy[1:33]), (*[32]byte)(xy[33:65])); ok {
		t.Error("the node key's multiplier still multiplies after Wipe")
	}
}

// ecdhOf is ECDH of k and pub as the Ring makes it with the node key.
func ecdhOf(k *PrivateKey, pub *btcec.PublicKey) [32]byte {
	m := curve.NewMultiplier(&k.k.Key)
	defer m.Wipe()
	xy := pub.SerializeUncompressed()
	shared, _ := ecdhWith(m, (*[32]byte)(xy[1:33]), (*[32]byte)(xy[33:65])) // a parsed key is on the curve
	return shared
}

// ecdhCompressedOf is ecdhOf of a compressed public key, decompressed as
// the Ring does.
func ecdhCompressedOf(k *PrivateKey, pub [33]byte) ([32]byte, error) {
	x, y, err := decompress(pub)
	if err != nil {
		return [32]byte{}, err
	}
	m := curve.NewMultiplier(&k.k.Key)
	defer m.Wipe()
	return ecdhWith(m, &x, &y)
}
