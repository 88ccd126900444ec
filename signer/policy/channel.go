package policy

import (
	"bytes"
	"fmt"
	"gl-signerd/signer/curve"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/signer/state"
)

// The channel life-cycle checks: what a request may do given what the
// signer remembers of the channel (package state). Revocation (never sign
// a holder commitment we revoked, never reveal a secret before the next
// commitment is countersigned, check the peer's revealed secrets), the
// peer's signatures on our commitments, channel identity (a dbid is used
// once, a set-up channel never changes), the funding transaction (signed
// only once our first commitment is countersigned) and the cooperative
// close (our balance, no pending HTLC, the upfront shutdown script). Each
// is a pure function of a descriptor the engine builds and a state
// snapshot; nil means the request may be answered.

// The tags of the channel life-cycle checks, as the policy vectors name them.
const (
	TagCommitmentHolderNotRevoked            = "policy-commitment-holder-not-revoked"
	TagRevokeNewCommitmentSigned             = "policy-revoke-new-commitment-signed"
	TagCommitmentSignature                   = "policy-commitment-signature"
	TagCommitmentPreviousRevoked             = "policy-commitment-previous-revoked"
	TagOriginalChannelIDReuse                = "policy-original-channel-id-reuse"
	TagCommitmentRetrySame                   = "policy-commitment-retry-same"
	TagOnchainInitialCommitmentCountersigned = "policy-onchain-initial-commitment-countersigned"
	TagMutualValueMatchesCommitment          = "policy-mutual-value-matches-commitment"
	TagMutualNoPendingHTLCs                  = "policy-mutual-no-pending-htlcs"
)

// ChannelTags are the tags of this file's checks.
var ChannelTags = []string{
	TagCommitmentHolderNotRevoked, TagRevokeNewCommitmentSigned, TagCommitmentSignature,
	TagCommitmentPreviousRevoked, TagOriginalChannelIDReuse, TagCommitmentRetrySame,
	TagOnchainInitialCommitmentCountersigned, TagMutualValueMatchesCommitment, TagMutualNoPendingHTLCs,
}

// CheckSignHolderCommitment is sign_commitment_tx (lightningd broadcasts
// our commitment): it must be the last holder commitment the peer
// countersigned (validate_commitment_tx, same number and txid), and not
// revoked. A revoked commitment on chain hands every output to the peer.
func CheckSignHolderCommitment(ch *state.Channel, num uint64, txid [32]byte) *Violation {
	if ch == nil || ch.LastHolder == nil {
		return violation(TagCommitmentHolderNotRevoked, "no holder commitment of this channel was countersigned by the peer, so there is none to broadcast")
	}
	if num < ch.HolderRevokedNext {
		return violation(TagCommitmentHolderNotRevoked, "holder commitment %d was revoked (its secret is with the peer, up to commitment %d): broadcasting it hands every output to the peer", num, ch.HolderRevokedNext-1)
	}
	if num != ch.LastHolder.Num {
		return violation(TagCommitmentHolderNotRevoked, "holder commitment %d is not the current one (%d)", num, ch.LastHolder.Num)
	}
	if txid != ch.LastHolder.Txid {
		return violation(TagCommitmentHolderNotRevoked, "the transaction is not holder commitment %d as the peer countersigned it", num)
	}
	return nil
}

// CheckRevealHolderSecret is revoke_commitment_tx n, and
// get_per_commitment_point below wire version 6 (which reveals secret
// n−2): secret n may be revealed only once holder commitment n+1 was
// countersigned, otherwise we would hold no commitment the peer cannot
// punish.
func CheckRevealHolderSecret(ch *state.Channel, n uint64) *Violation {
	if ch == nil || ch.LastHolder == nil {
		return violation(TagRevokeNewCommitmentSigned, "revoking holder commitment %d, but no holder commitment was countersigned yet", n)
	}
	if ch.HolderCommitNum <= n {
		return violation(TagRevokeNewCommitmentSigned, "revoking holder commitment %d before commitment %d was countersigned (the last is %d): we would hold no commitment the peer cannot punish", n, n+1, ch.HolderCommitNum)
	}
	return nil
}

