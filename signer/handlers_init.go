package signer

import (
	"fmt"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
	"gl-signerd/signer/policy"
)

// Start-up and lightningd's own key checks: hsmd_init (hsmd.c's init_hsm
// and libhsmd's hsmd_init), derive_secret, check_pubkey and
// check_bip86_pubkey.

// The wire versions CLN v26.06.6's hsmd accepts (our_minversion and
// our_maxversion in hsmd.c). hsmproto's codec speaks 5 and 6; version 4
// differs from 5 in nothing this engine answers, and hsmd accepts it.
const (
	hsmdMinVersion = 4
	hsmdMaxVersion = hsmproto.MaxVersion
)

// initCapabilities is the hsm_capabilities list of hsmd's init reply, in
// hsmd's order: the optional messages it implements, then the two
// preapprove _check forms (hsmd leaves those out only with
// --dev-no-preapprove-check).
var initCapabilities = []uint32{
	uint32(hsmproto.TypeCheckPubkey),
	uint32(hsmproto.TypeCheckBip86Pubkey),
	uint32(hsmproto.TypeSignAnyDelayedPaymentToUs),
	uint32(hsmproto.TypeSignAnchorspend),
	uint32(hsmproto.TypeSignHtlcTxMingle),
	uint32(hsmproto.TypeSignSpliceTx),
	uint32(hsmproto.TypeCheckOutpoint),
	uint32(hsmproto.TypeForgetChannel),
	uint32(hsmproto.TypeRevokeCommitmentTx),
	uint32(hsmproto.TypeSignBolt12_2),
	uint32(hsmproto.TypeBip137SignMessage),
	uint32(hsmproto.TypePreapproveInvoiceCheck),
	uint32(hsmproto.TypePreapproveKeysendCheck),
}

// handleInit is hsmd_init: lightningd names the network (its BIP32 key
// versions and genesis hash) and the range of wire versions it speaks. The
// negotiated version is min(max_version, 6); with 5 (or 4),
// get_per_commitment_point also returns the secret n−2. The reply carries
// the node id, the wallet's xpub (m/0/0), the bolt12 base key, the secret
// type and, for 64-byte seeds, the BIP86 account xpub.
//
// The engine answers without an hsmd_init too (Greenlight's node never
// forwards it; see InitReply), as negotiated version 6 on the network of
// WithBIP32Version (mainnet by default). Under WithFixedNetwork it refuses
// hsmd_init and nothing changes.
func (e *Engine) handleInit(c Client, req *hsmproto.Init) (hsmproto.Message, error) {
	t := req.MsgType()
	if e.fixed {
		return nil, badRequest(c, t, "the wire version and network are fixed by the signer's configuration (%s, version %d); a Greenlight node never sends hsmd_init",
			e.network, hsmdMaxVersion)
	}
	if req.HsmWireMinVersion > hsmdMaxVersion || req.HsmWireMaxVersion < hsmdMinVersion {
		return nil, badRequest(c, t, "Version %d-%d not valid: we need %d-%d",
			req.HsmWireMinVersion, req.HsmWireMaxVersion, hsmdMinVersion, hsmdMaxVersion)
	}
	// A non-developer hsmd asserts these are absent (and aborts).
	if req.DevForcePrivkey != nil || req.DevForceBip32Seed != nil ||
		req.DevForceChannelSecrets != nil || req.DevForceChannelSecretsShaseed != nil {
		return nil, statusFailed(t, "dev_force_* fields need a --developer hsmd; this signer never takes keys from lightningd")
	}
	v := keys.BIP32Version{Public: req.Bip32KeyVersion.Bip32PubkeyVersion, Private: req.Bip32KeyVersion.Bip32PrivkeyVersion}
	if !v.Valid() {
		// hsmd_init asserts this (and aborts).
		return nil, statusFailed(t, "BIP32 key versions %08x/%08x are not mainnet's (0488b21e/0488ade4) or testnet's (043587cf/04358394)",
			v.Public, v.Private)
	}
	version := min(req.HsmWireMaxVersion, hsmdMaxVersion)
	reply, err := e.initReply(v, version)
	if err != nil {
		return nil, keyFailure(t, err)
	}
	e.mu.Lock()
	e.bip32Version = v
	e.hsmVersion = version
	e.network = req.Chainparams.Network()
	e.initialized = true
	e.mu.Unlock()
	return reply, nil
}

// initReply builds hsmd_init_reply_v4 for the given key versions and
// negotiated wire version.
func (e *Engine) initReply(v keys.BIP32Version, version uint32) (*hsmproto.InitReplyV4, error) {
	xpub, err := e.ring.WalletExtKey(v)
	if err != nil {
		return nil, err
	}
	secretType := uint8(e.ring.SecretType())
	reply := &hsmproto.InitReplyV4{
		HsmVersion:      version,
		HsmCapabilities: append([]uint32(nil), initCapabilities...),
		NodeID:          hsmproto.NodeID(e.ring.NodeID()),
		Bip32:           hsmproto.ExtKey(xpub),
		Bolt12:          hsmproto.PubkeyFrom(e.ring.Bolt12PubKey()),
		Tlvs:            hsmproto.InitReplyV4Tlvs{HsmSecretType: &secretType},
	}
	if e.ring.HasBIP86() {
		base, err := e.ring.BIP86BaseExtKey(v)
		if err != nil {
			return nil, err
		}
		b := hsmproto.ExtKey(base)
		reply.Tlvs.Bip86Base = &b
	}
	return reply, nil
}

