package keys

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// extKey is a BIP32 extended private key: what libwally's ext_key holds
// of one. The Ring derives its few fixed keys (m/0/0, m/9735', BIP86's
// m/86'/0'/0') with it at start-up rather than with hdkeychain, whose every
// derivation computes the parent's public key with decred's multiplication
// by G, which builds a table of about a megabyte on first use and keeps it
// for the life of the process; here public keys come from signer/curve.
type extKey struct {
	key      PrivateKey // with its public key
	pub      [33]byte   // key's public key, compressed
	chain    [32]byte
	depth    uint8
	parentFP uint32 // the first 4 bytes of HASH160 of the parent's public key
	child    uint32 // this key's index under its parent
}

// maxBIP32Depth is the deepest a key may be: its depth is one byte.
const maxBIP32Depth = 255

// bip32SeedKey is the HMAC key of BIP32's master key generation.
var bip32SeedKey = []byte("Bitcoin seed")

// newMasterKey is BIP32's master key generation, as libwally's
// bip32_key_from_seed and hdkeychain.NewMaster: I = HMAC-SHA512("Bitcoin
// seed", seed), the key I[:32] and the chain code I[32:].
// hdkeychain.ErrUnusableSeed when I[:32] is 0 or not below the curve
// order, hdkeychain.ErrInvalidSeedLen for a seed outside 16–64 bytes.
func newMasterKey(seed []byte) (*extKey, error) {
	if len(seed) < hdkeychain.MinSeedBytes || len(seed) > hdkeychain.MaxSeedBytes {
		return nil, hdkeychain.ErrInvalidSeedLen
	}
	return newExtKey(bip32SeedKey, seed, nil)
}

// derive is BIP32's CKDpriv, as libwally's bip32_key_from_parent and
// hdkeychain's Derive: I = HMAC-SHA512(chain code, data), data the parent's
// public key ‖ index, or for a hardened index (≥ 2^31) 0 ‖ the parent's
// private key ‖ index; the child key is I[:32] + the parent's (mod n).
// hdkeychain.ErrInvalidChild when I[:32] is not below n or the sum is 0
// (BIP32: go on with the next index; CLN's hsmd fails, as this does), and
// hdkeychain.ErrDeriveBeyondMaxDepth for a key already at depth 255.
func (k *extKey) derive(index uint32) (*extKey, error) {
	if k.depth == maxBIP32Depth {
		return nil, hdkeychain.ErrDeriveBeyondMaxDepth
	}
	var data [1 + 32 + 4]byte
	defer clear(data[:])
	if index >= hdkeychain.HardenedKeyStart {
		k.key.k.Key.PutBytesUnchecked(data[1:33])
	} else {
		copy(data[:33], k.pub[:])
	}
	binary.BigEndian.PutUint32(data[33:], index)
	child, err := newExtKey(k.chain[:], data[:], k)
	if err != nil {
		return nil, fmt.Errorf("BIP32 child %d: %w", index, err)
	}
	child.child = index
	return child, nil
}

// newExtKey computes I = bip32HMAC(hmacKey, data) and the key I[:32] (plus
// parent's key) with chain code I[32:], under parent (nil: a master key).
func newExtKey(hmacKey, data []byte, parent *extKey) (*extKey, error) {
	i := bip32HMAC(hmacKey, data)
	defer clear(i[:])
	unusable := hdkeychain.ErrUnusableSeed
	if parent != nil {
		unusable = hdkeychain.ErrInvalidChild
	}
	k := &extKey{}
	s := &k.key.k.Key
	if overflow := s.SetByteSlice(i[:32]); overflow || (parent == nil && s.IsZero()) {
		k.wipe()
		return nil, unusable
	}
	if parent != nil {
		s.Add(&parent.key.k.Key)
	}
	if s.IsZero() {
		k.wipe()
		return nil, unusable
	}
	k.key.pub = pubKeyOf(s)
	copy(k.pub[:], k.key.pub.SerializeCompressed())
	copy(k.chain[:], i[32:])
	if parent != nil {
		k.depth = parent.depth + 1
		k.parentFP = binary.BigEndian.Uint32(btcutil.Hash160(parent.pub[:])[:4])
	}
	return k, nil
}

// bip32HMAC is BIP32's I = HMAC-SHA512(key, data), for master keys
// (key "Bitcoin seed") and children (key the parent's chain code). The
// caller clears it.
func bip32HMAC(key, data []byte) [sha512.Size]byte {
	mac := hmac.New(sha512.New, key)
	mac.Write(data)
	var i [sha512.Size]byte
	mac.Sum(i[:0])
	mac.Reset()
	return i
}

// serializePub is the extended public key of k in version v's public
// form, as towire_ext_key writes it: version ‖ depth ‖ parent fingerprint
// ‖ child number ‖ chain code ‖ compressed public key.
func (k *extKey) serializePub(v BIP32Version) ([ExtKeySize]byte, error) {
	var out [ExtKeySize]byte
	if !v.Valid() {
		return out, ErrKeyVersion
	}
	binary.BigEndian.PutUint32(out[0:4], v.serializedPublic())
	out[4] = k.depth
	binary.BigEndian.PutUint32(out[5:9], k.parentFP)
	binary.BigEndian.PutUint32(out[9:13], k.child)
	copy(out[13:45], k.chain[:])
	copy(out[45:78], k.pub[:])
	return out, nil
}

// parent is what ckdPriv needs of k to derive its non-hardened children.
func (k *extKey) parent() *bip32Parent {
	p := &bip32Parent{key: PrivateKey{pub: k.key.pub}, pub: k.pub, chain: k.chain}
	p.key.k.Key.Set(&k.key.k.Key)
	return p
}

func (k *extKey) wipe() {
	k.key.Wipe()
	clear(k.chain[:])
}

// Format implements fmt.Formatter: every verb prints a placeholder.
func (k *extKey) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "keys.extKey{"+redacted+"}")
}
