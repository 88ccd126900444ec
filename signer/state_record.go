package signer

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/curve"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// What the engine remembers (with WithState): the requests that change a
// channel's or the node's state, which channel each names, and the change.
// A recorded request is answered and its change committed (fsynced) under
// the channel's lock, before Handle returns the reply; the handlers
// themselves never see the store. Nothing here refuses a request: this is
// memory, not policy (a secret that does not match is simply not kept).
// Without WithState the engine is stateless, as CLN's hsmd.

// WithState makes the engine remember channel and node state in st.
func WithState(st *state.Store) Option {
	return func(o *engineOptions) { o.state = st }
}

// State is the engine's store, nil for a stateless engine.
func (e *Engine) State() *state.Store { return e.state }

// recorder is one row of the recorders table.
type recorder struct {
	// channel names the channel a request changes; nil for node-wide
	// state only.
	channel func(c Client, m hsmproto.Message) state.ChannelID
	// node is set when the request changes node-wide state too.
	node bool
	// apply records an answered request in ch and n (either may be nil
	// when not asked for).
	apply func(e *Engine, c Client, m, reply hsmproto.Message, ch *state.Channel, n *state.Node)
}

// ofClient: the channel of the client's connection (channeld, openingd…).
func ofClient(c Client, _ hsmproto.Message) state.ChannelID {
	peer, dbid := clientChannel(c)
	return state.ChannelID{Peer: peer, DBID: dbid}
}

// record builds a recorder whose apply takes the request's and reply's own
// types.
func record[M, R hsmproto.Message](channel func(Client, hsmproto.Message) state.ChannelID, node bool, fn func(e *Engine, c Client, req M, reply R, ch *state.Channel, n *state.Node)) recorder {
	return recorder{channel: channel, node: node, apply: func(e *Engine, c Client, m, reply hsmproto.Message, ch *state.Channel, n *state.Node) {
		req, ok1 := m.(M)
		rep, ok2 := reply.(R)
		// A forgotten channel's tombstone never changes again.
		if ch != nil && ch.Status == state.StatusForgotten {
			return
		}
		if ok1 && ok2 {
			fn(e, c, req, rep, ch, n)
		}
	}}
}

// recorders: every request whose answer changes what the signer remembers.
var recorders = map[uint16]recorder{
	hsmproto.TypeNewChannel: record(func(_ Client, m hsmproto.Message) state.ChannelID {
		req := m.(*hsmproto.NewChannel)
		return state.ChannelID{Peer: req.ID, DBID: req.DBID}
	}, true, recordNewChannel),
	hsmproto.TypeSetupChannel:           record(ofClient, false, recordSetupChannel),
	hsmproto.TypeGetPerCommitmentPoint:  record(ofClient, false, recordGetPerCommitmentPoint),
	hsmproto.TypeSignRemoteCommitmentTx: record(ofClient, false, recordSignRemoteCommitmentTx),
	hsmproto.TypeValidateCommitmentTx:   record(ofClient, false, recordValidateCommitmentTx),
	hsmproto.TypeValidateRevocation:     record(ofClient, false, recordValidateRevocation),
	hsmproto.TypeRevokeCommitmentTx:     record(ofClient, false, recordRevokeCommitmentTx),
	hsmproto.TypeLockOutpoint:           record(ofClient, false, recordLockOutpoint),
	hsmproto.TypeSignMutualCloseTx:      record(ofClient, false, recordClosing[*hsmproto.SignMutualCloseTx]),
	hsmproto.TypeSignCommitmentTx: record(func(_ Client, m hsmproto.Message) state.ChannelID {
		req := m.(*hsmproto.SignCommitmentTx)
		return state.ChannelID{Peer: req.PeerID, DBID: req.ChannelDBID}
	}, false, recordClosing[*hsmproto.SignCommitmentTx]),
	hsmproto.TypeForgetChannel: record(func(_ Client, m hsmproto.Message) state.ChannelID {
		req := m.(*hsmproto.ForgetChannel)
		return state.ChannelID{Peer: req.ID, DBID: req.DBID}
	}, false, recordForgetChannel),
	hsmproto.TypeCheckPubkey: record(nil, true, recordCheckPubkey),

	hsmproto.TypePreapproveInvoice: record(nil, true, func(e *Engine, _ Client, req *hsmproto.PreapproveInvoice, reply *hsmproto.PreapproveInvoiceReply, _ *state.Channel, n *state.Node) {
		e.recordInvoice(req.Invstring, reply.Approved, n)
	}),
	hsmproto.TypePreapproveInvoiceCheck: record(nil, true, func(e *Engine, _ Client, req *hsmproto.PreapproveInvoiceCheck, reply *hsmproto.PreapproveInvoiceReply, _ *state.Channel, n *state.Node) {
		e.recordInvoice(req.Invstring, reply.Approved && !req.CheckOnly, n)
	}),
	hsmproto.TypePreapproveKeysend: record(nil, true, func(e *Engine, _ Client, req *hsmproto.PreapproveKeysend, reply *hsmproto.PreapproveKeysendReply, _ *state.Channel, n *state.Node) {
		e.recordKeysend(req.PaymentHash, uint64(req.AmountMsat), reply.Approved, n)
	}),
	hsmproto.TypePreapproveKeysendCheck: record(nil, true, func(e *Engine, _ Client, req *hsmproto.PreapproveKeysendCheck, reply *hsmproto.PreapproveKeysendReply, _ *state.Channel, n *state.Node) {
		e.recordKeysend(req.PaymentHash, uint64(req.AmountMsat), reply.Approved && !req.CheckOnly, n)
	}),
}

