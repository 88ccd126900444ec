package policy

import (
	"bytes"
	"crypto/sha256"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/input"
)

// The commitment checks: the node's commitment transaction must be the
// one BOLT 3 builds from the channel's state, byte for byte; when it is
// not, the violation names the most specific rule it breaks.

// The tags of the commitment and HTLC transaction checks.
const (
	TagCommitment                      = "policy-commitment"
	TagCommitmentInputMatchFunding     = "policy-commitment-input-match-funding"
	TagCommitmentVersion               = "policy-commitment-version"
	TagCommitmentLocktime              = "policy-commitment-locktime"
	TagCommitmentSequence              = "policy-commitment-sequence"
	TagCommitmentNoUnrecognizedOutputs = "policy-commitment-no-unrecognized-outputs"
	TagCommitmentRevocationPubkey      = "policy-commitment-revocation-pubkey"
	TagCommitmentToSelfDelayRange      = "policy-commitment-to-self-delay-range"
	TagCommitmentInitialFundingValue   = "policy-commitment-initial-funding-value"
	TagRoutingDeltasOnlyHTLC           = "policy-routing-deltas-only-htlc"
	TagCommitmentHTLCCountLimit        = "policy-commitment-htlc-count-limit"
	TagCommitmentHTLCInflightLimit     = "policy-commitment-htlc-inflight-limit"
	TagHTLCToSelfDelay                 = "policy-htlc-to-self-delay"
	TagHTLCRevocationPubkey            = "policy-htlc-revocation-pubkey"
	TagHTLCDelayedPubkey               = "policy-htlc-delayed-pubkey"
	TagHTLCFeeRange                    = "policy-htlc-fee-range"
	TagHTLCOther                       = "policy-htlc-other"
)

// CommitmentClaim is the commitment the node asks us to sign or
// countersign: its transaction and the witness scripts its PSBT gives for
// the outputs (hints for naming a violation, never trusted for the check
// itself). The funding amount the PSBT claims is not compared: a signature
// over another amount signs nothing spendable, and a splice changes the
// amount without a message the signer sees.
type CommitmentClaim struct {
	Tx *wire.MsgTx
	// WitnessScript returns the PSBT's witness script of output i (nil:
	// none); it is asked only to name a violation. nil: no PSBT.
	WitnessScript func(i int) []byte
}

// SetBalancesFromOutputs sets the spec's balances so that its to_local
// output is ownerOutSat and its to_remote otherOutSat (0: none): the
// funder's balance is its output plus the fee and anchors it pays.
func (s *CommitmentSpec) SetBalancesFromOutputs(ownerOutSat, otherOutSat uint64) {
	fee, anchors := s.Fee(s.untrimmed())
	owner, other := ownerOutSat, otherOutSat
	if s.OwnerFunds {
		owner += fee + anchors
	} else {
		other += fee + anchors
	}
	s.OwnerMsat, s.OtherMsat = owner*1000, other*1000
}

func (s *CommitmentSpec) untrimmed() int {
	n := 0
	for _, h := range s.HTLCs {
		if !s.Trimmed(h) {
			n++
		}
	}
	return n
}