// CheckRevocationSecret is validate_revocation: the secret the peer reveals
// for its commitment n must be the secret of the point we signed
// commitment n with, and the next one of its shachain (BOLT 3 compact
// storage); a secret revealed again must be the same.
func CheckRevocationSecret(ch *state.Channel, n uint64, secret [32]byte) *Violation {
	if ch == nil {
		return violation(TagCommitmentPreviousRevoked, "revocation of counterparty commitment %d for a channel the signer does not know", n)
	}
	if n < ch.Secrets.Count() {
		if old, ok := ch.Secrets.Lookup(n); ok && old == secret {
			return nil
		}
		return violation(TagCommitmentPreviousRevoked, "the secret of counterparty commitment %d differs from the one revealed before", n)
	}
	if n > ch.Secrets.Count() {
		return violation(TagCommitmentPreviousRevoked, "counterparty commitment %d revoked before commitment %d", n, ch.Secrets.Count())
	}
	var point *[33]byte
	for _, cm := range []*state.Commitment{ch.LastCounterparty, ch.PrevCounterparty} {
		if cm != nil && cm.Num == n {
			point = &cm.PerCommitmentPoint
		}
	}
	if point == nil {
		return violation(TagCommitmentPreviousRevoked, "no signed counterparty commitment %d is known whose point the secret could be checked against", n)
	}
	if !curve.IsPointOf(secret, *point) {
		return violation(TagCommitmentPreviousRevoked, "the secret is not the secret of the point counterparty commitment %d was signed with: that commitment is not revoked", n)
	}
	chain := ch.Secrets // Add replaces its copy's storage, never ch's
	if _, err := chain.Add(n, secret); err != nil {
		return violation(TagCommitmentPreviousRevoked, "the secret of counterparty commitment %d does not chain with the secrets revealed before (%v)", n, err)
	}
	return nil
}

// CheckSignCounterpartyCommitment is sign_remote_commitment_tx n with
// transaction id txid. A number signed before must be the same
// transaction (a retry); a new number n ≥ 2 needs commitment n−2 revoked,
// so that the peer never holds more than two valid states.
func CheckSignCounterpartyCommitment(ch *state.Channel, n uint64, txid [32]byte) *Violation {
	if ch == nil {
		return nil
	}
	if last := ch.LastCounterparty; last != nil && n <= last.Num {
		for _, cm := range []*state.Commitment{last, ch.PrevCounterparty} {
			if cm != nil && cm.Num == n {
				if cm.Txid != txid {
					return violation(TagCommitmentRetrySame, "counterparty commitment %d was signed before as another transaction: two signed versions of one state let the peer broadcast the one it prefers", n)
				}
				return nil
			}
		}
		return violation(TagCommitmentRetrySame, "counterparty commitment %d is older than the last two signed (%d): it cannot be a retry", n, last.Num)
	}
	if n >= 2 && ch.Secrets.Count() < n-1 {
		return violation(TagCommitmentPreviousRevoked, "signing counterparty commitment %d while commitment %d is not revoked: the peer would hold three valid states", n, ch.Secrets.Count())
	}
	return nil
}

// CheckNewChannel is new_channel for dbid: a channel's keys and shachain
// come from (peer, dbid), so a channel already set up or forgotten must
// not be declared again; and since lightningd never hands out the dbid of
// a channel it saved again, a dbid at or below a forgotten channel's
// (forgottenHighWater, with anyForgotten) is a reuse too. A declared
// channel never set up may be declared again (a retry; lightningd also
// reuses the dbid of an open attempt it never saved, after a restart).
func CheckNewChannel(ch *state.Channel, dbid uint64, forgottenHighWater uint64, anyForgotten bool) *Violation {
	if ch != nil {
		switch ch.Status {
		case state.StatusOpen, state.StatusClosing:
			return violation(TagOriginalChannelIDReuse, "channel dbid %d is already %s: declaring it again reuses its keys and revealed secrets", dbid, ch.Status)
		case state.StatusForgotten:
			return violation(TagOriginalChannelIDReuse, "channel dbid %d was forgotten: the peer already holds its revocation secrets", dbid)
		}
	}
	if anyForgotten && dbid <= forgottenHighWater {
		return violation(TagOriginalChannelIDReuse, "dbid %d is not above the dbid of a forgotten channel (%d): lightningd never hands out a saved channel's dbid twice", dbid, forgottenHighWater)
	}
	return nil
}