// errNotAnswered aborts a state update whose request was refused.
var errNotAnswered = errors.New("request not answered")

// answer runs r's handler for m and, with a store, records the change the
// answer makes and commits it before returning the reply.
func (e *Engine) answer(ctx context.Context, c Client, r route, m hsmproto.Message) (hsmproto.Message, error) {
	if e.state == nil {
		return r.handle(e, c, m)
	}
	rec, ok := recorders[m.MsgType()]
	if err := e.frozen(c, m, rec, ok); err != nil {
		return nil, err
	}
	if !ok {
		if err := e.checkState(ctx, c, r, m, Snapshot{}); err != nil {
			return nil, err
		}
		return r.handle(e, c, m)
	}
	var reply hsmproto.Message
	var handleErr error
	fn := func(ch *state.Channel, n *state.Node) error {
		if handleErr = e.checkState(ctx, c, r, m, Snapshot{Channel: ch, Node: n}); handleErr != nil {
			return errNotAnswered
		}
		reply, handleErr = r.handle(e, c, m)
		if handleErr != nil {
			return errNotAnswered
		}
		rec.apply(e, c, m, reply, ch, n)
		return nil
	}
	var err error
	switch {
	case rec.channel != nil && rec.node:
		err = e.state.UpdateChannelAndNode(ctx, rec.channel(c, m), fn)
	case rec.channel != nil:
		err = e.state.UpdateChannel(ctx, rec.channel(c, m), func(ch *state.Channel) error { return fn(ch, nil) })
	default:
		err = e.state.UpdateNode(ctx, func(n *state.Node) error { return fn(nil, n) })
	}
	if handleErr != nil {
		return nil, handleErr
	}
	if errors.Is(err, state.ErrFrozen) {
		return nil, &RefusalError{MsgType: m.MsgType(), Reason: err.Error(), Err: err}
	}
	if err != nil {
		return nil, &RefusalError{MsgType: m.MsgType(), Reason: "the signer could not record the channel state", Err: err}
	}
	return reply, nil
}

func recordNewChannel(_ *Engine, _ Client, req *hsmproto.NewChannel, _ *hsmproto.NewChannelReply, ch *state.Channel, n *state.Node) {
	n.DBIDHighWater = max(n.DBIDHighWater, req.DBID)
	if ch.Status == state.StatusUnknown {
		ch.Status = state.StatusDeclared
	}
}

func recordSetupChannel(_ *Engine, _ Client, req *hsmproto.SetupChannel, _ *hsmproto.SetupChannelReply, ch *state.Channel, _ *state.Node) {
	s := &state.Setup{
		IsOutbound:                 req.IsOutbound,
		ChannelValueSat:            uint64(req.ChannelValue),
		PushMsat:                   uint64(req.PushValue),
		FundingTxid:                req.FundingTxid,
		FundingVout:                req.FundingTxout,
		HolderToSelfDelay:          req.LocalToSelfDelay,
		HolderShutdownScript:       append([]byte(nil), req.LocalShutdownScript...),
		CounterpartyFundingPubkey:  req.RemoteFundingPubkey,
		CounterpartyToSelfDelay:    req.RemoteToSelfDelay,
		CounterpartyShutdownScript: append([]byte(nil), req.RemoteShutdownScript...),
		ChannelType:                append([]byte(nil), req.ChannelType.Features...),
		CounterpartyBasepoints: [4][33]byte{
			req.RemoteBasepoints.Revocation, req.RemoteBasepoints.Payment,
			req.RemoteBasepoints.Htlc, req.RemoteBasepoints.DelayedPayment,
		},
	}
	if req.LocalShutdownWalletIndex != nil {
		i := *req.LocalShutdownWalletIndex
		s.HolderShutdownWalletIndex = &i
	}
	ch.Setup = s
	if ch.Status < state.StatusOpen {
		ch.Status = state.StatusOpen
	}
}

