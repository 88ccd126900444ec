// Package curve is the secp256k1 arithmetic on public points that a
// validating signer repeats on every commitment: BOLT 3's public key
// derivations and ECDSA verification of the peer's signatures.
//
// A sum of multiples of arbitrary points (a revocation key, the two
// multiplications of a signature check) is made in gnark-crypto's field
// arithmetic (4×64-bit limbs) with the GLV endomorphism, width-w NAF digits
// and one shared chain of doublings (glv.go); a multiplication of the
// generator alone keeps decred's precomputed tables, faster than either. Nothing here takes a secret, so
// nothing here needs to be constant-time. A Deriver remembers the keys it
// derived in a small bounded table: an engine derives a commitment's keys
// more than once (the check of the peer's HTLC signatures, then the
// rebuild of the commitment).
package curve

import (
	"crypto/sha256"
	"errors"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/consensys/gnark-crypto/ecc/secp256k1"
)

// ErrInvalidKey is a derivation whose result is not a valid public key
// (not reachable with honest keys: the odds are those of a hash collision).
var ErrInvalidKey = errors.New("curve: the derived key is the point at infinity or the tweak is out of range")

// The sums are taken in gnark-crypto's Jacobian coordinates, and a result
// is made affine there: its field inversion is several times as fast as
// decred's (an exponentiation).

func affineOf(p *btcec.PublicKey) secp256k1.G1Affine {
	var a secp256k1.G1Affine
	xy := p.SerializeUncompressed()
	a.X.SetBytes(xy[1:33])
	a.Y.SetBytes(xy[33:65])
	return a
}

// mulPoint returns k·p.
func mulPoint(k *btcec.ModNScalar, p *btcec.PublicKey) secp256k1.G1Jac {
	a := affineOf(p)
	return sum(pointTerms(make([]term, 0, 2), k, &a))
}

// mulBase returns k·G, by decred's precomputed tables.
func mulBase(k *btcec.ModNScalar) secp256k1.G1Jac {
	var d btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(k, &d)
	var j secp256k1.G1Jac
	if (d.X.IsZero() && d.Y.IsZero()) || d.Z.IsZero() {
		j.X.SetOne()
		j.Y.SetOne() // gnark's infinity: (1, 1, 0)
		return j
	}
	// Both write (X, Y, Z) for the point (X/Z², Y/Z³).
	d.X.Normalize()
	d.Y.Normalize()
	d.Z.Normalize()
	x, y, z := d.X.Bytes(), d.Y.Bytes(), d.Z.Bytes()
	j.X.SetBytes(x[:])
	j.Y.SetBytes(y[:])
	j.Z.SetBytes(z[:])
	return j
}

// affine returns j in affine coordinates, or false for infinity.
func affine(j *secp256k1.G1Jac) (secp256k1.G1Affine, bool) {
	var a secp256k1.G1Affine
	if j.Z.IsZero() {
		return a, false
	}
	a.FromJacobian(j)
	return a, true
}

func toPublicKey(j *secp256k1.G1Jac) (*btcec.PublicKey, error) {
	a, ok := affine(j)
	if !ok {
		return nil, ErrInvalidKey
	}
	xb, yb := a.X.Bytes(), a.Y.Bytes()
	var x, y btcec.FieldVal
	x.SetBytes(&xb)
	y.SetBytes(&yb)
	return btcec.NewPublicKey(&x, &y), nil
}

// VerifyECDSA reports whether (r, s) is a valid ECDSA signature of hash by
// pub, as decred's Signature.Verify decides (either S accepted): with
// w = s⁻¹, the x coordinate of (hash·w)·G + (r·w)·pub, reduced mod n, is r.
func VerifyECDSA(pub *btcec.PublicKey, hash []byte, r, s *btcec.ModNScalar) bool {
	if pub == nil || r.IsZero() || s.IsZero() {
		return false
	}
	var e btcec.ModNScalar
	e.SetByteSlice(hash)
	var w, u1, u2 btcec.ModNScalar
	w.InverseValNonConst(s)
	u1.Mul2(&e, &w)
	u2.Mul2(r, &w)
	p := affineOf(pub)
	r2 := sum(pointTerms(baseTerms(make([]term, 0, 4), &u1), &u2, &p))
	a, ok := affine(&r2)
	if !ok {
		return false
	}
	xb := a.X.Bytes()
	var x btcec.ModNScalar
	x.SetBytes(&xb)
	return x.Equals(r)
}

