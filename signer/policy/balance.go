package policy

import "bytes"

// The balance rules: the first commitment gives the fundee exactly the
// push, and between two commitments of one side our balance moves only by
// the HTLCs that came and went and by the fee the funder pays.

// CheckInitialCommitment is the rule of commitment 0: the funder holds
// the channel's value less the push, the fundee the push (BOLT 2). s is
// the rebuilt commitment's spec; tx must be the commitment with those
// balances, byte for byte.
func CheckInitialCommitment(s CommitmentSpec, tx []byte, pushMsat uint64) *Violation {
	funder := s.FundingSat*1000 - min(pushMsat, s.FundingSat*1000)
	s.OwnerMsat, s.OtherMsat = funder, pushMsat
	if !s.OwnerFunds {
		s.OwnerMsat, s.OtherMsat = pushMsat, funder
	}
	built, err := s.Build()
	if err != nil {
		return violation(TagCommitment, "the first commitment cannot be rebuilt: %v", err)
	}
	if !bytes.Equal(serializeNoWitness(built.Tx), tx) {
		return violation(TagCommitmentInitialFundingValue, "the first commitment does not give the funder %d sat and the fundee the push of %d msat", funder/1000, pushMsat)
	}
	return nil
}

// BalanceHTLC is one HTLC of a remembered commitment.
type BalanceHTLC struct {
	OfferedByUs bool
	AmountMsat  uint64
	PaymentHash [32]byte
	CltvExpiry  uint32
}

// CommitmentBalance is one commitment as the signer remembers it.
type CommitmentBalance struct {
	Num          uint64
	FeeratePerKw uint32
	// OursSat and TheirsSat are the two outputs (0: trimmed or absent).
	OursSat, TheirsSat uint64
	HTLCs              []BalanceHTLC
}

// ChannelTerms is what the balance rules need of a channel.
type ChannelTerms struct {
	FundingSat uint64
	WeFund     bool
	// Holder is true for our own commitments (validate_commitment_tx),
	// false for the peer's (sign_remote_commitment_tx).
	Holder                  bool
	Anchors, ZeroFeeAnchors bool
	DustLimitSat            uint64
}

// view is what one commitment says of the balances, in satoshi.
type view struct {
	oursPre   int64 // our balance before the fee we pay as funder
	invisible int64 // value in no output and no fee: trimmed HTLCs, trimmed balances, rounding
	untrimmed []BalanceHTLC
}

func (t ChannelTerms) view(c CommitmentBalance) view {
	s := CommitmentSpec{FeeratePerKw: c.FeeratePerKw, Anchors: t.Anchors, ZeroFeeAnchors: t.ZeroFeeAnchors, DustLimitSat: t.DustLimitSat}
	var v view
	var htlcSat int64
	for _, h := range c.HTLCs {
		if s.Trimmed(CommitmentHTLC{OfferedByOwner: h.OfferedByUs == t.Holder, AmountMsat: h.AmountMsat}) {
			continue
		}
		v.untrimmed = append(v.untrimmed, h)
		htlcSat += int64(h.AmountMsat / 1000)
	}
	fee, anchors := s.Fee(len(v.untrimmed))
	cost := int64(fee + anchors)
	v.oursPre = int64(c.OursSat)
	if t.WeFund {
		v.oursPre += cost
	}
	v.invisible = int64(t.FundingSat) - cost - int64(c.OursSat) - int64(c.TheirsSat) - htlcSat
	return v
}

// CheckBalanceDeltas is the rule between two commitments of one side
// (prev before next): our balance falls only by the HTLCs we offered and
// rises only by HTLCs that left the commitment (settled in our favour, or
// failed back to us). HTLCs below the dust limit are in no output: what
// the commitments hold outside their outputs and fee (trimmed HTLCs,
// rounding) may explain the rest, never more.
func CheckBalanceDeltas(t ChannelTerms, prev, next CommitmentBalance) *Violation {
	p, n := t.view(prev), t.view(next)
	type key struct {
		out  bool
		msat uint64
		hash [32]byte
		cltv uint32
	}
	count := map[key]int{}
	for _, h := range p.untrimmed {
		count[key{h.OfferedByUs, h.AmountMsat, h.PaymentHash, h.CltvExpiry}]++
	}
	var addedOut int64
	for _, h := range n.untrimmed {
		k := key{h.OfferedByUs, h.AmountMsat, h.PaymentHash, h.CltvExpiry}
		if count[k] > 0 {
			count[k]--
			continue
		}
		if h.OfferedByUs {
			addedOut += int64(h.AmountMsat / 1000)
		}
	}
	var removed int64
	for k, c := range count {
		removed += int64(c) * int64(k.msat/1000)
	}
	slack := int64(len(p.untrimmed) + len(n.untrimmed) + 2)
	if prev.OursSat == 0 || next.OursSat == 0 {
		slack += int64(t.dust())
	}
	dInvisible := n.invisible - p.invisible
	delta := n.oursPre - p.oursPre
	if loss := -delta; loss > addedOut+max(dInvisible, 0)+slack {
		return violation(TagRoutingDeltasOnlyHTLC, "our balance falls by %d sat from commitment %d to %d, but the HTLCs we offered in between hold %d sat", loss, prev.Num, next.Num, addedOut)
	}
	if delta > removed+max(-dInvisible, 0)+slack {
		return violation(TagRoutingDeltasOnlyHTLC, "our balance rises by %d sat from commitment %d to %d, but the HTLCs settled in between hold %d sat", delta, prev.Num, next.Num, removed)
	}
	return nil
}

func (t ChannelTerms) dust() uint64 {
	if t.DustLimitSat == 0 {
		return defaultDustLimitSat
	}
	return t.DustLimitSat
}

// TagCommitmentHTLCRoutingBalance: an HTLC we offer that nothing balances.
const TagCommitmentHTLCRoutingBalance = "policy-commitment-htlc-routing-balance"

// CheckRoutingBalance is the routing-balance rule: every HTLC we newly
// offer on the peer's commitment (offered) is balanced by an incoming HTLC
// of the same payment hash (we forward) or by an invoice or keysend the
// node preapproved (we pay). balanced says whether a hash is either.
func CheckRoutingBalance(offered [][32]byte, balanced func([32]byte) bool) *Violation {
	for _, h := range offered {
		if !balanced(h) {
			return violation(TagCommitmentHTLCRoutingBalance, "we would offer an HTLC of payment hash %x that neither forwards an incoming HTLC nor pays a preapproved invoice or keysend", h[:8])
		}
	}
	return nil
}
