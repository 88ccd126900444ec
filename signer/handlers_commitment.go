package signer

import (
	"errors"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// Commitment transactions and revocation: the peer's commitment and HTLC
// transactions (openingd, dualopend, channeld), our own commitment when
// lightningd force-closes, and the per-commitment secrets of
// validate_commitment_tx / revoke_commitment_tx.
//
// CLN's hsmd signs whatever commitment it is given (it checks only the
// input and output counts) and keeps no channel state: validate_* only
// parse, and revoke_commitment_tx reveals the secret it is asked for.

// handleSignRemoteCommitmentTx is sign_remote_commitment_tx: the funding
// signature on the peer's commitment transaction, for the client's channel.
// The HTLC list, feerate, commitment number and remote point are parsed
// and not used, as in hsmd.
func (e *Engine) handleSignRemoteCommitmentTx(c Client, req *hsmproto.SignRemoteCommitmentTx) (hsmproto.Message, error) {
	t := req.MsgType()
	if err := commitmentShape(c, t, &req.Tx); err != nil {
		return nil, err
	}
	peer, dbid := clientChannel(c)
	sig, err := e.signFundingInput(t, peer, dbid, &req.Tx, 0, req.RemoteFundingKey)
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignTxReply{Sig: sig}, nil
}

// handleSignCommitmentTx is sign_commitment_tx: lightningd asks for the
// funding signature on our own commitment (to broadcast it), naming the
// channel in the message.
func (e *Engine) handleSignCommitmentTx(c Client, req *hsmproto.SignCommitmentTx) (hsmproto.Message, error) {
	t := req.MsgType()
	if err := commitmentShape(c, t, &req.Tx); err != nil {
		return nil, err
	}
	sig, err := e.signFundingInput(t, req.PeerID, req.ChannelDBID, &req.Tx, 0, req.RemoteFundingKey)
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignCommitmentTxReply{Sig: sig}, nil
}

// commitmentShape is hsmd's "basic sanity checks" of a commitment
// transaction: one input, at least one output.
func commitmentShape(c Client, t uint16, btx *hsmproto.BitcoinTx) error {
	if btx.Tx == nil || len(btx.Tx.TxIn) != 1 {
		return badRequest(c, t, "tx must have 1 input")
	}
	if len(btx.Tx.TxOut) == 0 {
		return badRequest(c, t, "tx must have > 0 outputs")
	}
	return nil
}

// handleSignRemoteHtlcTx is sign_remote_htlc_tx: our HTLC signature on
// the peer's second-stage HTLC transaction (input 0), with our HTLC key at
// the peer's per-commitment point; SIGHASH_SINGLE|ANYONECANPAY with
// anchors. hsmd checks nothing about the transaction.
func (e *Engine) handleSignRemoteHtlcTx(c Client, req *hsmproto.SignRemoteHtlcTx) (hsmproto.Message, error) {
	t := req.MsgType()
	peer, dbid := clientChannel(c)
	ck, err := e.channelKeys(t, peer, dbid)
	if err != nil {
		return nil, err
	}
	point, err := e.point(req.RemotePerCommitPoint)
	if err != nil {
		return nil, badRequest(c, t, "Failed deriving htlc privkey")
	}
	key, err := ck.HTLCKey(point)
	if err != nil {
		return nil, badRequest(c, t, "Failed deriving htlc privkey")
	}
	defer key.Wipe()
	sig, err := signTxInput(t, &req.Tx, 0, req.Wscript, key, htlcSighash(req.OptionAnchorOutputs))
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignTxReply{Sig: sig}, nil
}

// handleValidateCommitmentTx is validate_commitment_tx: the peer signed our
// next commitment. hsmd's stub checks nothing (channeld verified the
// signatures) and returns the point of commitment n+1 and no old secret,
// whatever the negotiated version: the secret is revealed only by
// revoke_commitment_tx.
func (e *Engine) handleValidateCommitmentTx(c Client, req *hsmproto.ValidateCommitmentTx) (hsmproto.Message, error) {
	t := req.MsgType()
	peer, dbid := clientChannel(c)
	ck, err := e.channelKeys(t, peer, dbid)
	if err != nil {
		return nil, err
	}
	// commit_num+1 wraps at 2^64 as hsmd's u64 does.
	next, err := perCommitmentPoint(c, t, ck, req.CommitNum+1)
	if err != nil {
		return nil, err
	}
	return &hsmproto.ValidateCommitmentTxReply{NextPerCommitmentPoint: next}, nil
}

// handleValidateRevocation is validate_revocation: the peer revealed the
// secret of its commitment n. hsmd only parses it (channeld checked it).
func (e *Engine) handleValidateRevocation(c Client, req *hsmproto.ValidateRevocation) (hsmproto.Message, error) {
	return &hsmproto.ValidateRevocationReply{}, nil
}

// handleRevokeCommitmentTx is revoke_commitment_tx: revoke our commitment
// n, returning its per-commitment secret and the point of commitment n+2
// (the peer already has n+1's). hsmd derives the point first, so a point
// beyond the shachain refuses the request before any secret is derived.
func (e *Engine) handleRevokeCommitmentTx(c Client, req *hsmproto.RevokeCommitmentTx) (hsmproto.Message, error) {
	t := req.MsgType()
	peer, dbid := clientChannel(c)
	ck, err := e.channelKeys(t, peer, dbid)
	if err != nil {
		return nil, err
	}
	// One shachain walk for both; on failure, the two derivations in
	// hsmd's order say which refusal it is.
	secret, point, err := ck.PerCommitmentSecretAndPoint(req.CommitNum, req.CommitNum+2)
	if err != nil {
		if _, err := perCommitmentPoint(c, t, ck, req.CommitNum+2); err != nil {
			return nil, err
		}
		s, err2 := ck.PerCommitmentSecret(req.CommitNum)
		if err2 != nil {
			return nil, commitmentFailure(c, t, err2, "Cannot derive secret %d", req.CommitNum)
		}
		s.Wipe()
		return nil, keyFailure(t, err)
	}
	defer secret.Wipe()
	return &hsmproto.RevokeCommitmentTxReply{OldCommitmentSecret: hsmproto.Secret(secret), NextPerCommitmentPoint: hsmproto.PubkeyFrom(point)}, nil
}

// perCommitmentPoint is per_commit_point(shaseed, n), refused as hsmd does
// for n ≥ 2^48 ("bad per_commit_point").
func perCommitmentPoint(c Client, t uint16, ck *keys.ChannelKeys, n uint64) (hsmproto.Pubkey, error) {
	p, err := ck.PerCommitmentPoint(n)
	if err != nil {
		return hsmproto.Pubkey{}, commitmentFailure(c, t, err, "bad per_commit_point %d", n)
	}
	return hsmproto.PubkeyFrom(p), nil
}

// commitmentFailure turns a per-commitment derivation error into hsmd's
// bad request (an index beyond the shachain), or keyFailure for a wiped
// key ring.
func commitmentFailure(c Client, t uint16, err error, format string, args ...any) error {
	if errors.Is(err, keys.ErrWiped) {
		return keyFailure(t, err)
	}
	return badRequest(c, t, format, args...)
}