// CheckCommitment rebuilds the commitment s describes, with the balances
// the claimed transaction's to_local and to_remote outputs say (the
// balance rules judge those), and compares it with the claim byte for
// byte. It returns the rebuilt commitment when they are equal.
func CheckCommitment(s CommitmentSpec, claim CommitmentClaim) (*Commitment, *Violation) {
	tx := claim.Tx
	if tx == nil {
		return nil, violation(TagCommitment, "there is no commitment transaction")
	}
	if len(tx.TxIn) != 1 {
		return nil, violation(TagCommitmentInputMatchFunding, "the commitment has %d inputs, not the one funding output", len(tx.TxIn))
	}
	if tx.TxIn[0].PreviousOutPoint != s.FundingOutpoint {
		return nil, violation(TagCommitmentInputMatchFunding, "the commitment spends %v, not the channel's funding output %v", tx.TxIn[0].PreviousOutPoint, s.FundingOutpoint)
	}
	if tx.Version != 2 {
		return nil, violation(TagCommitmentVersion, "the commitment has version %d, not 2", tx.Version)
	}
	keys, err := s.DeriveKeys()
	if err != nil {
		return nil, violation(TagCommitment, "the commitment cannot be rebuilt: %v", err)
	}
	toLocalWS, err := input.CommitScriptToSelf(uint32(s.ToSelfDelay), keys.OwnerDelayed, keys.Revocation)
	if err != nil {
		return nil, violation(TagCommitment, "the commitment cannot be rebuilt: %v", err)
	}
	toLocal, _ := input.WitnessScriptHash(toLocalWS)
	_, toRemote, err := toRemoteScripts(keys.ToRemote, s.Anchors)
	if err != nil {
		return nil, violation(TagCommitment, "the commitment cannot be rebuilt: %v", err)
	}
	var ownerOut, otherOut uint64
	for _, o := range tx.TxOut {
		switch {
		case o.Value < 0:
		case ownerOut == 0 && bytes.Equal(o.PkScript, toLocal):
			ownerOut = uint64(o.Value)
		case otherOut == 0 && bytes.Equal(o.PkScript, toRemote):
			otherOut = uint64(o.Value)
		}
	}
	s.SetBalancesFromOutputs(ownerOut, otherOut)
	built, err := s.buildWithKeys(keys)
	if err != nil {
		return nil, violation(TagCommitment, "the commitment cannot be rebuilt: %v", err)
	}
	if bytes.Equal(serializeNoWitness(tx), serializeNoWitness(built.Tx)) {
		return built, nil
	}
	return nil, commitmentMismatch(built, claim)
}

// commitmentMismatch names what differs between the rebuilt commitment
// and the claimed one, the most specific rule first.
func commitmentMismatch(built *Commitment, claim CommitmentClaim) *Violation {
	tx, want := claim.Tx, built.Tx
	if tx.LockTime != want.LockTime {
		return violation(TagCommitmentLocktime, "the commitment's nLockTime is %#x, commitment %d of this channel has %#x", tx.LockTime, built.Spec.Num, want.LockTime)
	}
	if tx.TxIn[0].Sequence != want.TxIn[0].Sequence {
		return violation(TagCommitmentSequence, "the commitment's nSequence is %#x, commitment %d of this channel has %#x", tx.TxIn[0].Sequence, built.Spec.Num, want.TxIn[0].Sequence)
	}
	known := map[string]bool{}
	for _, o := range want.TxOut {
		known[string(o.PkScript)] = true
	}
	for i, o := range tx.TxOut {
		if known[string(o.PkScript)] {
			continue
		}
		var hint []byte
		if claim.WitnessScript != nil {
			hint = claim.WitnessScript(i)
		}
		return unrecognizedOutput(built, i, o, hint)
	}
	for i := range max(len(tx.TxOut), len(want.TxOut)) {
		switch {
		case i >= len(tx.TxOut):
			return violation(TagCommitment, "the commitment has %d outputs, the rebuilt one %d (output %d missing)", len(tx.TxOut), len(want.TxOut), i)
		case i >= len(want.TxOut):
			return violation(TagCommitment, "the commitment has %d outputs, the rebuilt one %d (output %d too many)", len(tx.TxOut), len(want.TxOut), i)
		case tx.TxOut[i].Value != want.TxOut[i].Value || !bytes.Equal(tx.TxOut[i].PkScript, want.TxOut[i].PkScript):
			return violation(TagCommitment, "the commitment's output %d (%d sat) differs from the rebuilt one's (%d sat): trimming, anchors, fee or order are not BOLT 3's", i, tx.TxOut[i].Value, want.TxOut[i].Value)
		}
	}
	return violation(TagCommitment, "the commitment differs from the one BOLT 3 builds from the channel's state")
}