func recordGetPerCommitmentPoint(_ *Engine, _ Client, req *hsmproto.GetPerCommitmentPoint, reply *hsmproto.GetPerCommitmentPointReply, ch *state.Channel, _ *state.Node) {
	if req.N+1 > ch.HolderPointNext {
		ch.HolderPointNext = req.N + 1
	}
	// Below wire version 6 the reply reveals secret n−2: commitment n−2
	// is revoked.
	if reply.OldCommitmentSecret != nil && req.N-1 > ch.HolderRevokedNext {
		ch.HolderRevokedNext = req.N - 1
	}
}

func recordSignRemoteCommitmentTx(e *Engine, c Client, req *hsmproto.SignRemoteCommitmentTx, _ *hsmproto.SignTxReply, ch *state.Channel, _ *state.Node) {
	cm := &state.Commitment{
		Num:                req.CommitNum,
		FeeratePerKw:       req.Feerate,
		PerCommitmentPoint: req.RemotePerCommit,
		HTLCs:              htlcsOf(req.Htlcs),
	}
	if req.Tx.Tx != nil {
		cm.Txid = req.Tx.Tx.TxHash()
		// Our output on their commitment is to_remote, to our payment key.
		if ch.Setup != nil {
			if script := e.ourToRemoteScript(ch, req.OptionStaticRemotekey); script != nil {
				ours, theirs := splitOutputs(req.Tx.Tx, script, ch.Setup.Anchors(), cm.HTLCs)
				cm.HolderSat, cm.CounterpartySat, cm.BalancesKnown = ours, theirs, true
			}
		}
	}
	switch last := ch.LastCounterparty; {
	case last == nil || req.CommitNum > last.Num:
		ch.PrevCounterparty, ch.LastCounterparty = last, cm
	case req.CommitNum == last.Num:
		ch.LastCounterparty = cm
	case ch.PrevCounterparty != nil && req.CommitNum == ch.PrevCounterparty.Num:
		ch.PrevCounterparty = cm
	}
	ch.CounterpartyCommitNum = max(ch.CounterpartyCommitNum, req.CommitNum)
}

// ourToRemoteScript is the script of our to_remote output on the
// counterparty's commitment (nil if it cannot be told): to our payment
// basepoint with static_remotekey or anchors; without, to a key tweaked
// by their point, and then it is the commitment's only P2WPKH output
// (toRemoteAnyP2WPKH), which saves deriving the key.
func (e *Engine) ourToRemoteScript(ch *state.Channel, static bool) []byte {
	if !static && !ch.Setup.StaticRemoteKey() {
		return toRemoteAnyP2WPKH
	}
	ck, err := e.ring.Channel(ch.ID.Peer, ch.ID.DBID)
	if err != nil {
		return nil
	}
	return toRemoteScript([33]byte(ck.Basepoints().Payment.SerializeCompressed()), ch.Setup.Anchors())
}

func recordValidateCommitmentTx(_ *Engine, _ Client, req *hsmproto.ValidateCommitmentTx, _ *hsmproto.ValidateCommitmentTxReply, ch *state.Channel, _ *state.Node) {
	cm := &state.Commitment{Num: req.CommitNum, FeeratePerKw: req.Feerate, HTLCs: htlcsOf(req.Htlcs)}
	if req.Tx.Tx != nil {
		cm.Txid = req.Tx.Tx.TxHash()
		// Their output on our commitment is to_remote, to their payment
		// basepoint (static_remotekey, anchors), or else the only P2WPKH.
		if s := ch.Setup; s != nil {
			script := toRemoteAnyP2WPKH
			if s.StaticRemoteKey() {
				script = toRemoteScript(s.CounterpartyBasepoints[1], s.Anchors())
			}
			theirs, ours := splitOutputs(req.Tx.Tx, script, s.Anchors(), cm.HTLCs)
			cm.HolderSat, cm.CounterpartySat, cm.BalancesKnown = ours, theirs, true
		}
	}
	if ch.LastHolder == nil || req.CommitNum >= ch.LastHolder.Num {
		ch.LastHolder = cm
	}
	ch.HolderCommitNum = max(ch.HolderCommitNum, req.CommitNum)
}

