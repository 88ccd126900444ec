package keys

import (
	"encoding/binary"
	"fmt"

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
	return serializeExtPub(r.wallet, v)
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
	return serializeExtPub(r.bip86, v)
}

func serializeExtPub(k *hdkeychain.ExtendedKey, v BIP32Version) ([ExtKeySize]byte, error) {
	var out [ExtKeySize]byte
	if !v.Valid() {
		return out, ErrKeyVersion
	}
	pub, err := k.ECPubKey()
	if err != nil {
		return out, fmt.Errorf("keys: extended key: %w", err)
	}
	binary.BigEndian.PutUint32(out[0:4], v.serializedPublic())
	out[4] = k.Depth()
	binary.BigEndian.PutUint32(out[5:9], k.ParentFingerprint())
	binary.BigEndian.PutUint32(out[9:13], k.ChildIndex())
	copy(out[13:45], k.ChainCode())
	copy(out[45:78], pub.SerializeCompressed())
	return out, nil
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
	return childKey(r.wallet, index)
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
	return childKey(r.bip86Receive, index)
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

func childKey(parent *hdkeychain.ExtendedKey, index uint32) (*PrivateKey, error) {
	if index >= hdkeychain.HardenedKeyStart {
		return nil, ErrIndexTooGreat
	}
	c, err := parent.Derive(index)
	if err != nil {
		return nil, fmt.Errorf("keys: BIP32 child %d: %w", index, err)
	}
	defer c.Zero()
	k, err := c.ECPrivKey()
	if err != nil {
		return nil, fmt.Errorf("keys: BIP32 child %d: %w", index, err)
	}
	defer k.Zero()
	return &PrivateKey{k: *k}, nil
}
