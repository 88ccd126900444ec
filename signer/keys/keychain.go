package keys

import (
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/keychain"
)

// Key families: lnd's keychain.KeyLocator{Family, Index} naming CLN's
// derivations.  Where lnd has a family with the same meaning we reuse it;
// CLN-only derivations get families far above lnd's (0x434c4e00 = "CLN\0").
// Nothing here follows lnd's m/1017' paths: every key is derived as hsmd
// derives it.
const (
	// FamilyNode (lnd's KeyFamilyNodeKey), index 0: node_key().
	FamilyNode = keychain.KeyFamilyNodeKey

	// FamilyWalletBIP32, index i: bitcoin_key(i), m/0/0/i.
	FamilyWalletBIP32 keychain.KeyFamily = 0x434c4e00
	// FamilyWalletBIP86, index i: bip86_key(i), m/86'/0'/0'/0/i (64-byte
	// seeds only).
	FamilyWalletBIP86 keychain.KeyFamily = 0x434c4e01
	// FamilyBolt12Base, index 0: m/9735', the base of bolt12 payer keys.
	FamilyBolt12Base keychain.KeyFamily = 0x434c4e02

	// Per-channel families, index 0, on ChannelKeys (a channel is named by
	// peer id and dbid, which do not fit a KeyLocator index).
	FamilyFunding        = keychain.KeyFamilyMultiSig
	FamilyRevocationBase = keychain.KeyFamilyRevocationBase
	FamilyHTLCBase       = keychain.KeyFamilyHtlcBase
	FamilyPaymentBase    = keychain.KeyFamilyPaymentBase
	FamilyDelayBase      = keychain.KeyFamilyDelayBase
)

// NodeKeyLocator locates the node key.
var NodeKeyLocator = keychain.KeyLocator{Family: FamilyNode, Index: 0}

var (
	_ keychain.SecretKeyRing = (*Ring)(nil)
	_ keychain.KeyRing       = (*ChannelKeys)(nil)
)

// NodeKeyECDH returns the node key as lnd's keychain.SingleKeyECDH (for
// brontide and onion code).
func (r *Ring) NodeKeyECDH() keychain.SingleKeyECDH {
	return keychain.NewPubKeyECDH(keychain.KeyDescriptor{KeyLocator: NodeKeyLocator, PubKey: r.nodePub}, r)
}

// privKey resolves a locator to a private key (a copy: the caller wipes it).
func (r *Ring) privKey(loc keychain.KeyLocator) (*PrivateKey, error) {
	switch loc.Family {
	case FamilyNode:
		if loc.Index != 0 {
			return nil, fmt.Errorf("%w: node key index %d (only 0 exists)", ErrUnknownKey, loc.Index)
		}
		return r.NodeKey()
	case FamilyWalletBIP32:
		return r.WalletKey(loc.Index)
	case FamilyWalletBIP86:
		return r.BIP86Key(loc.Index)
	case FamilyBolt12Base:
		if loc.Index != 0 {
			return nil, fmt.Errorf("%w: bolt12 base index %d (only 0 exists)", ErrUnknownKey, loc.Index)
		}
		r.mu.RLock()
		defer r.mu.RUnlock()
		if r.wiped {
			return nil, ErrWiped
		}
		k := r.bolt12
		return &k, nil
	}
	return nil, fmt.Errorf("%w: family %d", ErrUnknownKey, loc.Family)
}

// DeriveNextKey is not supported: hsmd keeps no index state (lightningd
// chooses wallet indexes).  Part of keychain.KeyRing.
func (r *Ring) DeriveNextKey(keychain.KeyFamily) (keychain.KeyDescriptor, error) {
	return keychain.KeyDescriptor{}, ErrNotSupported
}

// DeriveKey returns the public key at loc.  Part of keychain.KeyRing.
func (r *Ring) DeriveKey(loc keychain.KeyLocator) (keychain.KeyDescriptor, error) {
	if loc == NodeKeyLocator {
		return keychain.KeyDescriptor{KeyLocator: loc, PubKey: r.nodePub}, nil
	}
	k, err := r.privKey(loc)
	if err != nil {
		return keychain.KeyDescriptor{}, err
	}
	defer k.Wipe()
	return keychain.KeyDescriptor{KeyLocator: loc, PubKey: k.PubKey()}, nil
}

// DerivePrivKey returns the private key of desc as a btcec key (the caller
// should Zero it).  A descriptor with an empty locator and a public key
// finds the node key or the bolt12 base key; when both are given they must
// agree.  Part of keychain.SecretKeyRing.
func (r *Ring) DerivePrivKey(desc keychain.KeyDescriptor) (*btcec.PrivateKey, error) {
	k, err := r.resolve(desc)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.BTCEC(), nil
}

func (r *Ring) resolve(desc keychain.KeyDescriptor) (*PrivateKey, error) {
	loc := desc.KeyLocator
	if loc.IsEmpty() && desc.PubKey != nil {
		switch {
		case desc.PubKey.IsEqual(r.nodePub):
			loc = NodeKeyLocator
		case desc.PubKey.IsEqual(r.bolt12Pub):
			loc = keychain.KeyLocator{Family: FamilyBolt12Base}
		default:
			return nil, fmt.Errorf("%w: public key %x", ErrUnknownKey, desc.PubKey.SerializeCompressed())
		}
	}
	k, err := r.privKey(loc)
	if err != nil {
		return nil, err
	}
	if desc.PubKey != nil && !desc.PubKey.IsEqual(k.PubKey()) {
		k.Wipe()
		return nil, fmt.Errorf("%w: locator %d/%d does not hold public key %x", ErrUnknownKey, loc.Family, loc.Index, desc.PubKey.SerializeCompressed())
	}
	return k, nil
}

