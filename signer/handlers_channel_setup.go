package signer

import (
	"crypto/subtle"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
	"gl-signerd/signer/state"
)

// Channel set-up and commitment points: the channel's basepoints and
// per-commitment points, the wallet script of a peer's unilateral close,
// liquidity-ad signatures, and the channel-state notifications that CLN's
// hsmd only parses (new_channel, setup_channel, check_outpoint,
// lock_outpoint, forget_channel) — a validating signer keeps state there.

// clientChannel is the channel a subdaemon client's connection was opened
// for (hsmd_client_hsmfd's peer id and dbid; Greenlight's
// HsmRequestContext). Per-channel requests from openingd, channeld,
// closingd, onchaind and dualopend use it; lightningd's own requests name
// the channel in the message instead.
//
// (CLN's libhsmd leaves the peer id of dbid-0 connections, lightningd's and
// connectd's, uninitialised; none of the requests those connections may
// send depends on it, except cannouncement_sig_req from lightningd, which
// lightningd does not send. Here they use the id they were given.)
func clientChannel(c Client) ([33]byte, uint64) {
	return c.PeerID, c.DBID
}

// channelKeys returns the keys of channel (peer, dbid), refusing t if the
// key ring cannot derive them.
func (e *Engine) channelKeys(t uint16, peer [33]byte, dbid uint64) (*keys.ChannelKeys, error) {
	ck, err := e.ring.Channel(peer, dbid)
	if err != nil {
		return nil, keyFailure(t, err)
	}
	return ck, nil
}

// handleNewChannel is new_channel: lightningd declares a channel. CLN's
// hsmd only parses it.
func (e *Engine) handleNewChannel(c Client, req *hsmproto.NewChannel) (hsmproto.Message, error) {
	return &hsmproto.NewChannelReply{}, nil
}

// handleForgetChannel is forget_channel: the channel is closed and buried.
// CLN's hsmd only parses it; the engine drops the channel's cached keys
// (derived again should the channel ever be named again) and the policy's
// rebuilt commitment.
func (e *Engine) handleForgetChannel(c Client, req *hsmproto.ForgetChannel) (hsmproto.Message, error) {
	e.ring.Forget(req.ID, req.DBID)
	e.built.forget(state.ChannelID{Peer: req.ID, DBID: req.DBID})
	return &hsmproto.ForgetChannelReply{}, nil
}

// handleGetChannelBasepoints is get_channel_basepoints: the four
// basepoints and the funding pubkey of the channel the request names.
func (e *Engine) handleGetChannelBasepoints(c Client, req *hsmproto.GetChannelBasepoints) (hsmproto.Message, error) {
	ck, err := e.channelKeys(req.MsgType(), req.Peerid, req.DBID)
	if err != nil {
		return nil, err
	}
	bp := ck.Basepoints()
	return &hsmproto.GetChannelBasepointsReply{
		Basepoints: hsmproto.Basepoints{
			Revocation:     hsmproto.PubkeyFrom(bp.Revocation),
			Payment:        hsmproto.PubkeyFrom(bp.Payment),
			Htlc:           hsmproto.PubkeyFrom(bp.HTLC),
			DelayedPayment: hsmproto.PubkeyFrom(bp.DelayedPayment),
		},
		FundingPubkey: hsmproto.PubkeyFrom(ck.FundingPubKey()),
	}, nil
}

// handleGetOutputScriptpubkey is get_output_scriptpubkey: the P2WPKH
// script of our to_remote output in a peer's unilateral close of channel
// (peer_id, channel_id): the payment basepoint, or for channels without
// option_static_remotekey the key derived from it and the commitment
// point.
func (e *Engine) handleGetOutputScriptpubkey(c Client, req *hsmproto.GetOutputScriptpubkey) (hsmproto.Message, error) {
	t := req.MsgType()
	ck, err := e.channelKeys(t, req.PeerID, req.ChannelID)
	if err != nil {
		return nil, err
	}
	var point *btcec.PublicKey
	if req.CommitmentPoint != nil {
		if point, err = e.point(*req.CommitmentPoint); err != nil {
			// hsmproto.Decode already refused points off the curve.
			return nil, badRequest(c, t, "could not parse request")
		}
	}
	k, err := ck.UnilateralCloseKey(point)
	if err != nil {
		// hsm_unilateral_close_privkey fails hsmd ("Deriving
		// unilateral_close_privkey").
		return nil, keyFailure(t, err)
	}
	pub := k.PubKey()
	k.Wipe()
	script := append([]byte{0x00, 0x14}, btcutil.Hash160(pub.SerializeCompressed())...)
	return &hsmproto.GetOutputScriptpubkeyReply{Script: script}, nil
}