// unrecognizedOutput names an output the rebuilt commitment does not
// have: a to_local whose revocation key or delay is not ours to impose
// (told by the witness script the PSBT gives, or by trying every delay
// with the right keys), else an unrecognized output.
func unrecognizedOutput(built *Commitment, i int, o *wire.TxOut, hint []byte) *Violation {
	k, s := built.Keys, built.Spec
	if p2wshOf(hint, o.PkScript) {
		if rev, delay, key, ok := parseToSelf(hint); ok {
			if !rev.IsEqual(k.Revocation) {
				return violation(TagCommitmentRevocationPubkey, "output %d's revocation key is not derived from the revocation basepoint and this commitment's point", i)
			}
			if key.IsEqual(k.OwnerDelayed) && delay != uint64(s.ToSelfDelay) {
				return violation(TagCommitmentToSelfDelayRange, "output %d is delayed %d blocks, not the %d imposed on its owner", i, delay, s.ToSelfDelay)
			}
		}
		if h, ok := htlcRevocationHash(hint); ok && !bytes.Equal(h, btcutil.Hash160(k.Revocation.SerializeCompressed())) {
			return violation(TagCommitmentRevocationPubkey, "HTLC output %d's revocation key is not derived from the revocation basepoint and this commitment's point", i)
		}
	}
	if d, ok := delayOfToSelf(o.PkScript, k.OwnerDelayed, k.Revocation); ok {
		return violation(TagCommitmentToSelfDelayRange, "output %d is delayed %d blocks, not the %d imposed on its owner", i, d, s.ToSelfDelay)
	}
	return violation(TagCommitmentNoUnrecognizedOutputs, "output %d (%d sat) pays a script that is none of this commitment's outputs", i, o.Value)
}

// p2wshOf reports whether ws is the witness script of P2WSH pk.
func p2wshOf(ws, pk []byte) bool {
	if len(ws) == 0 {
		return false
	}
	h, err := input.WitnessScriptHash(ws)
	return err == nil && bytes.Equal(h, pk)
}

// parseToSelf reads BOLT 3's to_local (or HTLC output) script:
// OP_IF <revocationpubkey> OP_ELSE <delay> OP_CSV OP_DROP <delayedpubkey>
// OP_ENDIF OP_CHECKSIG.
func parseToSelf(ws []byte) (rev *btcec.PublicKey, delay uint64, key *btcec.PublicKey, ok bool) {
	var ops []byte
	var data [][]byte
	t := txscript.MakeScriptTokenizer(0, ws)
	for t.Next() {
		ops = append(ops, t.Opcode())
		data = append(data, t.Data())
	}
	if t.Err() != nil || len(ops) != 9 || ops[0] != txscript.OP_IF || ops[2] != txscript.OP_ELSE ||
		ops[4] != txscript.OP_CHECKSEQUENCEVERIFY || ops[5] != txscript.OP_DROP || ops[7] != txscript.OP_ENDIF || ops[8] != txscript.OP_CHECKSIG {
		return nil, 0, nil, false
	}
	rev, err1 := btcec.ParsePubKey(data[1])
	key, err2 := btcec.ParsePubKey(data[6])
	if err1 != nil || err2 != nil {
		return nil, 0, nil, false
	}
	switch op := ops[3]; {
	case op >= txscript.OP_1 && op <= txscript.OP_16:
		delay = uint64(op - txscript.OP_1 + 1)
	case op == txscript.OP_0:
	case len(data[3]) > 0 && len(data[3]) <= 3:
		for j := len(data[3]) - 1; j >= 0; j-- {
			delay = delay<<8 | uint64(data[3][j])
		}
	default:
		return nil, 0, nil, false
	}
	return rev, delay, key, true
}

// htlcRevocationHash is the HASH160 of the revocation key at the start
// of an HTLC output script (OP_DUP OP_HASH160 <20 bytes> OP_EQUAL).
func htlcRevocationHash(ws []byte) ([]byte, bool) {
	if len(ws) < 24 || ws[0] != txscript.OP_DUP || ws[1] != txscript.OP_HASH160 || ws[2] != 20 || ws[23] != txscript.OP_EQUAL {
		return nil, false
	}
	return ws[3:23], true
}

