package keys

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"gl-signerd/signer/curve"
)

// This file reproduces libsecp256k1's signing bit for bit:
//
//   - secp256k1_ecdsa_sign / _sign_recoverable with the default nonce function
//     (nonce_function_rfc6979): the HMAC-DRBG is seeded with key ‖ (msg mod n)
//     ‖ [32 bytes of extra data, only when given]; a candidate nonce that is
//     0 or ≥ n, or that gives r = 0 or s = 0, is skipped; s is normalised to
//     the low half and the recovery id flipped with it.
//   - secp256k1_schnorrsig_sign32 with aux_rand = NULL, which BIP340 treats
//     exactly as 32 zero bytes of aux randomness.
//
// btcec's ecdsa.Sign is RFC6979 without extra data, but it feeds the raw
// (unreduced) hash to the nonce function; we reduce it first as libsecp256k1
// does, and use decred's NonceRFC6979 (which btcec re-exports) for the DRBG.

// CompactSize is the length of a compact (r ‖ s) ECDSA signature.
const CompactSize = 64

// SignLowR signs a 32-byte digest as CLN's sign_hash() (bitcoin/signature.c)
// does for every transaction, gossip and channel_announcement signature: it
// grinds for a low R (first byte of the compact r below 0x80, so the DER
// form is at most 71 bytes).  The first attempt passes 32 zero bytes as extra
// entropy — not NULL, so it already differs from plain RFC6979 — and each
// further attempt increments a little-endian u32 in the first four bytes.
func (p *PrivateKey) SignLowR(hash [32]byte) *ecdsa.Signature {
	var extra [32]byte
	for counter := uint32(0); ; counter++ {
		binary.LittleEndian.PutUint32(extra[:4], counter)
		sig, _ := p.signECDSA(&hash, extra[:])
		if hasLowR(sig) {
			return sig
		}
	}
}

// SignLowRWally signs as libwally's wally_ec_sig_from_bytes with
// EC_FLAG_GRIND_R, which CLN uses through wally_psbt_sign for the wallet's own
// PSBT inputs (sign_withdrawal and friends): the first attempt is plain
// RFC6979 (NULL extra data), then the extra data is a little-endian u32
// counter starting at 1.  (Bitcoin Core grinds the same way.)
func (p *PrivateKey) SignLowRWally(hash [32]byte) *ecdsa.Signature {
	sig, _ := p.signECDSA(&hash, nil)
	var extra [32]byte
	for counter := uint32(1); !hasLowR(sig); counter++ {
		binary.LittleEndian.PutUint32(extra[:4], counter)
		sig, _ = p.signECDSA(&hash, extra[:])
	}
	return sig
}

// SignRFC6979 signs as secp256k1_ecdsa_sign with the default nonce function
// and no extra data: what CLN's sign_hash does with dev_no_signature_grind,
// what handle_sign_option_will_fund_offer does, and how the BOLT 3 test
// vectors are signed.
func (p *PrivateKey) SignRFC6979(hash [32]byte) *ecdsa.Signature {
	sig, _ := p.signECDSA(&hash, nil)
	return sig
}

// SignRecoverable signs as secp256k1_ecdsa_sign_recoverable with no extra
// data (handle_sign_message, handle_sign_invoice, handle_bip137_sign_message)
// and returns the 65 bytes CLN puts on the wire: compact r ‖ s, then the
// recovery id 0..3 as one byte (not 27+recid).
func (p *PrivateKey) SignRecoverable(hash [32]byte) [65]byte {
	sig, recid := p.signECDSA(&hash, nil)
	var out [65]byte
	c := CompactSig(sig)
	copy(out[:64], c[:])
	out[64] = recid
	return out
}

// SignSchnorr signs a 32-byte digest as secp256k1_schnorrsig_sign32 with a
// NULL aux_rand (CLN's handle_sign_bolt12 / _2), returning the 64-byte
// BIP340 signature.
//
// This is BIP340's signing algorithm written out rather than btcec's
// schnorr.Sign, which makes the public key again on every call (a second
// multiplication by G; the node key's is kept), converts points with
// decred's slow inversion, and refuses a challenge hash ≥ n where BIP340
// and libsecp256k1 reduce it. libsecp256k1 does not verify its own
// signature; TestSignSchnorrVerifies checks ours against BIP340's vectors,
// btcec and schnorr.Verify.
func (p *PrivateKey) SignSchnorr(hash [32]byte) ([64]byte, error) {
	var out [64]byte
	d := p.k.Key
	defer d.Zero()
	if d.IsZero() {
		return out, fmt.Errorf("keys: schnorr sign: %w", ErrInvalidKey)
	}
	pub := p.PubKey().SerializeCompressed()
	if pub[0] == 0x03 { // BIP340 signs with the key whose point has an even Y
		d.Negate()
	}
	xOnly := pub[1:]

	// k' = H_nonce((d ⊕ H_aux(aux)) ‖ P.x ‖ m) mod n, aux = 32 zero bytes.
	db := d.Bytes()
	var masked [32]byte
	for i := range masked {
		masked[i] = db[i] ^ bip340ZeroAux[i]
	}
	clear(db[:])
	nonce := chainhash.TaggedHash(chainhash.TagBIP0340Nonce, masked[:], xOnly, hash[:])
	clear(masked[:])
	var k btcec.ModNScalar
	k.SetBytes((*[32]byte)(nonce))
	clear(nonce[:])
	defer k.Zero()
	if k.IsZero() {
		return out, fmt.Errorf("keys: schnorr sign: the nonce is zero")
	}

	var R btcec.JacobianPoint
	curve.ScalarBaseMult(&k, &R)
	toAffine(&R)
	if R.Y.IsOdd() {
		k.Negate()
	}
	rx := R.X.Bytes()

	// s = k + e·d, e = H_challenge(R.x ‖ P.x ‖ m) mod n.
	challenge := chainhash.TaggedHash(chainhash.TagBIP0340Challenge, rx[:], xOnly, hash[:])
	var e, s btcec.ModNScalar
	e.SetBytes((*[32]byte)(challenge))
	s.Mul2(&e, &d).Add(&k)
	copy(out[:32], rx[:])
	s.PutBytesUnchecked(out[32:])
	s.Zero()
	return out, nil
}