// handleSetupChannel is setup_channel: the channel's fixed parameters
// once funding is agreed. CLN's hsmd only parses it.
func (e *Engine) handleSetupChannel(c Client, req *hsmproto.SetupChannel) (hsmproto.Message, error) {
	return &hsmproto.SetupChannelReply{}, nil
}

// handleGetPerCommitmentPoint is get_per_commitment_point for the client's
// channel: point n, and with a negotiated wire version below 6 and n ≥ 2
// also the per-commitment secret n−2 (which revokes commitment n−2).
func (e *Engine) handleGetPerCommitmentPoint(c Client, req *hsmproto.GetPerCommitmentPoint) (hsmproto.Message, error) {
	t := req.MsgType()
	peer, dbid := clientChannel(c)
	ck, err := e.channelKeys(t, peer, dbid)
	if err != nil {
		return nil, err
	}
	point, err := ck.PerCommitmentPoint(req.N)
	if err != nil {
		return nil, badRequest(c, t, "bad per_commit_point %d", req.N)
	}
	reply := &hsmproto.GetPerCommitmentPointReply{PerCommitmentPoint: hsmproto.PubkeyFrom(point)}
	if e.Version() < 6 && req.N >= 2 {
		old, err := ck.PerCommitmentSecret(req.N - 2)
		if err != nil {
			return nil, badRequest(c, t, "Cannot derive secret %d", req.N-2)
		}
		s := hsmproto.Secret(old)
		old.Wipe()
		reply.OldCommitmentSecret = &s
	}
	return reply, nil
}

// handleCheckFutureSecret is check_future_secret: whether a secret the
// peer claims (option_data_loss_protect) is really our per-commitment
// secret n. Compared in constant time.
func (e *Engine) handleCheckFutureSecret(c Client, req *hsmproto.CheckFutureSecret) (hsmproto.Message, error) {
	t := req.MsgType()
	peer, dbid := clientChannel(c)
	ck, err := e.channelKeys(t, peer, dbid)
	if err != nil {
		return nil, err
	}
	s, err := ck.PerCommitmentSecret(req.N)
	if err != nil {
		return nil, badRequest(c, t, "bad commit secret #%d", req.N)
	}
	ok := subtle.ConstantTimeCompare(s[:], req.CommitmentSecret[:]) == 1
	s.Wipe()
	return &hsmproto.CheckFutureSecretReply{Correct: ok}, nil
}

// handleCheckOutpoint is check_outpoint: whether the signer agrees a
// funding (or splice) outpoint is buried. CLN's hsmd always says yes.
func (e *Engine) handleCheckOutpoint(c Client, req *hsmproto.CheckOutpoint) (hsmproto.Message, error) {
	return &hsmproto.CheckOutpointReply{IsBuried: true}, nil
}

// handleLockOutpoint is lock_outpoint: the funding or splice is locked in.
// CLN's hsmd only parses it.
func (e *Engine) handleLockOutpoint(c Client, req *hsmproto.LockOutpoint) (hsmproto.Message, error) {
	return &hsmproto.LockOutpointReply{}, nil
}

// handleSignOptionWillFundOffer is sign_option_will_fund_offer: the node
// key's plain RFC6979 signature (no low-R grinding) of the liquidity ad
// commitment (funding pubkey, lease expiry, fee caps).
func (e *Engine) handleSignOptionWillFundOffer(c Client, req *hsmproto.SignOptionWillFundOffer) (hsmproto.Message, error) {
	t := req.MsgType()
	fp, err := e.point(req.FundingPubkey)
	if err != nil {
		return nil, badRequest(c, t, "could not parse request")
	}
	sig, err := e.ring.SignWillFundOffer(fp, req.Blockheight, req.ChannelFeeBaseMaxMsat, req.ChannelFeeProportionalBasisMax)
	if err != nil {
		return nil, keyFailure(t, err)
	}
	return &hsmproto.SignOptionWillFundOfferReply{Rsig: hsmproto.ECDSASignature(keys.CompactSig(sig))}, nil
}
