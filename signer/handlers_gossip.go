package signer

import (
	"encoding/binary"
	"errors"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
	"gl-signerd/signer/policy"
)

// Peer connections and gossip: ECDH for BOLT 8 and onions, and the
// signatures of node_announcement, channel_announcement and
// channel_update (BOLT 7).

// BOLT 7 message types hsmd checks before signing.
const (
	wireChannelAnnouncement = 256
	wireNodeAnnouncement    = 257
	wireChannelUpdate       = 258
)

// channelUpdateLen is the length of a channel_update as CLN v26.06.6 parses
// and writes it: type, signature, chain_hash, short_channel_id, timestamp,
// message_flags, channel_flags, cltv_expiry_delta, htlc_minimum_msat,
// fee_base_msat, fee_proportional_millionths, htlc_maximum_msat.
const channelUpdateLen = 2 + 64 + 32 + 8 + 4 + 1 + 1 + 2 + 8 + 4 + 4 + 8

// handleEcdh is ecdh_req: SHA256 of the compressed point node_key·point.
func (e *Engine) handleEcdh(c Client, req *hsmproto.EcdhReq) (hsmproto.Message, error) {
	t := req.MsgType()
	ss, err := e.ring.ECDHNodeCompressed(req.Point)
	if errors.Is(err, keys.ErrPoint) {
		// hsmproto.Decode already refused points off the curve.
		return nil, badRequest(c, t, "could not parse request")
	}
	if err != nil {
		return nil, keyFailure(t, err)
	}
	return &hsmproto.EcdhResp{Ss: hsmproto.Secret(ss)}, nil
}

// peekType is fromwire_peektype: the big-endian u16 a message starts with.
func peekType(msg []byte) int {
	if len(msg) < 2 {
		return -1
	}
	return int(binary.BigEndian.Uint16(msg))
}

// handleNodeAnnouncementSig is node_announcement_sig_req: sign_hash of
// SHA256d(announcement after its signature) with the node key. The policy
// first checks that it is a well-formed node_announcement of our node.
func (e *Engine) handleNodeAnnouncementSig(c Client, req *hsmproto.NodeAnnouncementSigReq) (hsmproto.Message, error) {
	t := req.MsgType()
	if len(req.Announcement) < keys.NodeAnnouncementSigned {
		return nil, badRequest(c, t, "Node announcement too short")
	}
	if peekType(req.Announcement) != wireNodeAnnouncement {
		return nil, badRequest(c, t, "Invalid announcement")
	}
	if err := e.checkPolicy(c, t, func() *policy.Violation {
		return policy.CheckNodeAnnouncement(req.Announcement, e.ring.NodeID())
	}); err != nil {
		return nil, err
	}
	sig, err := e.ring.SignNodeAnnouncement(req.Announcement)
	if err != nil {
		return nil, keyFailure(t, err)
	}
	return &hsmproto.NodeAnnouncementSigReply{Signature: hsmproto.ECDSASignature(keys.CompactSig(sig))}, nil
}

// signCannouncement is handle_sign_cannouncement: the node signature and
// the funding-key signature of channel (peer, dbid) over SHA256d(the
// announcement after its four signatures).
func (e *Engine) signCannouncement(c Client, t uint16, peer [33]byte, dbid uint64, ca []byte) (node, bitcoin hsmproto.ECDSASignature, err error) {
	if len(ca) < keys.ChannelAnnouncementSigned {
		return node, bitcoin, badRequest(c, t, "bad cannounce length %d", len(ca))
	}
	if peekType(ca) != wireChannelAnnouncement {
		return node, bitcoin, badRequest(c, t, "Invalid channel announcement")
	}
	if err := e.checkChannelAnnouncement(c, t, peer, dbid, ca); err != nil {
		return node, bitcoin, err
	}
	ns, bs, kerr := e.ring.SignChannelAnnouncement(peer, dbid, ca)
	if kerr != nil {
		return node, bitcoin, keyFailure(t, kerr)
	}
	return keys.CompactSig(ns), keys.CompactSig(bs), nil
}

// handleCannouncementSig is cannouncement_sig_req, from channeld: the
// channel is the client's own.
func (e *Engine) handleCannouncementSig(c Client, req *hsmproto.CannouncementSigReq) (hsmproto.Message, error) {
	peer, dbid := clientChannel(c)
	ns, bs, err := e.signCannouncement(c, req.MsgType(), peer, dbid, req.Ca)
	if err != nil {
		return nil, err
	}
	return &hsmproto.CannouncementSigReply{NodeSignature: ns, BitcoinSignature: bs}, nil
}

// handleSignAnyCannouncement is sign_any_cannouncement_req, from
// lightningd: the request names the channel.
func (e *Engine) handleSignAnyCannouncement(c Client, req *hsmproto.SignAnyCannouncementReq) (hsmproto.Message, error) {
	ns, bs, err := e.signCannouncement(c, req.MsgType(), req.Peerid, req.ChannelDBID, req.Ca)
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignAnyCannouncementReply{NodeSignature: ns, BitcoinSignature: bs}, nil
}

// handleCupdateSig is cupdate_sig_req: the node key signs SHA256d of every
// byte after the signature — trailing bytes included — and the reply is
// the channel_update re-serialised with the new signature, without those
// trailing bytes (so then the signature does not verify over the reply:
// CLN's behaviour, kept byte for byte). The inner message must parse as
// CLN parses a channel_update: type 258, a signature with r and s below
// the curve order, then every field through htlc_maximum_msat. The policy
// then checks that it is a well-formed channel_update of our chain.
func (e *Engine) handleCupdateSig(c Client, req *hsmproto.CupdateSigReq) (hsmproto.Message, error) {
	t := req.MsgType()
	cu := req.Cu
	if len(cu) < channelUpdateLen || peekType(cu) != wireChannelUpdate {
		return nil, badRequest(c, t, "Bad inner channel_update")
	}
	if _, err := keys.ParseCompactSig(cu[2:66]); err != nil {
		return nil, badRequest(c, t, "Bad inner channel_update")
	}
	if err := e.checkPolicy(c, t, e.withNetwork(func(n policy.Network) *policy.Violation {
		return policy.CheckChannelUpdate(cu, n)
	})); err != nil {
		return nil, err
	}
	sig, err := e.ring.SignChannelUpdate(cu)
	if err != nil {
		return nil, keyFailure(t, err)
	}
	out := make([]byte, channelUpdateLen)
	copy(out, cu[:channelUpdateLen])
	compact := keys.CompactSig(sig)
	copy(out[2:66], compact[:])
	return &hsmproto.CupdateSigReply{Cu: out}, nil
}