// CheckSetupChannel is setup_channel: a channel is set up once; the same
// setup again is a retry, another one (funding, value, keys, delays) would
// make new commitments under revealed per-commitment secrets.
func CheckSetupChannel(ch *state.Channel, s *state.Setup) *Violation {
	if ch == nil {
		return nil
	}
	if ch.Status == state.StatusForgotten {
		return violation(TagOriginalChannelIDReuse, "channel dbid %d was forgotten: setting it up again reuses revealed secrets", ch.ID.DBID)
	}
	if ch.Setup != nil && !sameSetup(ch.Setup, s) {
		return violation(TagOriginalChannelIDReuse, "channel dbid %d is already set up with other parameters (%s)", ch.ID.DBID, setupDifference(ch.Setup, s))
	}
	return nil
}

func sameSetup(a, b *state.Setup) bool { return setupDifference(a, b) == "" }

// setupDifference names the first field in which a and b differ, "" if
// none.
func setupDifference(a, b *state.Setup) string {
	switch {
	case a.IsOutbound != b.IsOutbound:
		return "who funds"
	case a.ChannelValueSat != b.ChannelValueSat:
		return "channel value"
	case a.PushMsat != b.PushMsat:
		return "push value"
	case a.FundingTxid != b.FundingTxid || a.FundingVout != b.FundingVout:
		return "funding outpoint"
	case a.HolderToSelfDelay != b.HolderToSelfDelay || a.CounterpartyToSelfDelay != b.CounterpartyToSelfDelay:
		return "to_self_delay"
	case !bytes.Equal(a.HolderShutdownScript, b.HolderShutdownScript) || !bytes.Equal(a.CounterpartyShutdownScript, b.CounterpartyShutdownScript):
		return "shutdown script"
	case (a.HolderShutdownWalletIndex == nil) != (b.HolderShutdownWalletIndex == nil) ||
		a.HolderShutdownWalletIndex != nil && *a.HolderShutdownWalletIndex != *b.HolderShutdownWalletIndex:
		return "shutdown wallet index"
	case a.CounterpartyBasepoints != b.CounterpartyBasepoints || a.CounterpartyFundingPubkey != b.CounterpartyFundingPubkey:
		return "peer keys"
	case !bytes.Equal(a.ChannelType, b.ChannelType):
		return "channel type"
	}
	return ""
}

// CheckFundingCountersigned is sign_withdrawal of a transaction with
// transaction id txid and the given number of outputs: if one of them is
// the funding output of a channel (channels), our first commitment of that
// channel must have been countersigned (validate_commitment_tx 0) —
// otherwise the funds are locked in the 2-of-2 with no commitment to get
// them back: hostage.
func CheckFundingCountersigned(txid [32]byte, outputs int, channels []*state.Channel) *Violation {
	for _, ch := range channels {
		s := ch.Setup
		if s == nil || s.FundingTxid != txid || int(s.FundingVout) >= outputs || ch.Status == state.StatusForgotten {
			continue
		}
		if ch.LastHolder == nil {
			return violation(TagOnchainInitialCommitmentCountersigned, "output %d funds channel dbid %d, whose first commitment the peer has not countersigned yet", s.FundingVout, ch.ID.DBID)
		}
	}
	return nil
}

// MutualClose describes a cooperative close for the state check: what it
// pays us and what it pays the peer.
type MutualClose struct {
	// OursSat is the value of the outputs that pay us: to the upfront
	// shutdown script when the channel has one, otherwise to our wallet
	// or the allowlist.
	OursSat uint64
	// TheirsSat is the value of the other outputs.
	TheirsSat uint64
	// PaysUpfrontScript is true when an output pays the holder's upfront
	// shutdown script.
	PaysUpfrontScript bool
}

// CheckMutualCloseState is sign_mutual_close_tx against the channel's last
// commitments: no HTLC may be pending on either (closing forfeits them),
// our output goes to the upfront shutdown script when one was set, and we
// get our balance: all of it when the peer funded the channel (the funder
// pays the fee), and the peer gets no more than its balance when we did.
func CheckMutualCloseState(ch *state.Channel, c MutualClose) *Violation {
	if ch == nil || ch.Setup == nil || (ch.LastHolder == nil && ch.LastCounterparty == nil) {
		return violation(TagMutualValueMatchesCommitment, "a cooperative close of a channel with no commitment known: our balance is unknown")
	}
	if v := CheckMutualCloseNoPendingHTLCs(ch); v != nil {
		return v
	}
	var ours, theirs uint64
	known := false
	ours = ^uint64(0)
	for _, cm := range []*state.Commitment{ch.LastHolder, ch.LastCounterparty} {
		if cm == nil || !cm.BalancesKnown {
			continue
		}
		known = true
		// On our commitment the holder side is to_local; on theirs
		// (recorded from our side too) HolderSat is our to_remote.
		ours = min(ours, cm.HolderSat)
		theirs = max(theirs, cm.CounterpartySat)
	}
	if !known {
		return violation(TagMutualValueMatchesCommitment, "a cooperative close while the balances of the last commitments are unknown")
	}
	if len(ch.Setup.HolderShutdownScript) > 0 && !c.PaysUpfrontScript && ours > 0 {
		return violation(TagMutualDestinationAllowlisted, "no output pays the upfront shutdown script agreed at channel open")
	}
	if ch.Setup.IsOutbound {
		if c.TheirsSat > theirs {
			return violation(TagMutualValueMatchesCommitment, "the close pays the peer %d sat, more than its balance of %d sat", c.TheirsSat, theirs)
		}
		return nil
	}
	if c.OursSat < ours {
		return violation(TagMutualValueMatchesCommitment, "the close pays us %d sat, less than our balance of %d sat (the peer funded the channel and pays the fee)", c.OursSat, ours)
	}
	return nil
}