// ECDH is SHA256(compressed(k·pub)) with the key of desc (handle_ecdh for
// the node key).  Part of keychain.ECDHRing.
func (r *Ring) ECDH(desc keychain.KeyDescriptor, pub *btcec.PublicKey) ([32]byte, error) {
	k, err := r.resolve(desc)
	if err != nil {
		return [32]byte{}, err
	}
	defer k.Wipe()
	return k.ECDH(pub), nil
}

func digest(msg []byte, doubleHash bool) [32]byte {
	if doubleHash {
		return sha256d(msg)
	}
	return sha256.Sum256(msg)
}

// SignMessage signs SHA256(msg) (or SHA256d with doubleHash) with the key at
// loc, grinding for low R as CLN's sign_hash does (lnd's own ring signs
// plain RFC6979).  Part of keychain.MessageSignerRing.
func (r *Ring) SignMessage(loc keychain.KeyLocator, msg []byte, doubleHash bool) (*ecdsa.Signature, error) {
	k, err := r.privKey(loc)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.SignLowR(digest(msg, doubleHash)), nil
}

// SignMessageCompact signs like secp256k1_ecdsa_sign_recoverable (no
// grinding) and returns lnd's compact layout: header 27+4+recid, then r ‖ s.
// (CLN's wire layout, r ‖ s ‖ recid, is PrivateKey.SignRecoverable.)  Part of
// keychain.MessageSignerRing.
func (r *Ring) SignMessageCompact(loc keychain.KeyLocator, msg []byte, doubleHash bool) ([]byte, error) {
	k, err := r.privKey(loc)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	rs := k.SignRecoverable(digest(msg, doubleHash))
	return append([]byte{27 + 4 + rs[64]}, rs[:64]...), nil
}

// SignMessageSchnorr signs with BIP340 and no aux randomness (as CLN's
// bolt12 signatures).  The digest is TaggedHash(tag, msg) when tag is set,
// else SHA256 or SHA256d of msg; a non-empty taprootTweak is a script root
// for the BIP341 tweak, as in lnd.  Part of keychain.MessageSignerRing.
func (r *Ring) SignMessageSchnorr(loc keychain.KeyLocator, msg []byte, doubleHash bool, taprootTweak, tag []byte) (*schnorr.Signature, error) {
	k, err := r.privKey(loc)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	if len(taprootTweak) > 0 {
		tk, err := k.TaprootTweak(taprootTweak)
		if err != nil {
			return nil, err
		}
		defer tk.Wipe()
		k = tk
	}
	var d [32]byte
	if len(tag) > 0 {
		d = *chainhash.TaggedHash(tag, msg)
	} else {
		d = digest(msg, doubleHash)
	}
	sig, err := k.SignSchnorr(d)
	if err != nil {
		return nil, err
	}
	return schnorr.ParseSignature(sig[:])
}

// DeriveNextKey is not supported on a channel.  Part of keychain.KeyRing.
func (ck *ChannelKeys) DeriveNextKey(keychain.KeyFamily) (keychain.KeyDescriptor, error) {
	return keychain.KeyDescriptor{}, ErrNotSupported
}

// DeriveKey returns the channel's funding key or a basepoint (families
// FamilyFunding … FamilyDelayBase, index 0).  Part of keychain.KeyRing.
func (ck *ChannelKeys) DeriveKey(loc keychain.KeyLocator) (keychain.KeyDescriptor, error) {
	if loc.Index != 0 {
		return keychain.KeyDescriptor{}, fmt.Errorf("%w: channel key index %d (only 0 exists)", ErrUnknownKey, loc.Index)
	}
	var pub *btcec.PublicKey
	switch loc.Family {
	case FamilyFunding:
		pub = ck.fundingPub
	case FamilyRevocationBase:
		pub = ck.basepoints.Revocation
	case FamilyHTLCBase:
		pub = ck.basepoints.HTLC
	case FamilyPaymentBase:
		pub = ck.basepoints.Payment
	case FamilyDelayBase:
		pub = ck.basepoints.DelayedPayment
	default:
		return keychain.KeyDescriptor{}, fmt.Errorf("%w: channel family %d", ErrUnknownKey, loc.Family)
	}
	return keychain.KeyDescriptor{KeyLocator: loc, PubKey: pub}, nil
}

// DerivePrivKey returns the private key for a channel family (index 0), as
// a btcec key the caller should Zero.  A public key in desc must match.
func (ck *ChannelKeys) DerivePrivKey(desc keychain.KeyDescriptor) (*btcec.PrivateKey, error) {
	d, err := ck.DeriveKey(desc.KeyLocator)
	if err != nil {
		return nil, err
	}
	if desc.PubKey != nil && !desc.PubKey.IsEqual(d.PubKey) {
		return nil, fmt.Errorf("%w: channel family %d does not hold public key %x", ErrUnknownKey, desc.Family, desc.PubKey.SerializeCompressed())
	}
	var k *PrivateKey
	switch desc.Family {
	case FamilyFunding:
		k, err = ck.FundingKey()
	case FamilyRevocationBase:
		k, err = ck.RevocationBaseKey()
	case FamilyHTLCBase:
		k, err = ck.HTLCBaseKey()
	case FamilyPaymentBase:
		k, err = ck.PaymentBaseKey()
	case FamilyDelayBase:
		k, err = ck.DelayedPaymentBaseKey()
	}
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.BTCEC(), nil
}
