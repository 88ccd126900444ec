package policy

// Checks of transactions that spend on chain without needing remembered
// channel state: withdrawals, sweeps, cooperative closes, the peer's HTLC
// transactions, setup_channel's delays and a commitment's feerate. The
// engine builds a Spend from the decoded request (deriving from our seed
// which outputs pay our wallet) and hands it to these functions.

// The tags of the on-chain checks, as the policy vectors name them.
const (
	TagOnchainNoUnknownOutputs      = "policy-onchain-no-unknown-outputs"
	TagOnchainFeeRange              = "policy-onchain-fee-range"
	TagSweepDestinationAllowlisted  = "policy-sweep-destination-allowlisted"
	TagSweepFeeRange                = "policy-sweep-fee-range"
	TagMutualDestinationAllowlisted = "policy-mutual-destination-allowlisted"
	TagMutualFeeRange               = "policy-mutual-fee-range"
	TagHTLCLocktime                 = "policy-htlc-locktime"
	TagHTLCSequence                 = "policy-htlc-sequence"
	TagHTLCVersion                  = "policy-htlc-version"
	TagContestDelayRange            = "policy-contest-delay-range"
	TagCommitmentFeeRange           = "policy-commitment-fee-range"
	TagInvoiceNotExpired            = "policy-invoice-not-expired"
)

// Limits are the numeric bounds of the checks. The fee bounds follow the
// lesson of Greenlight's fee-spike outages: a feerate ceiling far above
// any spike and a share of the value spent, never a fixed fee.
type Limits struct {
	// MinFeerateSatPerKw is the floor for every fee (BOLT's 253 sat/kw).
	MinFeerateSatPerKw uint64
	// MaxFeerateSatPerKw is the ceiling for closes, sweeps, commitments
	// and withdrawals.
	MaxFeerateSatPerKw uint64
	// MaxFeePercent is the largest fee, as a percentage of the value the
	// transaction spends.
	MaxFeePercent uint64
	// MinContestDelayBlocks and MaxContestDelayBlocks bound both
	// to_self_delays of setup_channel.
	MinContestDelayBlocks, MaxContestDelayBlocks uint64
	// DustLimitSat is both sides' dust limit in the commitments the
	// signer rebuilds (the hsmd messages do not carry it; 0: 546).
	DustLimitSat uint64
	// MaxHTLCsPerDirection bounds a commitment's offered and received
	// HTLCs each (0: BOLT 2's 483); MaxInFlightSat their total value
	// (0: 16,777,216 sat).
	MaxHTLCsPerDirection, MaxInFlightSat uint64
}

// DefaultLimits are the bounds of the strict profile.
var DefaultLimits = Limits{
	MinFeerateSatPerKw:    253,
	MaxFeerateSatPerKw:    150_000,
	MaxFeePercent:         25,
	MinContestDelayBlocks: 144,
	MaxContestDelayBlocks: 2016,
	DustLimitSat:          defaultDustLimitSat,
	MaxHTLCsPerDirection:  defaultMaxHTLCs,
	MaxInFlightSat:        defaultMaxInFlightSat,
}

// Output is one output of a transaction about to be signed.
type Output struct {
	Script []byte
	Value  uint64
	// Ours is true when the engine derived, from our own seed along the
	// path the PSBT claims for this output, the key this script pays.
	// PSBT metadata alone never makes an output ours.
	Ours bool
	// Allowlisted is true when the script is on the operator's
	// allowlist (an address, or a key of a listed xpub).
	Allowlisted bool
}

// Spend is the plain descriptor of an on-chain transaction about to be
// signed: the value of its inputs, its outputs, and its weight bounds.
type Spend struct {
	// InputValue is the sum of the amounts the inputs spend; Known is
	// false when some input's amount is not given (the fee is unknown).
	InputValue uint64
	Known      bool
	Outputs    []Output
	// WeightMin is the weight without witnesses (the highest feerate the
	// fee can mean); WeightMax adds a generous witness allowance (the
	// lowest). The floor is checked with WeightMin, the ceiling with
	// WeightMax, so that an honest transaction is never refused for an
	// estimate.
	WeightMin, WeightMax uint64
}