// bip340ZeroAux is H_aux of 32 zero bytes, which masks the key in BIP340's
// nonce when the aux randomness is NULL (libsecp256k1) or all zero.
var bip340ZeroAux = *chainhash.TaggedHash(chainhash.TagBIP0340Aux, make([]byte, 32))

// CompactSig returns the 64-byte compact form r ‖ s, as CLN's
// towire_secp256k1_ecdsa_signature writes it.
func CompactSig(sig *ecdsa.Signature) [CompactSize]byte {
	var out [CompactSize]byte
	r, s := sig.R(), sig.S()
	r.PutBytesUnchecked(out[:32])
	s.PutBytesUnchecked(out[32:])
	return out
}

// ParseCompactSig parses a 64-byte compact signature, refusing r or s ≥ n
// as secp256k1_ecdsa_signature_parse_compact does.
func ParseCompactSig(b []byte) (*ecdsa.Signature, error) {
	if len(b) != CompactSize {
		return nil, fmt.Errorf("keys: compact signature must be 64 bytes, got %d", len(b))
	}
	var r, s btcec.ModNScalar
	if r.SetByteSlice(b[:32]) || s.SetByteSlice(b[32:]) {
		return nil, fmt.Errorf("keys: compact signature component overflows the group order")
	}
	return ecdsa.NewSignature(&r, &s), nil
}

func hasLowR(sig *ecdsa.Signature) bool {
	r := sig.R()
	var b [32]byte
	r.PutBytesUnchecked(b[:])
	return b[0] < 0x80
}

// signECDSA is secp256k1_ecdsa_sign_recoverable with nonce_function_rfc6979
// and the given extra data (nil, or 32 bytes).  It returns the low-S
// signature and its recovery id.
func (p *PrivateKey) signECDSA(hash *[32]byte, extra []byte) (*ecdsa.Signature, byte) {
	// e = hash mod n; libsecp256k1 feeds this reduced value to the nonce
	// function too.
	var e btcec.ModNScalar
	e.SetBytes(hash)
	eb := e.Bytes()
	db := p.k.Key.Bytes()
	defer clear(db[:])

	for iteration := uint32(0); ; iteration++ {
		// NonceRFC6979 returns the iteration-th valid candidate (0 < k <
		// n), exactly the sequence libsecp256k1 walks with its counter.
		k := btcec.NonceRFC6979(db[:], eb[:], extra, nil, iteration)
		sig, recid, ok := signWithNonce(&p.k.Key, k, &e)
		k.Zero()
		if ok {
			return sig, recid
		}
	}
}

// signWithNonce is secp256k1_ecdsa_sig_sign.
func signWithNonce(d, k, e *btcec.ModNScalar) (*ecdsa.Signature, byte, bool) {
	var R btcec.JacobianPoint
	curve.ScalarBaseMult(k, &R)
	toAffine(&R)

	// r = R.x mod n, remembering whether R.x ≥ n for the recovery id.
	var r btcec.ModNScalar
	xb := R.X.Bytes()
	overflow := r.SetBytes(xb)
	if r.IsZero() {
		return nil, 0, false
	}
	recid := byte(overflow<<1) | byte(R.Y.IsOddBit())

	// s = k⁻¹ (e + r·d)
	var s btcec.ModNScalar
	kinv := blindedScalarInverse(k)
	s.Mul2(&r, d).Add(e).Mul(&kinv)
	kinv.Zero()
	if s.IsZero() {
		return nil, 0, false
	}
	if s.IsOverHalfOrder() {
		s.Negate()
		recid ^= 1
	}
	return ecdsa.NewSignature(&r, &s), recid, true
}

// sha256d is Bitcoin's double SHA-256.
func sha256d(parts ...[]byte) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	first := h.Sum(nil)
	return sha256.Sum256(first)
}
