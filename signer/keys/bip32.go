package keys

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
)

// BIP32Version is hsmd_init's bip32_key_version: the version bytes lightningd
// wants for extended public and private keys.
type BIP32Version struct {
	Public, Private uint32
}

// The two versions hsmd accepts (libwally's BIP32_VER_MAIN_* and
// BIP32_VER_TEST_*): bitcoin, and testnet/regtest/signet.
var (
	BIP32Mainnet = BIP32Version{Public: 0x0488b21e, Private: 0x0488ade4}
	BIP32Testnet = BIP32Version{Public: 0x043587cf, Private: 0x04358394}
)

// Valid reports whether hsmd_init would accept v (it asserts each half is
// one of the mainnet or testnet values).
func (v BIP32Version) Valid() bool {
	return (v.Public == BIP32Mainnet.Public || v.Public == BIP32Testnet.Public) &&
		(v.Private == BIP32Mainnet.Private || v.Private == BIP32Testnet.Private)
}

// serializedPublic is the version libwally writes when serialising the
// public half of a private key: it is taken from the private version (the
// key was created with bip32_key_version.bip32_privkey_version), not from
// the public one.
func (v BIP32Version) serializedPublic() uint32 {
	if v.Private == BIP32Mainnet.Private {
		return BIP32Mainnet.Public
	}
	return BIP32Testnet.Public
}

// ExtKeySize is the length of a serialised extended key without checksum
// (libwally's BIP32_SERIALIZED_LEN), as towire_ext_key writes it.
const ExtKeySize = 78

// WalletExtKey is the extended public key of m/0/0 that hsmd_init returns
// (towire_ext_key of secretstuff.bip32): version ‖ depth ‖ parent
// fingerprint ‖ child number ‖ chain code ‖ compressed pubkey.
func (r *Ring) WalletExtKey(v BIP32Version) ([ExtKeySize]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return [ExtKeySize]byte{}, ErrWiped
	}
	return r.wallet.serializePub(v)
}

// BIP86BaseExtKey is the extended public key of m/86'/0'/0' that hsmd_init
// returns in the bip86_base TLV for 64-byte seeds (derive_bip86_base_key).
// It returns ErrNoBIP86 for a 32-byte secret.
func (r *Ring) BIP86BaseExtKey(v BIP32Version) ([ExtKeySize]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return [ExtKeySize]byte{}, ErrWiped
	}
	if r.bip86 == nil {
		return [ExtKeySize]byte{}, ErrNoBIP86
	}
	return r.bip86.serializePub(v)
}

// WalletKey is bitcoin_key(): the private key m/0/0/index of the BIP32
// wallet (used by check_pubkey and, for 32-byte secrets, the wallet's
// UTXOs).  index ≥ 2^31 is ErrIndexTooGreat, which hsmd treats as fatal.
func (r *Ring) WalletKey(index uint32) (*PrivateKey, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return nil, ErrWiped
	}
	return r.walletChild(r.walletParent, walletKeyID{index: index})
}

// BIP86Key is bip86_key(): the private key m/86'/0'/0'/0/index derived from
// the 64-byte seed.  ErrNoBIP86 for 32-byte secrets; ErrIndexTooGreat for
// index ≥ 2^31.
func (r *Ring) BIP86Key(index uint32) (*PrivateKey, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return nil, ErrWiped
	}
	if r.bip86 == nil {
		return nil, ErrNoBIP86
	}
	return r.walletChild(r.bip86Parent, walletKeyID{bip86: true, index: index})
}

// UTXOKey is the key hsmd uses for a wallet UTXO with the given keyindex and
// no close_info (hsm_key_for_utxo): BIP86Key for 64-byte seeds, WalletKey
// otherwise.  (bip137_sign_message chooses the same way.)
func (r *Ring) UTXOKey(index uint32) (*PrivateKey, error) {
	if r.HasBIP86() {
		return r.BIP86Key(index)
	}
	return r.WalletKey(index)
}

// WalletPubKey is the public key of WalletKey(index).
func (r *Ring) WalletPubKey(index uint32) (*btcec.PublicKey, error) {
	k, err := r.WalletKey(index)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.PubKey(), nil
}

// bip32Parent is what BIP32's CKDpriv needs of a parent key to derive its
// non-hardened children, prepared once when the Ring is made: the private
// key, its serialized public key and the chain code.
type bip32Parent struct {
	key   PrivateKey
	pub   [33]byte
	chain [32]byte
}

func (p *bip32Parent) wipe() {
	p.key.Wipe()
	clear(p.chain[:])
}

// Format implements fmt.Formatter: every verb prints a placeholder (the
// fields are unexported, so fmt would dump them without it).
func (p *bip32Parent) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "keys.bip32Parent{"+redacted+"}")
}

// ckdPriv is BIP32's CKDpriv for a non-hardened index, as libwally's
// bip32_key_from_parent computes a child's private key: I = HMAC-SHA512(
// chain code, parent pubkey ‖ index), child = I[:32] + parent (mod n),
// failing if I[:32] ≥ n or the sum is 0. Unlike hdkeychain's Derive and
// ECPrivKey, it computes no public key (a point multiplication).
func ckdPriv(parent *bip32Parent, index uint32) (*PrivateKey, error) {
	if index >= hdkeychain.HardenedKeyStart {
		return nil, ErrIndexTooGreat
	}
	var data [33 + 4]byte
	copy(data[:33], parent.pub[:])
	binary.BigEndian.PutUint32(data[33:], index)
	i := bip32HMAC(parent.chain[:], data[:])
	defer clear(i[:])
	var il btcec.ModNScalar
	defer il.Zero()
	if overflow := il.SetByteSlice(i[:32]); overflow {
		return nil, fmt.Errorf("keys: BIP32 child %d: %w", index, hdkeychain.ErrInvalidChild)
	}
	k := new(PrivateKey)
	k.k.Key.Set(&il).Add(&parent.key.k.Key)
	if k.k.Key.IsZero() {
		return nil, fmt.Errorf("keys: BIP32 child %d: %w", index, hdkeychain.ErrInvalidChild)
	}
	return k, nil
}

// walletKeyID names a wallet key in the public key cache.
type walletKeyID struct {
	bip86 bool
	index uint32
}

const defaultWalletCacheSize = 1024

// walletChild derives a wallet key (the caller holds r.mu) and attaches its
// public key, from the cache or computed once and cached: UTXO keys come
// back (a wallet address receives more than once, lightningd asks
// check_pubkey, re-signs a PSBT) and each public key costs a point
// multiplication. The cache holds public keys only.
func (r *Ring) walletChild(parent *bip32Parent, id walletKeyID) (*PrivateKey, error) {
	k, err := ckdPriv(parent, id.index)
	if err != nil {
		return nil, err
	}
	pub, ok := r.walletPubs.Get(id)
	if !ok {
		pub = pubKeyOf(&k.k.Key)
		r.walletPubs.Add(id, pub)
	}
	k.pub = pub
	return k, nil
}