// delayOfToSelf finds the delay of a P2WSH to_self script with the right
// keys by trying the delays below 4,096 (twice the largest delay a
// setup_channel may set): only when naming a violation, the script
// assembled by hand around the delay, 4,096 SHA256s at most. A longer
// delay is an unrecognized output.
func delayOfToSelf(pk []byte, delayed, revocation *btcec.PublicKey) (uint64, bool) {
	if len(pk) != 34 || pk[0] != 0 || pk[1] != 32 {
		return 0, false
	}
	head := append(append([]byte{txscript.OP_IF, 33}, revocation.SerializeCompressed()...), txscript.OP_ELSE)
	tail := append(append([]byte{txscript.OP_CHECKSEQUENCEVERIFY, txscript.OP_DROP, 33}, delayed.SerializeCompressed()...), txscript.OP_ENDIF, txscript.OP_CHECKSIG)
	buf := make([]byte, 0, len(head)+4+len(tail))
	for d := range uint32(4096) {
		buf = append(append(append(buf[:0], head...), pushNumber(d)...), tail...)
		if h := sha256.Sum256(buf); bytes.Equal(h[:], pk[2:]) {
			return uint64(d), true
		}
	}
	return 0, false
}

// pushNumber is the minimal push of a small non-negative script number.
func pushNumber(d uint32) []byte {
	switch {
	case d == 0:
		return []byte{txscript.OP_0}
	case d <= 16:
		return []byte{txscript.OP_1 + byte(d) - 1}
	}
	var n []byte
	for v := d; v > 0; v >>= 8 {
		n = append(n, byte(v))
	}
	if n[len(n)-1]&0x80 != 0 {
		n = append(n, 0)
	}
	return append([]byte{byte(len(n))}, n...)
}

// HTLCClaim is the peer's second-stage HTLC transaction we are asked to
// sign: the transaction, the witness script of the commitment output it
// spends, and the witness script its PSBT gives for its output (a hint).
type HTLCClaim struct {
	Tx          *wire.MsgTx
	InputScript []byte
	// OutputWitness returns the PSBT's witness script of the output
	// (nil: none); asked only to name a violation. nil: no PSBT.
	OutputWitness func() []byte
}