// OutputValue is the sum of the outputs' values.
func (s *Spend) OutputValue() uint64 {
	var v uint64
	for _, o := range s.Outputs {
		v += o.Value
	}
	return v
}

func destined(o Output) bool { return o.Ours || o.Allowlisted }

// isP2WSH reports whether script pays a P2WSH, the shape of a channel
// funding output.
func isP2WSH(s []byte) bool { return len(s) == 34 && s[0] == 0x00 && s[1] == 32 }

// CheckFee bounds a spend's fee by the floor, the ceiling and the share of
// the value spent.
func CheckFee(tag string, s *Spend, lim Limits) *Violation {
	if !s.Known {
		return nil
	}
	out := s.OutputValue()
	if out > s.InputValue {
		return violation(tag, "the outputs (%d sat) spend more than the inputs (%d sat)", out, s.InputValue)
	}
	fee := s.InputValue - out
	if lim.MaxFeePercent < 100 && fee*100 > s.InputValue*lim.MaxFeePercent {
		return violation(tag, "the fee is %d sat of %d sat spent, more than the %d%% allowed", fee, s.InputValue, lim.MaxFeePercent)
	}
	if s.WeightMax > 0 && fee*1000/s.WeightMax > lim.MaxFeerateSatPerKw {
		return violation(tag, "the fee of %d sat is at least %d sat/kw, above the ceiling of %d sat/kw", fee, fee*1000/s.WeightMax, lim.MaxFeerateSatPerKw)
	}
	if s.WeightMin > 0 && fee*1000/s.WeightMin < lim.MinFeerateSatPerKw {
		return violation(tag, "the fee of %d sat is at most %d sat/kw, below the floor of %d sat/kw", fee, fee*1000/s.WeightMin, lim.MinFeerateSatPerKw)
	}
	return nil
}

// CheckWithdrawal is the check of sign_withdrawal: every output pays our
// wallet, the allowlist, or a P2WSH (a channel funding output: which
// channel it funds is the state layer's check), and the fee is in range.
func CheckWithdrawal(s *Spend, lim Limits) *Violation {
	for i, o := range s.Outputs {
		if !destined(o) && !isP2WSH(o.Script) {
			return violation(TagOnchainNoUnknownOutputs, "output %d (%d sat) pays script %x, which is neither our wallet nor on the allowlist", i, o.Value, o.Script)
		}
	}
	return CheckFee(TagOnchainFeeRange, s, lim)
}

// CheckSweep is the check of a sweep after a close (delayed payment,
// penalty, HTLC claim): every output pays our wallet or the
// allowlist, and the feerate is within bounds. The share of the value is
// not bounded here: a small HTLC claimed during a fee spike may honestly
// cost most of its value, and the ceiling already stops a fee that burns.
func CheckSweep(s *Spend, lim Limits) *Violation {
	for i, o := range s.Outputs {
		if !destined(o) {
			return violation(TagSweepDestinationAllowlisted, "output %d (%d sat) pays script %x, which is neither our wallet nor on the allowlist", i, o.Value, o.Script)
		}
	}
	lim.MaxFeePercent = 100
	return CheckFee(TagSweepFeeRange, s, lim)
}

// CheckMutualClose is the check of sign_mutual_close_tx without channel
// state: a close with more than one output must pay our wallet or the
// allowlist in one of them (the other is the peer's; which value is ours
// and the upfront shutdown script are the state layer's checks), and the
// fee is in range.
func CheckMutualClose(s *Spend, lim Limits) *Violation {
	if len(s.Outputs) > 1 {
		ours := false
		for _, o := range s.Outputs {
			ours = ours || destined(o)
		}
		if !ours {
			return violation(TagMutualDestinationAllowlisted, "none of the close's %d outputs pays our wallet or the allowlist", len(s.Outputs))
		}
	}
	return CheckFee(TagMutualFeeRange, s, lim)
}