// InitReply returns the raw hsmd_init_reply_v4 (with its u16 type) that
// CLN's hsmd sends when lightningd starts it on network ("bitcoin",
// "testnet", "testnet4", "signet", "regtest", "liquid", "liquid-regtest"),
// at the engine's negotiated wire version (6 unless an hsmd_init said
// otherwise). It is what a Greenlight signer registers as init_msg: the
// node answers lightningd's hsmd_init with it, and the engine then behaves
// as that reply says. It does not change the engine's state. Under
// WithFixedNetwork only that network is accepted.
func (e *Engine) InitReply(network string) ([]byte, error) {
	v, ok := BIP32VersionFor(network)
	if !ok {
		return nil, fmt.Errorf("signer: unknown network %q (want bitcoin, testnet, testnet4, signet, regtest, liquid or liquid-regtest)", network)
	}
	if e.fixed && network != e.network {
		return nil, fmt.Errorf("signer: the engine is fixed to network %s, not %s", e.network, network)
	}
	e.mu.RLock()
	version := e.hsmVersion
	e.mu.RUnlock()
	reply, err := e.initReply(v, version)
	if err != nil {
		return nil, err
	}
	return reply.Encode(), nil
}

// BIP32VersionFor is the BIP32 key version of a network CLN knows by
// name, from hsmproto's table of CLN's chainparams: mainnet versions for
// bitcoin and liquid, testnet versions for every other network.
func BIP32VersionFor(network string) (keys.BIP32Version, bool) {
	v, ok := hsmproto.Bip32KeyVersionFor(network)
	return keys.BIP32Version{Public: v.Bip32PubkeyVersion, Private: v.Bip32PrivkeyVersion}, ok
}

// Version is the negotiated hsmd wire version: 6 until an hsmd_init that
// offers at most 5 (or 4).
func (e *Engine) Version() uint32 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.hsmVersion
}

// Network is CLN's name for the network of the last hsmd_init ("bitcoin",
// "regtest", …), the network of WithFixedNetwork, or "" before any
// hsmd_init or for a genesis hash CLN does not know.
func (e *Engine) Network() string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.network
}

// handleDeriveSecret is derive_secret (lightningd's makesecret and its
// start-up bases): HKDF of the derived-secrets base with the request's
// info. The policy derives only the labels the node needs
// (policy.DeriveSecretLabels).
func (e *Engine) handleDeriveSecret(c Client, req *hsmproto.DeriveSecret) (hsmproto.Message, error) {
	if err := e.checkPolicy(c, req.MsgType(), func() *policy.Violation {
		return policy.CheckDeriveSecret(req.Info)
	}); err != nil {
		return nil, err
	}
	s, err := e.ring.DeriveSecret(req.Info)
	if err != nil {
		return nil, keyFailure(req.MsgType(), err)
	}
	defer s.Wipe()
	return &hsmproto.DeriveSecretReply{Secret: hsmproto.Secret(s)}, nil
}

// handleCheckPubkey is check_pubkey: lightningd's own derivation of wallet
// key m/0/0/index must match ours. A mismatch, or a hardened index, makes
// CLN's hsmd exit.
func (e *Engine) handleCheckPubkey(c Client, req *hsmproto.CheckPubkey) (hsmproto.Message, error) {
	t := req.MsgType()
	if req.Index >= 1<<31 {
		return nil, statusFailed(t, "Index %d too great", req.Index)
	}
	ours, err := e.ring.WalletPubKey(req.Index)
	if err != nil {
		return nil, keyFailure(t, err)
	}
	if got := hsmproto.PubkeyFrom(ours); got != req.Pubkey {
		return nil, statusFailed(t, "BIP32 derivation index %d differed: they got %x, we got %x", req.Index, req.Pubkey[:], got[:])
	}
	return &hsmproto.CheckPubkeyReply{Ok: true}, nil
}

// handleCheckBip86Pubkey is check_bip86_pubkey (answered by hsmd.c itself):
// the same check for BIP86 key m/86'/0'/0'/0/index, which exists only for
// 64-byte (mnemonic) seeds; with a 32-byte secret it is a bad request.
func (e *Engine) handleCheckBip86Pubkey(c Client, req *hsmproto.CheckBip86Pubkey) (hsmproto.Message, error) {
	t := req.MsgType()
	if !e.ring.HasBIP86() {
		return nil, badRequest(c, t, "BIP86 derivation requires mnemonic-based HSM secret")
	}
	if req.Index >= 1<<31 {
		return nil, statusFailed(t, "Index %d too great", req.Index)
	}
	k, err := e.ring.BIP86Key(req.Index)
	if err != nil {
		return nil, keyFailure(t, err)
	}
	ours := hsmproto.PubkeyFrom(k.PubKey())
	k.Wipe()
	if ours != req.Pubkey {
		return nil, statusFailed(t, "BIP86 derivation index %d differed: they got %x, we got %x", req.Index, req.Pubkey[:], ours[:])
	}
	return &hsmproto.CheckBip86PubkeyReply{Ok: true}, nil
}