// toRemoteAnyP2WPKH stands for "the P2WPKH output" in splitOutputs: a
// BOLT 3 commitment without anchors has one, to_remote (to_local, HTLC
// and anchor outputs are P2WSH).
var toRemoteAnyP2WPKH = []byte{0x00, 0x14}

// toRemoteScript is the output script of a to_remote output paying the
// compressed key pub: P2WPKH, or with anchors P2WSH of <key>
// OP_CHECKSIGVERIFY 1 OP_CSV.
func toRemoteScript(pub [33]byte, anchors bool) []byte {
	if !anchors {
		return append([]byte{0x00, 0x14}, btcutil.Hash160(pub[:])...)
	}
	ws := append(append([]byte{0x21}, pub[:]...), 0xad, 0x51, 0xb2)
	h := sha256.Sum256(ws)
	return append([]byte{0x00, 0x20}, h[:]...)
}

// anchorSat is an anchor output's value.
const anchorSat = 330

// splitOutputs reads a commitment's two balances from its outputs: the
// to_remote output is the one paying toRemote (for toRemoteAnyP2WPKH, the
// P2WPKH one); anchors (330 sat with
// anchors) and HTLC outputs (one per untrimmed HTLC, told apart by amount)
// are set aside; what is left is to_local.
func splitOutputs(tx *wire.MsgTx, toRemote []byte, anchors bool, htlcs []state.HTLC) (toRemoteSat, toLocalSat uint64) {
	used := make([]bool, len(tx.TxOut))
	for i, o := range tx.TxOut {
		if string(o.PkScript) == string(toRemote) ||
			(len(toRemote) == 2 && len(o.PkScript) == 22 && string(o.PkScript[:2]) == string(toRemote)) {
			toRemoteSat, used[i] = uint64(o.Value), true
			break
		}
	}
	for _, h := range htlcs {
		for i, o := range tx.TxOut {
			if !used[i] && uint64(o.Value) == h.AmountMsat/1000 {
				used[i] = true
				break
			}
		}
	}
	for i, o := range tx.TxOut {
		if used[i] || (anchors && o.Value == anchorSat) || o.Value < 0 {
			continue
		}
		toLocalSat += uint64(o.Value)
	}
	return toRemoteSat, toLocalSat
}

func htlcsOf(hs []hsmproto.HsmHtlc) []state.HTLC {
	if len(hs) == 0 {
		return nil
	}
	out := make([]state.HTLC, len(hs))
	for i, h := range hs {
		out[i] = state.HTLC{Offered: h.Side == hsmproto.Local, AmountMsat: uint64(h.Amount), PaymentHash: h.PaymentHash, CltvExpiry: h.CltvExpiry}
	}
	return out
}

// recordValidateRevocation keeps the counterparty's secret of commitment
// n, if it is the point we signed commitment n with (when we still know
// that point) and the next one in shachain order. An odd commitment's
// secret is checked by compact storage itself against the earlier ones
// (state.Secrets.HashChecked), which costs hashes, not a point; and where
// the policy enforces TagCommitmentPreviousRevoked, it has checked the
// point already (stateValidateRevocation) and refused a mismatch.
func recordValidateRevocation(e *Engine, _ Client, req *hsmproto.ValidateRevocation, _ *hsmproto.ValidateRevocationReply, ch *state.Channel, _ *state.Node) {
	if !ch.Secrets.HashChecked(req.RevokeNum) && !e.enforces(policy.TagCommitmentPreviousRevoked) {
		for _, cm := range []*state.Commitment{ch.LastCounterparty, ch.PrevCounterparty} {
			if cm == nil || cm.Num != req.RevokeNum {
				continue
			}
			if !curve.IsPointOf([32]byte(req.PerCommitmentSecret), cm.PerCommitmentPoint) {
				return
			}
		}
	}
	_, _ = ch.Secrets.Add(req.RevokeNum, req.PerCommitmentSecret)
}

func recordRevokeCommitmentTx(_ *Engine, _ Client, req *hsmproto.RevokeCommitmentTx, _ *hsmproto.RevokeCommitmentTxReply, ch *state.Channel, _ *state.Node) {
	if req.CommitNum+1 > ch.HolderRevokedNext {
		ch.HolderRevokedNext = req.CommitNum + 1
	}
}

