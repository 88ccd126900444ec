package keys

import (
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// Signatures hsmd makes with the node key and other ring-level keys, one per
// handler; each says which libhsmd.c function it reproduces.  Parsing the
// request and checking message types stay with the engine.

// withNodeKey runs f with the node key under the read lock.
func (r *Ring) withNodeKey(f func(k *PrivateKey) error) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return ErrWiped
	}
	return f(&r.node)
}

// SignNodeAnnouncement is handle_sign_node_announcement: sign_hash (low-R
// grinding) of GossipHash(ann, NodeAnnouncementSigned) with the node key.
// ann starts with its 2-byte type.
func (r *Ring) SignNodeAnnouncement(ann []byte) (*ecdsa.Signature, error) {
	return r.signGossip(ann, NodeAnnouncementSigned)
}

// SignChannelUpdate is handle_channel_update_sig: sign_hash of
// GossipHash(cu, ChannelUpdateSigned) with the node key.  cu starts with its
// 2-byte type; hsmd hashes every byte after the signature, trailing extra
// bytes included.
func (r *Ring) SignChannelUpdate(cu []byte) (*ecdsa.Signature, error) {
	return r.signGossip(cu, ChannelUpdateSigned)
}

func (r *Ring) signGossip(msg []byte, offset int) (*ecdsa.Signature, error) {
	h, err := GossipHash(msg, offset)
	if err != nil {
		return nil, err
	}
	var sig *ecdsa.Signature
	err = r.withNodeKey(func(k *PrivateKey) error {
		sig = k.SignLowR(h)
		return nil
	})
	return sig, err
}

// SignChannelAnnouncement is handle_sign_cannouncement: the node signature
// and the bitcoin (funding key of channel peer/dbid) signature, both
// sign_hash of GossipHash(ca, ChannelAnnouncementSigned).
func (r *Ring) SignChannelAnnouncement(peer [33]byte, dbid uint64, ca []byte) (nodeSig, bitcoinSig *ecdsa.Signature, err error) {
	h, err := GossipHash(ca, ChannelAnnouncementSigned)
	if err != nil {
		return nil, nil, err
	}
	ck, err := r.Channel(peer, dbid)
	if err != nil {
		return nil, nil, err
	}
	fk, err := ck.FundingKey()
	if err != nil {
		return nil, nil, err
	}
	defer fk.Wipe()
	err = r.withNodeKey(func(k *PrivateKey) error {
		nodeSig = k.SignLowR(h)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return nodeSig, fk.SignLowR(h), nil
}

// SignLightningMessage is handle_sign_message: a recoverable signature (r ‖ s ‖
// recid) of SignedMessageHash(msg) with the node key, no grinding.
func (r *Ring) SignLightningMessage(msg []byte) ([65]byte, error) {
	return r.signRecoverableNode(SignedMessageHash(msg))
}

// SignInvoice is handle_sign_invoice: a recoverable signature of
// InvoiceHash(hrp, data5) with the node key.
func (r *Ring) SignInvoice(hrp, data5 []byte) ([65]byte, error) {
	return r.signRecoverableNode(InvoiceHash(hrp, data5))
}

func (r *Ring) signRecoverableNode(h [32]byte) ([65]byte, error) {
	var sig [65]byte
	err := r.withNodeKey(func(k *PrivateKey) error {
		sig = k.SignRecoverable(h)
		return nil
	})
	return sig, err
}

// SignBIP137Message is handle_bip137_sign_message: a recoverable signature
// of BIP137MessageHash(msg) with the wallet key keyIndex (BIP86 for 64-byte
// seeds, BIP32 m/0/0/i otherwise).  keyIndex ≥ 2^31 is ErrIndexTooGreat,
// fatal in hsmd.
func (r *Ring) SignBIP137Message(msg []byte, keyIndex uint32) ([65]byte, error) {
	k, err := r.UTXOKey(keyIndex)
	if err != nil {
		return [65]byte{}, err
	}
	defer k.Wipe()
	return k.SignRecoverable(BIP137MessageHash(msg)), nil
}

// SignWillFundOffer is handle_sign_option_will_fund_offer: a plain RFC6979
// signature (no grinding) of WillFundCommitment(...) with the node key.
func (r *Ring) SignWillFundOffer(fundingPubKey *btcec.PublicKey, leaseExpiry, chanFeeBaseMsat uint32, chanFeePPT uint16) (*ecdsa.Signature, error) {
	h := WillFundCommitment(fundingPubKey, leaseExpiry, chanFeeBaseMsat, chanFeePPT)
	var sig *ecdsa.Signature
	err := r.withNodeKey(func(k *PrivateKey) error {
		sig = k.SignRFC6979(h)
		return nil
	})
	return sig, err
}

// SignBolt12 is handle_sign_bolt12: a BIP340 signature of
// Bolt12Sighash(messageName, fieldName, merkle).  With an empty publicTweak
// (CLN's fromwire gives NULL for length 0) it signs with the node key;
// otherwise with bolt12 base key + Bolt12PayerTweak(base pubkey,
// publicTweak).
func (r *Ring) SignBolt12(messageName, fieldName string, merkle [32]byte, publicTweak []byte) ([64]byte, error) {
	h := Bolt12Sighash(messageName, fieldName, merkle)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return [64]byte{}, ErrWiped
	}
	if len(publicTweak) == 0 {
		return r.node.SignSchnorr(h)
	}
	k, err := r.bolt12.TweakAdd(Bolt12PayerTweak(r.bolt12Pub, publicTweak))
	if err != nil {
		return [64]byte{}, err
	}
	defer k.Wipe()
	return k.SignSchnorr(h)
}

// SignBolt12V2 is handle_sign_bolt12_2: a BIP340 signature of
// Bolt12Sighash(messageName, fieldName, merkle).  With an empty tweakMessage
// it signs with the node key; otherwise with node key +
// Bolt12AliasTweak(DeriveSecret(info), tweakMessage).
func (r *Ring) SignBolt12V2(messageName, fieldName string, merkle [32]byte, info, tweakMessage []byte) ([64]byte, error) {
	h := Bolt12Sighash(messageName, fieldName, merkle)
	k, err := r.Bolt12AliasKey(info, tweakMessage)
	if err != nil {
		return [64]byte{}, err
	}
	defer k.Wipe()
	return k.SignSchnorr(h)
}

// Bolt12AliasKey is the key SignBolt12V2 signs with: the node key, tweaked
// by Bolt12AliasTweak(DeriveSecret(info), tweakMessage) when tweakMessage
// is not empty.  The key is the caller's to Wipe.
func (r *Ring) Bolt12AliasKey(info, tweakMessage []byte) (*PrivateKey, error) {
	var out *PrivateKey
	err := r.withNodeKey(func(k *PrivateKey) error {
		if len(tweakMessage) == 0 {
			c := *k
			out = &c
			return nil
		}
		var base Secret
		defer base.Wipe()
		hkdfSHA256(base[:], nil, r.derivedSecret[:], string(info))
		var err error
		out, err = k.TweakAdd(Bolt12AliasTweak(base, tweakMessage))
		return err
	})
	return out, err
}
