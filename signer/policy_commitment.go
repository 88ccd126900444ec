package signer

import (
	"context"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/internal/lru"
	"gl-signerd/signer/keys"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// The commitment checks on the signer's state: the engine builds the BOLT 3
// descriptor of the commitment a request names (the channel's set-up, both
// sides' basepoints, the per-commitment point, the feerate and HTLCs of the
// request) and package policy rebuilds the transaction, compares it byte
// for byte and judges the balances against the previous commitment of the
// same side.

// builtCommitments keeps the peer's last commitment of recently updated
// channels as the commitment check rebuilt it, so that the checks of its
// HTLC transactions need not rebuild it again, and their parsed
// counterparty basepoints. Both are bounded: a node with many channels
// updates few of them at a time, and an idle channel's entries would only
// hold memory (a miss costs a rebuild or a parse, never a wrong answer).
type builtCommitments struct {
	m     *lru.Cache[state.ChannelID, *policy.Commitment]
	peers *lru.Cache[state.ChannelID, *parsedBasepoints]
}

// builtChannels is how many channels' entries builtCommitments keeps.
const builtChannels = 256

func newBuiltCommitments(channels int) builtCommitments {
	return builtCommitments{
		m:     lru.New[state.ChannelID, *policy.Commitment](channels),
		peers: lru.New[state.ChannelID, *parsedBasepoints](channels),
	}
}

// parsedBasepoints are a channel's counterparty keys as setup_channel gave
// them, and parsed.
type parsedBasepoints struct {
	raw    [5][33]byte
	parsed policy.Basepoints
}

func (b *builtCommitments) put(id state.ChannelID, c *policy.Commitment) { b.m.Add(id, c) }

// forget drops channel id's entries (forget_channel).
func (b *builtCommitments) forget(id state.ChannelID) {
	b.m.Remove(id)
	b.peers.Remove(id)
}

// get returns the rebuilt commitment of channel id with txid, if kept.
func (b *builtCommitments) get(id state.ChannelID, txid [32]byte) *policy.Commitment {
	if c, ok := b.m.Get(id); ok && [32]byte(c.Txid()) == txid {
		return c
	}
	return nil
}

// commitmentSpec is the descriptor of commitment num of one side of ch:
// ours (holder) or the peer's, at the owner's per-commitment point.
func (e *Engine) commitmentSpec(ch *state.Channel, holder bool, num uint64, point *btcec.PublicKey, feerate uint32, static bool) (*policy.CommitmentSpec, *policy.Violation) {
	su := ch.Setup
	if su == nil {
		return nil, &policy.Violation{Tag: policy.TagCommitment, Reason: "the channel is not set up (no setup_channel): there is no commitment to compare with"}
	}
	ck, err := e.ring.Channel(ch.ID.Peer, ch.ID.DBID)
	if err != nil {
		return nil, &policy.Violation{Tag: policy.TagCommitment, Reason: "the channel's keys cannot be derived"}
	}
	theirs, ok := e.built.counterpartyBasepoints(ch.ID, su)
	if !ok {
		return nil, &policy.Violation{Tag: policy.TagCommitment, Reason: "the peer's basepoints of setup_channel are not valid keys"}
	}
	ours := ourBasepoints(ck)
	s := &policy.CommitmentSpec{
		FundingOutpoint: wire.OutPoint{Hash: chainhash.Hash(su.FundingTxid), Index: uint32(su.FundingVout)},
		FundingSat:      su.ChannelValueSat,
		Owner:           ours, Other: theirs,
		OwnerFunds:      su.IsOutbound,
		Point:           point,
		Num:             num,
		ToSelfDelay:     su.CounterpartyToSelfDelay,
		StaticRemoteKey: su.StaticRemoteKey() || static,
		Anchors:         su.Anchors(),
		ZeroFeeAnchors:  su.ZeroFeeAnchors(),
		DustLimitSat:    e.policy.limits.DustLimit(),
		FeeratePerKw:    feerate,
		Keys:            e.derive,
	}
	if !holder {
		s.Owner, s.Other = theirs, ours
		s.OwnerFunds = !su.IsOutbound
		s.ToSelfDelay = su.HolderToSelfDelay
	}
	return s, nil
}

func ourBasepoints(ck *keys.ChannelKeys) policy.Basepoints {
	b := ck.Basepoints()
	return policy.Basepoints{Funding: ck.FundingPubKey(), Revocation: b.Revocation, Payment: b.Payment, HTLC: b.HTLC, DelayedPayment: b.DelayedPayment}
}

// counterpartyBasepoints are the peer's keys of channel id's set-up,
// parsed once per channel (while setup_channel's keys stay the same).
func (b *builtCommitments) counterpartyBasepoints(id state.ChannelID, su *state.Setup) (policy.Basepoints, bool) {
	raw := [5][33]byte{su.CounterpartyFundingPubkey, su.CounterpartyBasepoints[0], su.CounterpartyBasepoints[1], su.CounterpartyBasepoints[2], su.CounterpartyBasepoints[3]}
	if v, ok := b.peers.Get(id); ok && v.raw == raw {
		return v.parsed, true
	}
	p, ok := parseBasepoints(raw)
	if ok {
		b.peers.Add(id, &parsedBasepoints{raw: raw, parsed: p})
	}
	return p, ok
}

func parseBasepoints(raws [5][33]byte) (policy.Basepoints, bool) {
	var k [5]*btcec.PublicKey
	for i, raw := range raws {
		var err error
		if k[i], err = btcec.ParsePubKey(raw[:]); err != nil {
			return policy.Basepoints{}, false
		}
	}
	return policy.Basepoints{Funding: k[0], Revocation: k[1], Payment: k[2], HTLC: k[3], DelayedPayment: k[4]}, true
}

// commitmentHTLCs are the request's HTLCs seen from the commitment's
// owner (side LOCAL: we offered).
func commitmentHTLCs(hs []hsmproto.HsmHtlc, holder bool) []policy.CommitmentHTLC {
	out := make([]policy.CommitmentHTLC, len(hs))
	for i, h := range hs {
		out[i] = policy.CommitmentHTLC{OfferedByOwner: (h.Side == hsmproto.Local) == holder, AmountMsat: uint64(h.Amount), PaymentHash: h.PaymentHash, CltvExpiry: h.CltvExpiry}
	}
	return out
}

// claimOf is the commitment the node sent, with its PSBT's hints.
func claimOf(btx *hsmproto.BitcoinTx) policy.CommitmentClaim {
	c := policy.CommitmentClaim{Tx: btx.Tx}
	c.WitnessScript = func(i int) []byte {
		p, err := btx.ParsedPSBT()
		if err != nil || p == nil || p.Packet == nil || i >= len(p.Outputs) {
			return nil
		}
		return p.Outputs[i].WitnessScript
	}
	return c
}

// checkCommitmentState is the whole commitment check of one side's
// commitment num: HTLC limits, the rebuild, the first commitment's
// balances, and the balance deltas from the previous commitment of that
// side (prev, nil for none).
func (e *Engine) checkCommitmentState(ch *state.Channel, holder bool, num uint64, point *btcec.PublicKey, feerate uint32, static bool, htlcs []hsmproto.HsmHtlc, btx *hsmproto.BitcoinTx, prev *state.Commitment) *policy.Violation {
	s, v := e.commitmentSpec(ch, holder, num, point, feerate, static)
	if v != nil {
		return v
	}
	s.HTLCs = commitmentHTLCs(htlcs, holder)
	if v := policy.CheckHTLCLimits(s.HTLCs, e.policy.limits); v != nil {
		return v
	}
	built, v := policy.CheckCommitment(*s, claimOf(btx))
	if v != nil {
		return v
	}
	if !holder {
		e.built.put(ch.ID, built)
	}
	if num == 0 && prev == nil {
		return policy.CheckInitialCommitment(*s, policy.Stripped(btx.Tx), ch.Setup.PushMsat)
	}
	if prev == nil || !prev.BalancesKnown {
		return nil
	}
	terms := policy.ChannelTerms{FundingSat: s.FundingSat, WeFund: ch.Setup.IsOutbound, Holder: holder,
		Anchors: s.Anchors, ZeroFeeAnchors: s.ZeroFeeAnchors, DustLimitSat: s.DustLimitSat}
	ours, theirs := policy.OutputToLocal, policy.OutputToRemote
	if !holder {
		ours, theirs = theirs, ours
	}
	next := policy.CommitmentBalance{Num: num, FeeratePerKw: feerate, OursSat: built.OutputSat(ours), TheirsSat: built.OutputSat(theirs), HTLCs: balanceHTLCsOfRequest(htlcs)}
	return policy.CheckBalanceDeltas(terms, balanceOf(prev), next)
}

func balanceHTLCsOfRequest(hs []hsmproto.HsmHtlc) []policy.BalanceHTLC {
	out := make([]policy.BalanceHTLC, len(hs))
	for i, h := range hs {
		out[i] = policy.BalanceHTLC{OfferedByUs: h.Side == hsmproto.Local, AmountMsat: uint64(h.Amount), PaymentHash: h.PaymentHash, CltvExpiry: h.CltvExpiry}
	}
	return out
}

func balanceOf(c *state.Commitment) policy.CommitmentBalance {
	b := policy.CommitmentBalance{Num: c.Num, FeeratePerKw: c.FeeratePerKw, OursSat: c.HolderSat, TheirsSat: c.CounterpartySat}
	for _, h := range c.HTLCs {
		b.HTLCs = append(b.HTLCs, policy.BalanceHTLC{OfferedByUs: h.Offered, AmountMsat: h.AmountMsat, PaymentHash: h.PaymentHash, CltvExpiry: h.CltvExpiry})
	}
	return b
}

// previousCommitment is the latest remembered commitment of a side
// numbered below num.
func previousCommitment(num uint64, cms ...*state.Commitment) *state.Commitment {
	for _, c := range cms {
		if c != nil && c.Num < num {
			return c
		}
	}
	return nil
}

// stateCheckRemoteCommitment: sign_remote_commitment_tx, the peer's
// commitment at its point.
func (e *Engine) stateCheckRemoteCommitment(_ context.Context, _ Client, req *hsmproto.SignRemoteCommitmentTx, s Snapshot) *policy.Violation {
	ch := s.Channel
	if ch == nil || req.Tx.Tx == nil {
		return nil // the handler refuses a request without a transaction as hsmd does
	}
	if su := ch.Setup; su != nil && req.RemoteFundingKey != hsmproto.Pubkey(su.CounterpartyFundingPubkey) {
		return &policy.Violation{Tag: policy.TagCommitmentInputMatchFunding, Reason: "the peer's funding key of the request is not the one of setup_channel"}
	}
	// The commitment is built with static_remotekey when the request or the
	// channel type has it; the type is what the signer remembers, and what
	// the check of an HTLC transaction rebuilds with when the commitment is
	// no longer cached. A request may not add it to a channel without it
	// (channeld takes both from the same channel type).
	if su := ch.Setup; su != nil && req.OptionStaticRemotekey && !su.StaticRemoteKey() {
		return &policy.Violation{Tag: policy.TagCommitment, Reason: "the request asks for option_static_remotekey, which the channel type of setup_channel does not have"}
	}
	point, err := e.point(req.RemotePerCommit)
	if err != nil {
		return &policy.Violation{Tag: policy.TagCommitment, Reason: "the peer's per-commitment point is not a valid key"}
	}
	prev := previousCommitment(req.CommitNum, ch.LastCounterparty, ch.PrevCounterparty)
	if v := e.checkCommitmentState(ch, false, req.CommitNum, point, req.Feerate, req.OptionStaticRemotekey, req.Htlcs, &req.Tx, prev); v != nil {
		return v
	}
	if offered := newlyOffered(req.Htlcs, prev); len(offered) > 0 {
		return policy.CheckRoutingBalance(offered, routingBalanced(s, ch))
	}
	return nil
}

// stateCheckHolderCommitment: validate_commitment_tx, our commitment at
// our point.
func (e *Engine) stateCheckHolderCommitment(_ context.Context, _ Client, req *hsmproto.ValidateCommitmentTx, s Snapshot) *policy.Violation {
	ch := s.Channel
	if ch == nil || req.Tx.Tx == nil {
		return nil
	}
	ck, err := e.ring.Channel(ch.ID.Peer, ch.ID.DBID)
	if err != nil {
		return nil // the handler refuses as hsmd does
	}
	point, err := ck.PerCommitmentPoint(req.CommitNum)
	if err != nil {
		return nil // beyond the shachain: the handler refuses as hsmd does
	}
	if v := policy.CheckCommitmentFeerate(uint64(req.Feerate), e.policy.limits); v != nil {
		return v
	}
	return e.checkCommitmentState(ch, true, req.CommitNum, point, req.Feerate, false, req.Htlcs, &req.Tx, previousCommitment(req.CommitNum, ch.LastHolder))
}

// stateCheckRemoteHtlcTx: sign_remote_htlc_tx, the peer's HTLC transaction
// spending an output of the peer's commitment we signed at the same point.
func (e *Engine) stateCheckRemoteHtlcTx(_ context.Context, c Client, req *hsmproto.SignRemoteHtlcTx, s Snapshot) *policy.Violation {
	if req.Tx.Tx == nil || len(req.Tx.Tx.TxIn) == 0 {
		return nil
	}
	peer, dbid := clientChannel(c)
	ch, ok := s.LookupChannel(state.ChannelID{Peer: peer, DBID: dbid})
	if !ok {
		return &policy.Violation{Tag: policy.TagHTLCOther, Reason: "the signer signed no commitment of this channel"}
	}
	var cm *state.Commitment
	for _, x := range []*state.Commitment{ch.LastCounterparty, ch.PrevCounterparty} {
		if x != nil && x.PerCommitmentPoint == [33]byte(req.RemotePerCommitPoint) {
			cm = x
			break
		}
	}
	if cm == nil {
		return &policy.Violation{Tag: policy.TagHTLCOther, Reason: "the HTLC transaction belongs to no peer commitment the signer signed (unknown per-commitment point)"}
	}
	built := e.built.get(ch.ID, cm.Txid)
	if built == nil {
		point, err := e.point(req.RemotePerCommitPoint)
		if err != nil {
			return &policy.Violation{Tag: policy.TagHTLCOther, Reason: "the peer's per-commitment point is not a valid key"}
		}
		sp, v := e.commitmentSpec(ch, false, cm.Num, point, cm.FeeratePerKw, false)
		if v != nil {
			return v
		}
		for _, h := range cm.HTLCs {
			sp.HTLCs = append(sp.HTLCs, policy.CommitmentHTLC{OfferedByOwner: !h.Offered, AmountMsat: h.AmountMsat, PaymentHash: h.PaymentHash, CltvExpiry: h.CltvExpiry})
		}
		sp.SetBalancesFromOutputs(cm.CounterpartySat, cm.HolderSat)
		if built, err = sp.Build(); err != nil {
			return &policy.Violation{Tag: policy.TagHTLCOther, Reason: "the peer's commitment cannot be rebuilt: " + err.Error()}
		}
	}
	claim := policy.HTLCClaim{Tx: req.Tx.Tx, InputScript: req.Wscript, OutputWitness: func() []byte {
		if p, err := req.Tx.ParsedPSBT(); err == nil && p != nil && p.Packet != nil && len(p.Outputs) > 0 {
			return p.Outputs[0].WitnessScript
		}
		return nil
	}}
	return policy.CheckHTLCTx(built, claim)
}

// inOrder runs state checks one after the other on the same snapshot (the
// channel life-cycle checks, then the rebuild): the first violation is
// the answer, refused or (policy.warn) reported and signed, as one check's
// would be.
func inOrder[M hsmproto.Message](checks ...func(*Engine, context.Context, Client, M, Snapshot) *policy.Violation) func(*Engine, context.Context, Client, M, Snapshot) *policy.Violation {
	return func(e *Engine, ctx context.Context, c Client, m M, s Snapshot) *policy.Violation {
		for _, check := range checks {
			if v := check(e, ctx, c, m, s); v != nil {
				return v
			}
		}
		return nil
	}
}
