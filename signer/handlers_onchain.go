package signer

import (
	"errors"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// Sweeps after a channel closed on chain. onchaind asks for its own
// channel (sign_delayed_payment_to_us, sign_remote_htlc_to_us,
// sign_penalty_to_us); lightningd asks on onchaind's behalf, naming the
// channel and the input in the message (the sign_any_* forms, and
// sign_any_local_htlc_tx for our own HTLC transactions).
//
// hsmd checks only that the transaction has exactly one input (and that
// the named input exists); it does not check the output goes to our wallet
// (its FIXME).

// handleSignDelayedPaymentToUs is sign_delayed_payment_to_us: our to_local
// output (or an HTLC transaction's output) on our commitment n, with the
// delayed-payment key at our point n.
func (e *Engine) handleSignDelayedPaymentToUs(c Client, req *hsmproto.SignDelayedPaymentToUs) (hsmproto.Message, error) {
	peer, dbid := clientChannel(c)
	return e.signDelayedPaymentToUs(c, req.MsgType(), peer, dbid, req.CommitNum, &req.Tx, req.Wscript, 0)
}

// handleSignAnyDelayedPaymentToUs is sign_any_delayed_payment_to_us, the
// same for the channel lightningd names.
func (e *Engine) handleSignAnyDelayedPaymentToUs(c Client, req *hsmproto.SignAnyDelayedPaymentToUs) (hsmproto.Message, error) {
	return e.signDelayedPaymentToUs(c, req.MsgType(), req.Peerid, req.ChannelDBID, req.CommitNum, &req.Tx, req.Wscript, req.Input)
}

func (e *Engine) signDelayedPaymentToUs(c Client, t uint16, peer [33]byte, dbid, commitNum uint64, btx *hsmproto.BitcoinTx, wscript []byte, input uint32) (hsmproto.Message, error) {
	ck, err := e.channelKeys(t, peer, dbid)
	if err != nil {
		return nil, err
	}
	point, err := ck.PerCommitmentPoint(commitNum)
	if err != nil {
		return nil, commitmentFailure(c, t, err, "bad per_commitment_point %d", commitNum)
	}
	key, err := ck.DelayedPaymentKey(point)
	if err != nil {
		return nil, derivationFailure(c, t, err, "failed deriving privkey")
	}
	defer key.Wipe()
	return signToUs(c, t, btx, input, key, wscript, hsmproto.SighashAll)
}

// handleSignRemoteHtlcToUs is sign_remote_htlc_to_us: an HTLC output of
// the peer's commitment that pays us (we have the preimage, or it timed
// out), with our HTLC key at the peer's point. With anchors the signature
// is SIGHASH_SINGLE|ANYONECANPAY, although this transaction is ours alone:
// hsmd uses htlcSighash here too, and the vectors show it.
func (e *Engine) handleSignRemoteHtlcToUs(c Client, req *hsmproto.SignRemoteHtlcToUs) (hsmproto.Message, error) {
	peer, dbid := clientChannel(c)
	return e.signRemoteHtlcToUs(c, req.MsgType(), peer, dbid, req.RemotePerCommitmentPoint, &req.Tx, req.Wscript, req.OptionAnchorOutputs, 0)
}

// handleSignAnyRemoteHtlcToUs is sign_any_remote_htlc_to_us, the same for
// the channel lightningd names.
func (e *Engine) handleSignAnyRemoteHtlcToUs(c Client, req *hsmproto.SignAnyRemoteHtlcToUs) (hsmproto.Message, error) {
	return e.signRemoteHtlcToUs(c, req.MsgType(), req.Peerid, req.ChannelDBID, req.RemotePerCommitmentPoint, &req.Tx, req.Wscript, req.OptionAnchorOutputs, req.Input)
}

func (e *Engine) signRemoteHtlcToUs(c Client, t uint16, peer [33]byte, dbid uint64, remotePoint hsmproto.Pubkey, btx *hsmproto.BitcoinTx, wscript []byte, anchors bool, input uint32) (hsmproto.Message, error) {
	ck, err := e.channelKeys(t, peer, dbid)
	if err != nil {
		return nil, err
	}
	point, err := e.point(remotePoint)
	if err != nil {
		return nil, badRequest(c, t, "Failed deriving htlc privkey")
	}
	key, err := ck.HTLCKey(point)
	if err != nil {
		return nil, derivationFailure(c, t, err, "Failed deriving htlc privkey")
	}
	defer key.Wipe()
	return signToUs(c, t, btx, input, key, wscript, htlcSighash(anchors))
}

// handleSignPenaltyToUs is sign_penalty_to_us (channeld's watchtower): an
// output of the peer's revoked commitment, with the revocation key made
// from the secret the peer revealed.
func (e *Engine) handleSignPenaltyToUs(c Client, req *hsmproto.SignPenaltyToUs) (hsmproto.Message, error) {
	peer, dbid := clientChannel(c)
	return e.signPenaltyToUs(c, req.MsgType(), peer, dbid, req.RevocationSecret, &req.Tx, req.Wscript, 0)
}

// handleSignAnyPenaltyToUs is sign_any_penalty_to_us, the same for the
// channel lightningd names.
func (e *Engine) handleSignAnyPenaltyToUs(c Client, req *hsmproto.SignAnyPenaltyToUs) (hsmproto.Message, error) {
	return e.signPenaltyToUs(c, req.MsgType(), req.Peerid, req.ChannelDBID, req.RevocationSecret, &req.Tx, req.Wscript, req.Input)
}

func (e *Engine) signPenaltyToUs(c Client, t uint16, peer [33]byte, dbid uint64, revocationSecret hsmproto.Secret, btx *hsmproto.BitcoinTx, wscript []byte, input uint32) (hsmproto.Message, error) {
	secret := keys.Secret(revocationSecret)
	defer secret.Wipe()
	// pubkey_from_secret: the secret must be a valid private key.
	if k, err := keys.PrivKeyFromBytes(secret[:]); err != nil {
		return nil, badRequest(c, t, "Failed deriving pubkey")
	} else {
		k.Wipe()
	}
	ck, err := e.channelKeys(t, peer, dbid)
	if err != nil {
		return nil, err
	}
	key, err := ck.RevocationKey(secret)
	if err != nil {
		return nil, derivationFailure(c, t, err, "Failed deriving revocation privkey")
	}
	defer key.Wipe()
	return signToUs(c, t, btx, input, key, wscript, hsmproto.SighashAll)
}

// handleSignAnyLocalHtlcTx is sign_any_local_htlc_tx: our HTLC signature on
// our own second-stage HTLC transaction (commitment n), for the channel
// lightningd names; with anchors SIGHASH_SINGLE|ANYONECANPAY, so that
// lightningd can add fee inputs (sign_htlc_tx_mingle signs those).
func (e *Engine) handleSignAnyLocalHtlcTx(c Client, req *hsmproto.SignAnyLocalHtlcTx) (hsmproto.Message, error) {
	t := req.MsgType()
	n := txInputs(&req.Tx)
	if uint64(req.Input) >= uint64(n) {
		return nil, badRequest(c, t, "bad input %d of %d", req.Input, n)
	}
	ck, err := e.channelKeys(t, req.Peerid, req.ChannelDBID)
	if err != nil {
		return nil, err
	}
	point, err := ck.PerCommitmentPoint(req.CommitNum)
	if err != nil {
		return nil, commitmentFailure(c, t, err, "bad per_commitment_point %d", req.CommitNum)
	}
	key, err := ck.HTLCKey(point)
	if err != nil {
		return nil, derivationFailure(c, t, err, "Failed deriving htlc privkey")
	}
	defer key.Wipe()
	if n != 1 {
		return nil, badRequest(c, t, "bad txinput count")
	}
	sig, err := signTxInput(t, &req.Tx, int(req.Input), req.Wscript, key, htlcSighash(req.OptionAnchorOutputs))
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignTxReply{Sig: sig}, nil
}

// signToUs is handle_sign_to_us_tx: the named input must exist and be the
// transaction's only one; input 0 is signed.
func signToUs(c Client, t uint16, btx *hsmproto.BitcoinTx, input uint32, key *keys.PrivateKey, wscript []byte, sighashType uint8) (hsmproto.Message, error) {
	n := txInputs(btx)
	if uint64(input) >= uint64(n) {
		return nil, badRequest(c, t, "bad input %d of %d", input, n)
	}
	if n != 1 {
		return nil, badRequest(c, t, "bad txinput count")
	}
	sig, err := signTxInput(t, btx, 0, wscript, key, sighashType)
	if err != nil {
		return nil, err
	}
	return &hsmproto.SignTxReply{Sig: sig}, nil
}

// derivationFailure is hsmd's bad request for a per-commitment key it
// cannot derive (a tweak out of range: practically impossible), or
// keyFailure for a wiped key ring.
func derivationFailure(c Client, t uint16, err error, reason string) error {
	if errors.Is(err, keys.ErrWiped) {
		return keyFailure(t, err)
	}
	return badRequest(c, t, "%s", reason)
}