// CheckMutualCloseNoPendingHTLCs is the part of CheckMutualCloseState
// that needs no destination: no HTLC pending on the last commitments (a
// channel with none known has none).
func CheckMutualCloseNoPendingHTLCs(ch *state.Channel) *Violation {
	if ch == nil {
		return nil
	}
	for _, cm := range []*state.Commitment{ch.LastHolder, ch.LastCounterparty} {
		if cm != nil && len(cm.HTLCs) > 0 {
			return violation(TagMutualNoPendingHTLCs, "%d HTLCs are pending on commitment %d: a close forfeits them", len(cm.HTLCs), cm.Num)
		}
	}
	return nil
}

// Signature is a signature to verify: by Key over Sighash, and the
// sighash type it carries against the one BOLT 3 requires.
type Signature struct {
	Key     *btcec.PublicKey
	Sighash [32]byte
	// Sig is the compact R ‖ S signature, SighashType its type byte.
	Sig         [64]byte
	SighashType uint8
	WantType    uint8
	// Missing says why the signed input could not be rebuilt ("" when
	// it was): e.g. an HTLC with no output in the commitment.
	Missing string
}

// CommitmentSignatures are the peer's signatures on our commitment n
// (validate_commitment_tx): the funding input's, then one per HTLC output,
// in output order.
type CommitmentSignatures struct {
	Num     uint64
	Funding Signature
	HTLCs   []Signature
	// HTLCSigs is the number of HTLC signatures the request carries.
	HTLCSigs int
}

// CheckCommitmentSignatures verifies the peer's signatures on our
// commitment: without a valid funding signature the commitment cannot be
// broadcast, without a valid HTLC signature that HTLC cannot be claimed;
// revoking the previous commitment next would then lose everything.
func CheckCommitmentSignatures(d CommitmentSignatures) *Violation {
	if v := d.Funding.check(fmt.Sprintf("the commitment signature of holder commitment %d", d.Num)); v != nil {
		return v
	}
	if d.HTLCSigs != len(d.HTLCs) {
		return violation(TagCommitmentSignature, "holder commitment %d has %d HTLCs but the peer sent %d HTLC signatures", d.Num, len(d.HTLCs), d.HTLCSigs)
	}
	for i, h := range d.HTLCs {
		if v := h.check(fmt.Sprintf("HTLC signature %d of holder commitment %d", i, d.Num)); v != nil {
			return v
		}
	}
	return nil
}

func (s *Signature) check(what string) *Violation {
	if s.Missing != "" {
		return violation(TagCommitmentSignature, "%s cannot be checked: %s", what, s.Missing)
	}
	if s.SighashType != s.WantType {
		return violation(TagCommitmentSignature, "%s has sighash type %#x, not %#x", what, s.SighashType, s.WantType)
	}
	var r, sv btcec.ModNScalar
	if r.SetByteSlice(s.Sig[:32]) || sv.SetByteSlice(s.Sig[32:]) || r.IsZero() || sv.IsZero() || s.Key == nil {
		return violation(TagCommitmentSignature, "%s is not a valid signature", what)
	}
	if !curve.VerifyECDSA(s.Key, s.Sighash[:], &r, &sv) {
		return violation(TagCommitmentSignature, "%s does not verify with the peer's key", what)
	}
	return nil
}

// The channel tags are part of Tags (kept here, beside their checks).
func init() { Tags = append(Tags, ChannelTags...) }