// SimplePubKey is BOLT 3's derivation of a payment, delayed-payment or
// HTLC key: basepoint + SHA256(per_commitment_point ‖ basepoint)·G.
func SimplePubKey(basepoint, point *btcec.PublicKey) (*btcec.PublicKey, error) {
	return (*Deriver)(nil).SimplePubKey(basepoint, point)
}

// RevocationPubKey is BOLT 3's revocationpubkey:
//
//	revocation_basepoint · SHA256(revocation_basepoint ‖ per_commitment_point)
//	+ per_commitment_point · SHA256(per_commitment_point ‖ revocation_basepoint)
func RevocationPubKey(basepoint, point *btcec.PublicKey) (*btcec.PublicKey, error) {
	return (*Deriver)(nil).RevocationPubKey(basepoint, point)
}

// Deriver derives keys as SimplePubKey and RevocationPubKey do and
// remembers the latest few thousand. A nil Deriver remembers nothing.
type Deriver struct{ memo *memo }

// NewDeriver returns a Deriver that remembers up to size keys (about 200
// bytes each).
func NewDeriver(size int) *Deriver { return &Deriver{memo: newMemo(size)} }

// SimplePubKey is SimplePubKey, remembered.
func (d *Deriver) SimplePubKey(basepoint, point *btcec.PublicKey) (*btcec.PublicKey, error) {
	return d.get(kindSimple, basepoint, point, func(b, p []byte) (*btcec.PublicKey, error) {
		t := sha256.Sum256(append(append(make([]byte, 0, 66), p...), b...))
		var s btcec.ModNScalar
		if s.SetBytes(&t) != 0 {
			return nil, ErrInvalidKey
		}
		sum := mulBase(&s)
		a := affineOf(basepoint)
		sum.AddMixed(&a)
		return toPublicKey(&sum)
	})
}

// RevocationPubKey is RevocationPubKey, remembered.
func (d *Deriver) RevocationPubKey(basepoint, point *btcec.PublicKey) (*btcec.PublicKey, error) {
	return d.get(kindRevocation, basepoint, point, func(b, p []byte) (*btcec.PublicKey, error) {
		h1 := sha256.Sum256(append(append(make([]byte, 0, 66), b...), p...))
		h2 := sha256.Sum256(append(append(make([]byte, 0, 66), p...), b...))
		var s1, s2 btcec.ModNScalar
		if s1.SetBytes(&h1) != 0 || s1.IsZero() || s2.SetBytes(&h2) != 0 || s2.IsZero() {
			return nil, ErrInvalidKey
		}
		a1, a2 := affineOf(basepoint), affineOf(point)
		r := sum(pointTerms(pointTerms(make([]term, 0, 4), &s1, &a1), &s2, &a2))
		return toPublicKey(&r)
	})
}

func (d *Deriver) get(kind derivation, base, point *btcec.PublicKey, derive func(base, point []byte) (*btcec.PublicKey, error)) (*btcec.PublicKey, error) {
	if base == nil || point == nil {
		return nil, ErrInvalidKey
	}
	if d == nil {
		return derive(base.SerializeCompressed(), point.SerializeCompressed())
	}
	return d.memo.get(kind, base, point, derive)
}

// IsPointOf reports whether point (compressed) is secret·G: a revealed
// per-commitment secret checked against the point the peer gave for it.
// A secret of zero or not below n has no point. The secret must be public
// already (the peer revealed it): nothing here is constant-time.
func IsPointOf(secret [32]byte, point [33]byte) bool {
	var s btcec.ModNScalar
	if s.SetBytes(&secret) != 0 || s.IsZero() {
		return false
	}
	j := mulBase(&s)
	a, ok := affine(&j)
	if !ok {
		return false
	}
	x, y := a.X.Bytes(), a.Y.Bytes()
	return point[0] == 0x02|y[31]&1 && [32]byte(point[1:]) == x
}
