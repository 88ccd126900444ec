package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Errors returned by this package.  Wrap-aware: test with errors.Is.
var (
	// ErrSecretLength: the secret is neither 32 nor 64 bytes.
	ErrSecretLength = errors.New("keys: the secret must be 32 bytes (hsm_secret) or 64 bytes (BIP39 seed)")

	// ErrWiped: the Ring was wiped and can no longer derive or sign.
	ErrWiped = errors.New("keys: the key ring has been wiped")

	// ErrInvalidKey: a derivation or tweak gave an invalid private or
	// public key (zero, ≥ n, or the point at infinity); libsecp256k1 would
	// have refused it too.
	ErrInvalidKey = errors.New("keys: derivation produced an invalid key")

	// ErrIndexTooGreat: a BIP32 wallet index is hardened (≥ 2^31); hsmd
	// treats this as a fatal master error ("Index %u too great").
	ErrIndexTooGreat = errors.New("keys: BIP32 index too great (must be below 2^31)")

	// ErrCommitmentIndex: a per-commitment index is ≥ 2^48.
	ErrCommitmentIndex = errors.New("keys: per-commitment index must be below 2^48")

	// ErrNoBIP86: BIP86 keys exist only for 64-byte (mnemonic) secrets.
	ErrNoBIP86 = errors.New("keys: BIP86 derivation requires the full 64-byte BIP32 seed (not available with a 32-byte hsm_secret)")

	// ErrKeyVersion: the BIP32 key versions are not ones hsmd accepts.
	ErrKeyVersion = errors.New("keys: unsupported BIP32 key version (want xpub/xprv 0488b21e/0488ade4 or tpub/tprv 043587cf/04358394)")

	// ErrUnknownKey: a keychain locator names no key this ring derives.
	ErrUnknownKey = errors.New("keys: no such key in this key ring")

	// ErrNotSupported: the operation has no CLN counterpart.
	ErrNotSupported = errors.New("keys: operation not supported by a CLN-derived key ring")
)

const redacted = "REDACTED"

// Secret is 32 bytes of secret material (a derived secret, a per-commitment
// secret, a shachain seed).  It never formats its value: use s[:] to put it on
// the wire.
type Secret [32]byte

// String implements fmt.Stringer without revealing the secret.
func (Secret) String() string { return "keys.Secret(" + redacted + ")" }

// GoString implements fmt.GoStringer without revealing the secret.
func (Secret) GoString() string { return "keys.Secret{" + redacted + "}" }

// Format implements fmt.Formatter: every verb prints the placeholder.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// Wipe zeroes the secret.
func (s *Secret) Wipe() { clear(s[:]) }

// Wipe zeroes b.  Use it on the caller's copy of the seed once New returned.
func Wipe(b []byte) { clear(b) }

// PrivateKey is a valid secp256k1 private key (1 ≤ k < n) that never formats
// its value.  The zero value is not valid; get one from a Ring, from
// ChannelKeys, from a tweak, or from PrivKeyFromBytes.
type PrivateKey struct {
	k btcec.PrivateKey
	// pub is k·G when the key came with its public key (a Ring's or a
	// channel's base keys, a wallet key whose public key was cached), so
	// that PubKey costs no point multiplication; nil otherwise. It is set
	// only where the key is made, never changed afterwards.
	pub *btcec.PublicKey
}

// PrivKeyFromBytes parses a 32-byte big-endian private key, refusing 0 and
// values ≥ n (as secp256k1_ec_seckey_verify does).
func PrivKeyFromBytes(b []byte) (*PrivateKey, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("keys: private key must be 32 bytes, got %d", len(b))
	}
	var p PrivateKey
	if overflow := p.k.Key.SetByteSlice(b); overflow || p.k.Key.IsZero() {
		p.k.Key.Zero()
		return nil, ErrInvalidKey
	}
	return &p, nil
}

// privKeyFromArray is PrivKeyFromBytes for internal arrays.
func privKeyFromArray(b *[32]byte) (*PrivateKey, error) { return PrivKeyFromBytes(b[:]) }

// PubKey returns k·G.
func (p *PrivateKey) PubKey() *btcec.PublicKey {
	if p.pub != nil {
		return p.pub
	}
	return pubKeyOf(&p.k.Key)
}

// BTCEC returns a copy as a btcec key, for lnd APIs that take one.  The copy
// is the caller's to wipe (Zero()).
func (p *PrivateKey) BTCEC() *btcec.PrivateKey {
	c := p.k
	return &c
}

// Wipe zeroes the key; it is unusable afterwards.
func (p *PrivateKey) Wipe() {
	p.k.Key.Zero()
	p.pub = nil
}

// String implements fmt.Stringer without revealing the key.
func (PrivateKey) String() string { return "keys.PrivateKey(" + redacted + ")" }

// GoString implements fmt.GoStringer without revealing the key.
func (PrivateKey) GoString() string { return "keys.PrivateKey{" + redacted + "}" }

// Format implements fmt.Formatter: every verb prints the placeholder.
func (p PrivateKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, p.String()) }

// hkdfSHA256 is ccan's hkdf_sha256(): RFC 5869 with SHA-256.  A nil or empty
// salt is the RFC's default (a block of zeros), as in ccan.
func hkdfSHA256(out []byte, salt, ikm []byte, info string) {
	k, err := hkdf.Key(sha256.New, ikm, salt, info, len(out))
	if err != nil {
		// Only possible for len(out) > 255*32, which no caller asks for.
		panic("keys: hkdf: " + err.Error())
	}
	copy(out, k)
	clear(k)
}

// le32 is a u32 as CLN lays it out in memory on every platform it supports.
func le32(v uint32) []byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return b[:]
}