func recordLockOutpoint(_ *Engine, _ Client, req *hsmproto.LockOutpoint, _ *hsmproto.LockOutpointReply, ch *state.Channel, _ *state.Node) {
	ch.FundingLocked = true
	// A splice locks a new funding outpoint.
	if s := ch.Setup; s != nil {
		s.FundingTxid, s.FundingVout = req.FundingTxid, req.FundingTxout
	}
}

// recordClosing: a cooperative close, or our commitment signed for
// lightningd to broadcast.
func recordClosing[M hsmproto.Message](_ *Engine, _ Client, _ M, _ hsmproto.Message, ch *state.Channel, _ *state.Node) {
	if ch.Status != state.StatusForgotten {
		ch.Status = state.StatusClosing
	}
}

// recordForgetChannel leaves a tombstone: the channel's identity, set-up
// and last commitment numbers, without its HTLCs and secrets.
func recordForgetChannel(_ *Engine, _ Client, _ *hsmproto.ForgetChannel, _ *hsmproto.ForgetChannelReply, ch *state.Channel, _ *state.Node) {
	ch.Status = state.StatusForgotten
	ch.LastHolder, ch.LastCounterparty, ch.PrevCounterparty = nil, nil, nil
	ch.Secrets = state.Secrets{}
}

// recordInvoice keeps an approved invoice (not a check_only one): its
// payment hash, amount and expiry (timestamp + expiry). An invoice that
// does not parse is left out (the policy layer refuses it when enforcing).
func (e *Engine) recordInvoice(invstring string, approved bool, n *state.Node) {
	if !approved {
		return
	}
	net, v := e.policyNetwork()
	if v != nil {
		return
	}
	inv, v := policy.ParseInvoiceString(invstring, net)
	if v != nil || !inv.HasPaymentHash {
		return
	}
	expiry := inv.Timestamp + inv.ExpirySeconds
	if expiry < inv.Timestamp {
		expiry = math.MaxUint64 // an expiry beyond any date
	}
	n.AddInvoice(state.Invoice{PaymentHash: inv.PaymentHash, AmountMsat: inv.AmountMsat, Expiry: expiry}, uint64(e.policy.now().Unix()))
}

// recordKeysend keeps an approved keysend: payment hash and amount (a
// keysend has no expiry; MaxInvoices bounds the list).
func (e *Engine) recordKeysend(hash [32]byte, amountMsat uint64, approved bool, n *state.Node) {
	if approved {
		n.AddInvoice(state.Invoice{PaymentHash: hash, AmountMsat: amountMsat, Keysend: true}, uint64(e.policy.now().Unix()))
	}
}

func recordCheckPubkey(_ *Engine, _ Client, req *hsmproto.CheckPubkey, _ *hsmproto.CheckPubkeyReply, _ *state.Channel, n *state.Node) {
	n.AddAddress(req.Index)
}

// frozen refuses a request for a channel whose state conflicts with the
// node's signed copy (state.Store.Merge): the client's own channel, or the
// channel a recorded request of lightningd names.
func (e *Engine) frozen(c Client, m hsmproto.Message, rec recorder, recorded bool) error {
	id := ofClient(c, m)
	if recorded && rec.channel != nil {
		id = rec.channel(c, m)
	} else if c.IsMaster() {
		return nil
	}
	if why, ok := e.state.FrozenChannel(id); ok {
		return &RefusalError{MsgType: m.MsgType(), Reason: "channel " + id.String() + " is frozen: " + why, Err: state.ErrFrozen}
	}
	return nil
}

// MergeState takes the node's copy of the signer state (Greenlight's
// HsmRequest.signer_state) into the store; see state.Store.Merge. A
// stateless engine ignores it.
func (e *Engine) MergeState(ctx context.Context, entries []state.Entry) (state.MergeResult, error) {
	if e.state == nil || e.stateSigner == nil {
		return state.MergeResult{Foreign: len(entries)}, nil
	}
	return e.state.Merge(ctx, entries, e.stateSigner)
}

// StateUpdates returns our state entries the node's copy lacks, signed
// with the state-signing key, for HsmResponse.signer_state.
func (e *Engine) StateUpdates() []state.Entry {
	if e.state == nil || e.stateSigner == nil {
		return nil
	}
	return e.state.Outgoing(e.stateSigner)
}
