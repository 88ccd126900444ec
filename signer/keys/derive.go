package keys

import (
	"crypto/sha256"
	"fmt"
	"gl-signerd/signer/curve"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// BOLT 3 "Key Derivation", as common/key_derive.c computes it.  Every
// operation fails (ErrInvalidKey) exactly where the libsecp256k1 call CLN
// makes would fail: a tweak ≥ n, a zero multiplier, a zero private key or a
// point at infinity.

// DeriveSimplePubKey is derive_simple_key():
//
//	pubkey = basepoint + SHA256(per_commitment_point ‖ basepoint)·G
//
// for localpubkey, remotepubkey (pre-static_remotekey), the htlc pubkeys and
// the delayed payment pubkeys.
func DeriveSimplePubKey(basepoint, perCommitmentPoint *btcec.PublicKey) (*btcec.PublicKey, error) {
	k, err := curve.SimplePubKey(basepoint, perCommitmentPoint)
	if err != nil {
		return nil, ErrInvalidKey
	}
	return k, nil
}

// DeriveSimplePrivKey is derive_simple_privkey(): the private key of
// DeriveSimplePubKey(base.PubKey(), perCommitmentPoint).
func DeriveSimplePrivKey(base *PrivateKey, perCommitmentPoint *btcec.PublicKey) (*PrivateKey, error) {
	basepoint := base.PubKey()
	t := sha256.Sum256(cat(perCommitmentPoint.SerializeCompressed(), basepoint.SerializeCompressed()))
	return base.TweakAdd(t)
}

// DeriveRevocationPubKey is derive_revocation_key():
//
//	revocationpubkey = revocation_basepoint · SHA256(revocation_basepoint ‖ per_commitment_point)
//	                 + per_commitment_point · SHA256(per_commitment_point ‖ revocation_basepoint)
func DeriveRevocationPubKey(revocationBasepoint, perCommitmentPoint *btcec.PublicKey) (*btcec.PublicKey, error) {
	k, err := curve.RevocationPubKey(revocationBasepoint, perCommitmentPoint)
	if err != nil {
		return nil, ErrInvalidKey
	}
	return k, nil
}

// DeriveRevocationPrivKey is derive_revocation_privkey(): the private key of
// DeriveRevocationPubKey(revocationBase.PubKey(), perCommitmentSecret·G),
//
//	revocationprivkey = revocation_basepoint_secret · SHA256(revocation_basepoint ‖ per_commitment_point)
//	                  + per_commitment_secret · SHA256(per_commitment_point ‖ revocation_basepoint)
func DeriveRevocationPrivKey(revocationBase *PrivateKey, perCommitmentSecret Secret) (*PrivateKey, error) {
	pcs, err := privKeyFromArray((*[32]byte)(&perCommitmentSecret))
	if err != nil {
		return nil, err
	}
	defer pcs.Wipe()
	b := revocationBase.PubKey().SerializeCompressed()
	pc := pcs.PubKey().SerializeCompressed()
	t1 := sha256.Sum256(cat(b, pc))
	t2 := sha256.Sum256(cat(pc, b))

	var s1, s2 btcec.ModNScalar
	if s1.SetBytes(&t1) != 0 || s1.IsZero() || s2.SetBytes(&t2) != 0 || s2.IsZero() {
		return nil, ErrInvalidKey
	}
	var out PrivateKey
	var part2 btcec.ModNScalar
	out.k.Key.Mul2(&revocationBase.k.Key, &s1)
	part2.Mul2(&pcs.k.Key, &s2)
	out.k.Key.Add(&part2)
	part2.Zero()
	if out.k.Key.IsZero() {
		return nil, ErrInvalidKey
	}
	return &out, nil
}

// TweakAdd returns p + t (mod n), as secp256k1_ec_seckey_tweak_add: it fails
// if t ≥ n or the result is zero.
func (p *PrivateKey) TweakAdd(t [32]byte) (*PrivateKey, error) {
	var s btcec.ModNScalar
	if s.SetBytes(&t) != 0 {
		return nil, ErrInvalidKey
	}
	var out PrivateKey
	out.k.Key.Set(&p.k.Key).Add(&s)
	s.Zero()
	if out.k.Key.IsZero() {
		return nil, ErrInvalidKey
	}
	return &out, nil
}

// PubKeyTweakAdd returns P + t·G, as secp256k1_ec_pubkey_tweak_add: it fails
// if t ≥ n or the result is the point at infinity.
func PubKeyTweakAdd(p *btcec.PublicKey, t [32]byte) (*btcec.PublicKey, error) {
	return pubKeyTweakAdd(p, &t)
}

func pubKeyTweakAdd(p *btcec.PublicKey, t *[32]byte) (*btcec.PublicKey, error) {
	var s btcec.ModNScalar
	if s.SetBytes(t) != 0 {
		return nil, ErrInvalidKey
	}
	var pj, tg, sum btcec.JacobianPoint
	p.AsJacobian(&pj)
	curve.ScalarBaseMult(&s, &tg)
	btcec.AddNonConst(&pj, &tg, &sum)
	return affinePubKey(&sum)
}

func affinePubKey(j *btcec.JacobianPoint) (*btcec.PublicKey, error) {
	if (j.X.IsZero() && j.Y.IsZero()) || j.Z.IsZero() {
		return nil, ErrInvalidKey
	}
	toAffine(j)
	return btcec.NewPublicKey(&j.X, &j.Y), nil
}

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TaprootTweak is BIP341's key tweak of an internal private key, as
// libwally's wally_ec_private_key_bip341_tweak (used by wally_psbt_sign for
// the wallet's P2TR inputs): negate the key if its point has an odd y, then
// add TaggedHash("TapTweak", x(P) ‖ merkleRoot).  merkleRoot is empty for a
// key-path-only output (BIP86) or 32 bytes.
func (p *PrivateKey) TaprootTweak(merkleRoot []byte) (*PrivateKey, error) {
	if len(merkleRoot) != 0 && len(merkleRoot) != 32 {
		return nil, fmt.Errorf("keys: taproot merkle root must be empty or 32 bytes, got %d", len(merkleRoot))
	}
	pub := p.PubKey()
	k := PrivateKey{k: p.k} // its pub would be wrong after the negation
	defer k.Wipe()
	if pub.SerializeCompressed()[0] == 0x03 {
		k.k.Key.Negate()
	}
	t := chainhash.TaggedHash(chainhash.TagTapTweak, schnorr.SerializePubKey(pub), merkleRoot)
	return k.TweakAdd(*t)
}