// RemoteHTLC is the descriptor of sign_remote_htlc_tx: the second-stage
// transaction's shape and which HTLC script it spends.
type RemoteHTLC struct {
	Version  int32
	Locktime uint32
	Sequence uint32
	Inputs   int
	// Offered is true for an HTLC the peer offered (its HTLC-timeout
	// transaction), false for one it received (HTLC-success).
	Offered bool
	Anchors bool
}

// CheckRemoteHTLC is the check of the peer's HTLC transaction (BOLT 3):
// version 2, one input with nSequence 1 with anchors and 0 without, and
// nLockTime the cltv_expiry (a block height, never 0) for HTLC-timeout,
// 0 for HTLC-success.
func CheckRemoteHTLC(h RemoteHTLC) *Violation {
	if h.Version != 2 {
		return violation(TagHTLCVersion, "the HTLC transaction has version %d, not 2", h.Version)
	}
	want := uint32(0)
	if h.Anchors {
		want = 1
	}
	if h.Inputs != 1 || h.Sequence != want {
		return violation(TagHTLCSequence, "the HTLC transaction's input has nSequence %d, not %d", h.Sequence, want)
	}
	switch {
	case h.Offered && (h.Locktime == 0 || h.Locktime >= 500_000_000):
		return violation(TagHTLCLocktime, "the HTLC-timeout transaction has nLockTime %d, not a block height (its cltv_expiry)", h.Locktime)
	case !h.Offered && h.Locktime != 0:
		return violation(TagHTLCLocktime, "the HTLC-success transaction has nLockTime %d, not 0", h.Locktime)
	}
	return nil
}

// CheckContestDelays is the check of setup_channel: the delay we impose
// on the peer (local) is long enough to punish a revoked commitment, and
// the one it imposes on us (remote) does not lock our funds for weeks.
func CheckContestDelays(local, remote uint64, lim Limits) *Violation {
	if local < lim.MinContestDelayBlocks || local > lim.MaxContestDelayBlocks {
		return violation(TagContestDelayRange, "the to_self_delay we impose on the peer is %d blocks, outside %d..%d", local, lim.MinContestDelayBlocks, lim.MaxContestDelayBlocks)
	}
	if remote < lim.MinContestDelayBlocks || remote > lim.MaxContestDelayBlocks {
		return violation(TagContestDelayRange, "the to_self_delay the peer imposes on us is %d blocks, outside %d..%d", remote, lim.MinContestDelayBlocks, lim.MaxContestDelayBlocks)
	}
	return nil
}

// CheckCommitmentFeerate is the feerate bound of a commitment the request
// names (sign_remote_commitment_tx's feerate).
func CheckCommitmentFeerate(feerate uint64, lim Limits) *Violation {
	if feerate < lim.MinFeerateSatPerKw || feerate > lim.MaxFeerateSatPerKw {
		return violation(TagCommitmentFeeRange, "the commitment's feerate is %d sat/kw, outside %d..%d", feerate, lim.MinFeerateSatPerKw, lim.MaxFeerateSatPerKw)
	}
	return nil
}

// CheckInvoiceNotExpired is the check of preapprove_invoice: an invoice
// whose expiry (timestamp + x, default 3600 s) is past at now (Unix
// seconds) is not paid.
func CheckInvoiceNotExpired(inv *Invoice, now int64) *Violation {
	end := inv.Timestamp + inv.ExpirySeconds
	if now >= 0 && uint64(now) >= end {
		return violation(TagInvoiceNotExpired, "the invoice expired at Unix time %d (now %d)", end, now)
	}
	return nil
}
