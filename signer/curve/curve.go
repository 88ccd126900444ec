// Package curve is the secp256k1 arithmetic on public points that a
// validating signer repeats on every commitment: BOLT 3's public key
// derivations and ECDSA verification of the peer's signatures.
//
// A sum of multiples of arbitrary points (a revocation key, the two
// multiplications of a signature check) is made with the GLV endomorphism,
// width-w NAF digits and one shared chain of doublings (glv.go), in a
// field arithmetic that uses secp256k1's prime (field.go, point.go); a
// multiplication of the generator alone adds rows of a precomputed table,
// one per base-256 digit, as decred's does (base.go). Secrets come in at
// two places: ScalarBaseMult (every nonce and private key of package keys,
// with decred's timing, no worse; see base.go) and Multiplier (the node
// key of keys.Ring's ECDH; variable-time, see there). A Deriver remembers the keys it
// derived in a small bounded table: an engine derives a commitment's keys
// more than once (the check of the peer's HTLC signatures, then the
// rebuild of the commitment).
package curve

import (
	"crypto/sha256"
	"errors"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// ErrInvalidKey is a derivation whose result is not a valid public key
// (not reachable with honest keys: the odds are those of a hash collision).
var ErrInvalidKey = errors.New("curve: the derived key is the point at infinity or the tweak is out of range")

func toPublicKey(j *jacobian) (*btcec.PublicKey, error) {
	a, ok := j.toAffine()
	if !ok {
		return nil, ErrInvalidKey
	}
	return a.publicKey(), nil
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
	a, ok := r2.toAffine()
	if !ok {
		return false
	}
	xb := a.x.bytes()
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
		sum.addAffine(&a)
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

// TaprootOutputKey is BIP341's output key of a key-path-only output
// (BIP86), as txscript.ComputeTaprootKeyNoScript computes it: Q = P +
// TaggedHash("TapTweak", x(P))·G, P the internal key lifted to an even y,
// the tweak reduced mod n. It uses this package's multiplication by G:
// txscript's uses decred's, whose table (about a megabyte) would be built
// on the first check of a wallet output and kept for good.
func TaprootOutputKey(internal *btcec.PublicKey) (*btcec.PublicKey, error) {
	if internal == nil {
		return nil, ErrInvalidKey
	}
	p := affineOf(internal)
	if p.y.isOdd() {
		var y fe
		p.y = *y.neg(&p.y)
	}
	x := p.x.bytes()
	t := chainhash.TaggedHash(chainhash.TagTapTweak, x[:])
	var s btcec.ModNScalar
	s.SetBytes((*[32]byte)(t))
	q := mulBase(&s)
	q.addAffine(&p)
	return toPublicKey(&q)
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
	a, ok := j.toAffine()
	if !ok {
		return false
	}
	return a.compressed() == point
}