// CheckHTLCTx compares the peer's HTLC transaction with the one BOLT 3
// builds for the output of commitment c it spends: version, locktime,
// sequence (checked first by CheckRemoteHTLC), the spent output, the
// output's keys and delay, and the fee.
func CheckHTLCTx(c *Commitment, claim HTLCClaim) *Violation {
	tx := claim.Tx
	if tx == nil || len(tx.TxIn) != 1 || len(tx.TxOut) != 1 {
		return violation(TagHTLCOther, "an HTLC transaction has one input and one output")
	}
	prev := tx.TxIn[0].PreviousOutPoint
	if prev.Hash != c.Txid() {
		return violation(TagHTLCOther, "the HTLC transaction spends %v, not an output of the commitment we signed (%v)", prev.Hash, c.Txid())
	}
	i := int(prev.Index)
	if i >= len(c.Outputs) || c.Outputs[i].Kind != OutputHTLC {
		return violation(TagHTLCOther, "the HTLC transaction spends output %d of the commitment, which is not an HTLC output", i)
	}
	if !bytes.Equal(claim.InputScript, c.Outputs[i].WitnessScript) {
		return violation(TagHTLCOther, "the witness script given is not that of HTLC output %d", i)
	}
	want, _, err := c.HTLCTx(i)
	if err != nil {
		return violation(TagHTLCOther, "the HTLC transaction cannot be rebuilt: %v", err)
	}
	if bytes.Equal(serializeNoWitness(tx), serializeNoWitness(want)) {
		return nil
	}
	o, w := tx.TxOut[0], want.TxOut[0]
	if tx.Version != want.Version || tx.LockTime != want.LockTime || tx.TxIn[0].Sequence != want.TxIn[0].Sequence {
		return violation(TagHTLCOther, "the HTLC transaction's version, locktime or sequence is not BOLT 3's")
	}
	if !bytes.Equal(o.PkScript, w.PkScript) {
		k := c.Keys
		var hint []byte
		if claim.OutputWitness != nil {
			hint = claim.OutputWitness()
		}
		if p2wshOf(hint, o.PkScript) {
			if rev, delay, key, ok := parseToSelf(hint); ok {
				switch {
				case !rev.IsEqual(k.Revocation):
					return violation(TagHTLCRevocationPubkey, "the HTLC output's revocation key is not derived from our revocation basepoint and the commitment's point")
				case !key.IsEqual(k.OwnerDelayed):
					return violation(TagHTLCDelayedPubkey, "the HTLC output's delayed key is not the peer's delayed payment key at the commitment's point")
				case delay != uint64(c.Spec.ToSelfDelay):
					return violation(TagHTLCToSelfDelay, "the HTLC output is delayed %d blocks, not the %d we imposed", delay, c.Spec.ToSelfDelay)
				}
			}
		}
		if d, ok := delayOfToSelf(o.PkScript, k.OwnerDelayed, k.Revocation); ok {
			return violation(TagHTLCToSelfDelay, "the HTLC output is delayed %d blocks, not the %d we imposed", d, c.Spec.ToSelfDelay)
		}
		return violation(TagHTLCOther, "the HTLC transaction's output pays a script that is not BOLT 3's for this HTLC (revocation or delayed key)")
	}
	if o.Value != w.Value {
		return violation(TagHTLCFeeRange, "the HTLC transaction pays %d sat, BOLT 3's fee leaves %d", o.Value, w.Value)
	}
	return violation(TagHTLCOther, "the HTLC transaction differs from the one BOLT 3 builds")
}

// CheckHTLCLimits bounds a commitment's HTLCs: at most MaxHTLCs in each
// direction (BOLT 2's 483) and at most MaxInFlightSat in all.
func CheckHTLCLimits(htlcs []CommitmentHTLC, lim Limits) *Violation {
	maxN, maxSat := lim.maxHTLCs(), lim.maxInFlightSat()
	var offered, received, msat uint64
	for _, h := range htlcs {
		if h.OfferedByOwner {
			offered++
		} else {
			received++
		}
		msat += h.AmountMsat
	}
	if offered > maxN || received > maxN {
		return violation(TagCommitmentHTLCCountLimit, "the commitment has %d offered and %d received HTLCs, more than %d in one direction", offered, received, maxN)
	}
	if msat/1000 > maxSat {
		return violation(TagCommitmentHTLCInflightLimit, "the commitment's HTLCs hold %d sat, more than %d in flight", msat/1000, maxSat)
	}
	return nil
}

func (l Limits) maxHTLCs() uint64 {
	if l.MaxHTLCsPerDirection == 0 {
		return defaultMaxHTLCs
	}
	return l.MaxHTLCsPerDirection
}

func (l Limits) maxInFlightSat() uint64 {
	if l.MaxInFlightSat == 0 {
		return defaultMaxInFlightSat
	}
	return l.MaxInFlightSat
}

// DustLimit is the dust limit the commitments are built with (546 sat
// unless set): the hsmd messages do not carry it.
func (l Limits) DustLimit() uint64 {
	if l.DustLimitSat == 0 {
		return defaultDustLimitSat
	}
	return l.DustLimitSat
}

// OutputSat is the value of c's output of kind (to_local or to_remote), 0
// when it has none.
func (c *Commitment) OutputSat(kind OutputKind) uint64 {
	for i, o := range c.Outputs {
		if o.Kind == kind {
			return uint64(c.Tx.TxOut[i].Value)
		}
	}
	return 0
}

// Stripped is tx's bytes without witnesses.
func Stripped(tx *wire.MsgTx) []byte { return serializeNoWitness(tx) }
