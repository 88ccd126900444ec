package signer

import (
	"context"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/input"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// The channel life-cycle state checks (the stateCheck column of the route
// table, policy_state.go): revocation, the peer's signatures on our
// commitments, channel identity, the funding transaction and the
// cooperative close. Each builds its descriptor from the decoded request
// and the snapshot (deriving our public keys from the seed) and hands it to
// the pure check in package policy (channel.go).

// txidOf is a channel transaction's id (zero without a transaction).
func txidOf(btx *hsmproto.BitcoinTx) [32]byte {
	if btx.Tx == nil {
		return [32]byte{}
	}
	return btx.Tx.TxHash()
}

func stateNewChannel(_ *Engine, _ context.Context, _ Client, req *hsmproto.NewChannel, s Snapshot) *policy.Violation {
	if v := policy.CheckNewChannel(s.Channel, req.DBID, 0, false); v != nil {
		return v
	}
	// The highest forgotten dbid (new_channel is rare: a scan of copies).
	var high uint64
	forgotten := false
	for _, ch := range s.Channels() {
		if ch.Status == state.StatusForgotten {
			high, forgotten = max(high, ch.ID.DBID), true
		}
	}
	return policy.CheckNewChannel(nil, req.DBID, high, forgotten)
}

func stateSetupChannel(_ *Engine, _ context.Context, _ Client, req *hsmproto.SetupChannel, s Snapshot) *policy.Violation {
	// The setup the recorder would store, compared with the one stored.
	probe := &state.Channel{Status: state.StatusDeclared}
	recordSetupChannel(nil, Client{}, req, nil, probe, nil)
	return policy.CheckSetupChannel(s.Channel, probe.Setup)
}

func stateSignCommitmentTx(_ *Engine, _ context.Context, _ Client, req *hsmproto.SignCommitmentTx, s Snapshot) *policy.Violation {
	return policy.CheckSignHolderCommitment(s.Channel, req.CommitNum, txidOf(&req.Tx))
}

func stateRevokeCommitmentTx(_ *Engine, _ context.Context, _ Client, req *hsmproto.RevokeCommitmentTx, s Snapshot) *policy.Violation {
	return policy.CheckRevealHolderSecret(s.Channel, req.CommitNum)
}

// stateGetPerCommitmentPoint: below wire version 6 the reply reveals
// secret n−2, which obeys revoke_commitment_tx's rule.
func stateGetPerCommitmentPoint(e *Engine, _ context.Context, _ Client, req *hsmproto.GetPerCommitmentPoint, s Snapshot) *policy.Violation {
	if e.Version() >= 6 || req.N < 2 {
		return nil
	}
	return policy.CheckRevealHolderSecret(s.Channel, req.N-2)
}

func stateValidateRevocation(_ *Engine, _ context.Context, _ Client, req *hsmproto.ValidateRevocation, s Snapshot) *policy.Violation {
	return policy.CheckRevocationSecret(s.Channel, req.RevokeNum, [32]byte(req.PerCommitmentSecret))
}

func stateSignRemoteCommitmentTx(_ *Engine, _ context.Context, _ Client, req *hsmproto.SignRemoteCommitmentTx, s Snapshot) *policy.Violation {
	return policy.CheckSignCounterpartyCommitment(s.Channel, req.CommitNum, txidOf(&req.Tx))
}

// stateWithdrawalFunding: a withdrawal that funds a channel comes after
// that channel's first commitment was countersigned.
func stateWithdrawalFunding(_ *Engine, _ context.Context, _ Client, req *hsmproto.SignWithdrawal, s Snapshot) *policy.Violation {
	if req.Psbt == nil || req.Psbt.Packet == nil || req.Psbt.UnsignedTx == nil || s.store == nil {
		return nil
	}
	tx := req.Psbt.UnsignedTx
	return policy.CheckFundingCountersigned(tx.TxHash(), len(tx.TxOut), s.Channels())
}

// stateMutualClose: what the close pays us and the peer, against the last
// commitments.
func stateMutualClose(e *Engine, _ context.Context, _ Client, req *hsmproto.SignMutualCloseTx, s Snapshot) *policy.Violation {
	ch := s.Channel
	if closeDestinationsAuthorized(e, req, ch) {
		return policy.CheckMutualCloseNoPendingHTLCs(ch)
	}
	if req.Tx.Tx == nil || ch == nil || ch.Setup == nil {
		return policy.CheckMutualCloseState(ch, policy.MutualClose{})
	}
	upfront := ch.Setup.HolderShutdownScript
	var c policy.MutualClose
	spend := e.spendOfBitcoinTx(&req.Tx, 71)
	for _, o := range spend.Outputs {
		ours := o.Ours || o.Allowlisted
		if len(upfront) > 0 {
			ours = string(o.Script) == string(upfront)
			c.PaysUpfrontScript = c.PaysUpfrontScript || ours
		}
		if ours {
			c.OursSat += o.Value
		} else {
			c.TheirsSat += o.Value
		}
	}
	return policy.CheckMutualCloseState(ch, c)
}

// closeDestinationsAuthorized reports whether a close's destinations are
// the authorization's to decide (authorizeMutualClose): two or more
// outputs, none to our wallet or the allowlist, no upfront script. The
// operator then approved exactly these outputs (or the close was refused
// before this check), so which one is ours is unknown and only the
// pending HTLCs are checked. A single output is always held to our
// balance: it may be the peer's alone.
func closeDestinationsAuthorized(e *Engine, req *hsmproto.SignMutualCloseTx, ch *state.Channel) bool {
	if !e.authorizing() || (ch != nil && ch.Setup != nil && len(ch.Setup.HolderShutdownScript) > 0) {
		return false
	}
	spend := e.spendOfBitcoinTx(&req.Tx, 71)
	if len(spend.Outputs) < 2 {
		return false
	}
	for _, o := range spend.Outputs {
		if o.Ours || o.Allowlisted {
			return false
		}
	}
	return true
}

// stateValidateCommitmentTx verifies the peer's signatures on our
// commitment.
func stateValidateCommitmentTx(e *Engine, _ context.Context, _ Client, req *hsmproto.ValidateCommitmentTx, s Snapshot) *policy.Violation {
	return policy.CheckCommitmentSignatures(e.commitmentSignatures(s.Channel, req))
}

// commitmentSignatures builds the descriptor of the peer's signatures on
// our commitment n: the funding input's BIP143 hash (the 2-of-2 of our
// funding key and the peer's, the channel value from setup_channel, never
// the PSBT's) and, for each HTLC in output order, the HTLC-timeout (we
// offered it) or HTLC-success transaction BOLT 3 defines, spending that
// HTLC's output, with its hash (SIGHASH_SINGLE|ANYONECANPAY with anchors).
func (e *Engine) commitmentSignatures(ch *state.Channel, req *hsmproto.ValidateCommitmentTx) policy.CommitmentSignatures {
	d := policy.CommitmentSignatures{Num: req.CommitNum, HTLCSigs: len(req.HtlcSigs)}
	missing := func(why string) policy.CommitmentSignatures {
		d.Funding.Missing = why
		return d
	}
	tx := req.Tx.Tx
	switch {
	case ch == nil || ch.Setup == nil:
		return missing("the channel was never set up, so its funding keys are unknown")
	case tx == nil || len(tx.TxIn) != 1 || len(tx.TxOut) == 0:
		return missing("the commitment has not exactly one input and some outputs")
	}
	setup := ch.Setup
	ck, err := e.ring.Channel(ch.ID.Peer, ch.ID.DBID)
	if err != nil {
		return missing("the channel's keys cannot be derived")
	}
	theirFunding, err := btcec.ParsePubKey(setup.CounterpartyFundingPubkey[:])
	if err != nil {
		return missing("the peer's funding key is not a valid point")
	}
	ourFunding := ck.FundingPubKeyCompressed()
	hasher := newSigHasher(tx)
	hasher.outputs = req.Tx.SerializedOutputs()
	d.Funding = policy.Signature{
		Key:         theirFunding,
		Sighash:     hasher.witnessV0(0, fundingScript(ourFunding[:], setup.CounterpartyFundingPubkey[:]), setup.ChannelValueSat, hsmproto.SighashAll),
		Sig:         req.Sig.Sig,
		SighashType: req.Sig.SighashType,
		WantType:    hsmproto.SighashAll,
	}
	if len(req.Htlcs) == 0 {
		return d
	}
	k, err := e.holderCommitmentKeys(ch, req.CommitNum)
	if err != nil {
		d.HTLCs = make([]policy.Signature, len(req.Htlcs))
		for i := range d.HTLCs {
			d.HTLCs[i].Missing = "the commitment's keys cannot be derived: " + err.Error()
		}
		return d
	}
	anchors := setup.Anchors()
	commitTxid := tx.TxHash()
	secondLevel, err := input.SecondLevelHtlcScript(k.revocation, k.delayed, uint32(setup.CounterpartyToSelfDelay))
	if err != nil {
		return missing("the second-stage script cannot be built")
	}
	secondLevelPk, _ := input.WitnessScriptHash(secondLevel)
	used := make([]bool, len(tx.TxOut))
	for i, h := range req.Htlcs {
		sig := policy.Signature{Key: k.remoteHTLC, WantType: htlcSighash(anchors)}
		if i < len(req.HtlcSigs) {
			sig.Sig, sig.SighashType = req.HtlcSigs[i].Sig, req.HtlcSigs[i].SighashType
		}
		offered := h.Side == hsmproto.Local
		var ws []byte
		if offered {
			ws, err = input.SenderHTLCScript(k.localHTLC, k.remoteHTLC, k.revocation, h.PaymentHash[:], anchors)
		} else {
			ws, err = input.ReceiverHTLCScript(h.CltvExpiry, k.remoteHTLC, k.localHTLC, k.revocation, h.PaymentHash[:], anchors)
		}
		if err != nil {
			sig.Missing = "its script cannot be built"
			d.HTLCs = append(d.HTLCs, sig)
			continue
		}
		pk, _ := input.WitnessScriptHash(ws)
		vout := -1
		for j, o := range tx.TxOut {
			if !used[j] && string(o.PkScript) == string(pk) && uint64(o.Value) == uint64(h.Amount)/1000 {
				vout = j
				break
			}
		}
		if vout < 0 {
			sig.Missing = "the HTLC has no output in the commitment"
			d.HTLCs = append(d.HTLCs, sig)
			continue
		}
		used[vout] = true
		htx := secondStageTx(commitTxid, vout, tx.TxOut[vout].Value, offered, h.CltvExpiry, req.Feerate, setup, secondLevelPk)
		sig.Sighash = newSigHasher(htx).witnessV0(0, ws, uint64(tx.TxOut[vout].Value), uint32(sig.WantType))
		d.HTLCs = append(d.HTLCs, sig)
	}
	return d
}

// holderKeys are the public keys of our commitment n (BOLT 3 key
// derivation at our per-commitment point n).
type holderKeys struct {
	revocation, localHTLC, remoteHTLC, delayed *btcec.PublicKey
}

func (e *Engine) holderCommitmentKeys(ch *state.Channel, n uint64) (holderKeys, error) {
	var k holderKeys
	ck, err := e.ring.Channel(ch.ID.Peer, ch.ID.DBID)
	if err != nil {
		return k, err
	}
	point, err := ck.PerCommitmentPoint(n)
	if err != nil {
		return k, err
	}
	ours := ck.Basepoints()
	theirRevocation, err := btcec.ParsePubKey(ch.Setup.CounterpartyBasepoints[0][:])
	if err != nil {
		return k, err
	}
	theirHTLC, err := btcec.ParsePubKey(ch.Setup.CounterpartyBasepoints[2][:])
	if err != nil {
		return k, err
	}
	if k.revocation, err = e.derive.RevocationPubKey(theirRevocation, point); err != nil {
		return k, err
	}
	if k.localHTLC, err = e.derive.SimplePubKey(ours.HTLC, point); err != nil {
		return k, err
	}
	if k.remoteHTLC, err = e.derive.SimplePubKey(theirHTLC, point); err != nil {
		return k, err
	}
	k.delayed, err = e.derive.SimplePubKey(ours.DelayedPayment, point)
	return k, err
}

// BOLT 3 second-stage weights: HTLC-timeout and HTLC-success, and with
// option_anchor_outputs (not zero-fee) their 1-CSV variants.
const (
	htlcTimeoutWeight        = 663
	htlcSuccessWeight        = 703
	htlcTimeoutWeightAnchors = 666
	htlcSuccessWeightAnchors = 706
)

// secondStageTx is BOLT 3's HTLC-timeout (offered by the holder) or
// HTLC-success transaction spending output vout (value sat) of commitment
// txid: version 2, locktime cltv_expiry or 0, sequence 0 (1 with
// anchors), one output of the HTLC's value less its fee (none with
// zero-fee anchors) to the second-stage script.
func secondStageTx(txid [32]byte, vout int, sat int64, offered bool, cltv, feerate uint32, setup *state.Setup, pkScript []byte) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: txid, Index: uint32(vout)}, nil, nil)
	in.Sequence = 0
	if setup.Anchors() {
		in.Sequence = 1
	}
	tx.AddTxIn(in)
	weight := int64(htlcSuccessWeight)
	if offered {
		tx.LockTime = cltv
		weight = htlcTimeoutWeight
	}
	if setup.Anchors() {
		weight += htlcTimeoutWeightAnchors - htlcTimeoutWeight
	}
	if !setup.ZeroFeeAnchors() {
		sat -= int64(feerate) * weight / 1000
	}
	tx.AddTxOut(wire.NewTxOut(sat, pkScript))
	return tx
}
