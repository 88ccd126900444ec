package signer

import (
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/curve"
	"gl-signerd/signer/policy"
)

// Building the policy's descriptors (policy.Spend, policy.RemoteHTLC) from
// decoded requests, and the check column of the route table: each check
// takes the request the route decoded and returns nil or a violation.

// witnessAllowance is the witness weight WeightMax adds per input on top
// of its witness script: two signatures, a key and the pushes, more than
// any witness hsmd's transactions carry.
const witnessAllowance = 300

// spendOf describes a transaction and its PSBT: the amounts its inputs
// spend (from the PSBT), its outputs and which of them pay our wallet.
// wscriptLen is the witness script each input reveals (0 for wallet
// inputs).
func (e *Engine) spendOf(tx *wire.MsgTx, p *psbt.Packet, amount func(i int) (uint64, bool), wscriptLen int) *policy.Spend {
	s := &policy.Spend{Known: true}
	if tx == nil {
		return s
	}
	for i := range tx.TxIn {
		a, ok := amount(i)
		if !ok {
			s.Known = false
			break
		}
		s.InputValue += a
	}
	base := uint64(tx.SerializeSizeStripped()) * 4
	s.WeightMin = base
	s.WeightMax = base + 2 + uint64(len(tx.TxIn))*uint64(witnessAllowance+wscriptLen)
	s.Outputs = make([]policy.Output, len(tx.TxOut))
	for i, out := range tx.TxOut {
		o := policy.Output{Script: out.PkScript, Value: uint64(max(out.Value, 0))}
		if p != nil && i < len(p.Outputs) {
			o.Ours = e.paysOurWallet(out.PkScript, &p.Outputs[i])
		}
		o.Allowlisted = e.allowlist().Matches(out.PkScript, claimedPaths(p, i))
		s.Outputs[i] = o
	}
	return s
}

// spendOfBitcoinTx is spendOf for a channel transaction (bitcoin_tx).
func (e *Engine) spendOfBitcoinTx(btx *hsmproto.BitcoinTx, wscriptLen int) *policy.Spend {
	var pkt *psbt.Packet
	if p, err := btx.ParsedPSBT(); err == nil && p != nil {
		pkt = p.Packet
	}
	return e.spendOf(btx.Tx, pkt, func(i int) (uint64, bool) {
		a, err := psbtInputAmount(btx, i)
		return a, err == nil
	}, wscriptLen)
}

// spendOfPSBT is spendOf for a wallet PSBT.
func (e *Engine) spendOfPSBT(p *hsmproto.PSBT) *policy.Spend {
	if p == nil || p.Packet == nil || p.UnsignedTx == nil {
		return &policy.Spend{}
	}
	return e.spendOf(p.UnsignedTx, p.Packet, func(i int) (uint64, bool) {
		if i >= len(p.Inputs) {
			return 0, false
		}
		in := &p.Inputs[i]
		switch {
		case in.WitnessUtxo != nil:
			return uint64(max(in.WitnessUtxo.Value, 0)), true
		case in.NonWitnessUtxo != nil:
			idx := p.UnsignedTx.TxIn[i].PreviousOutPoint.Index
			if uint64(idx) < uint64(len(in.NonWitnessUtxo.TxOut)) {
				return uint64(max(in.NonWitnessUtxo.TxOut[idx].Value, 0)), true
			}
		}
		return 0, false
	}, 0)
}

// paysOurWallet reports whether script pays a key of our wallet: for each
// derivation the PSBT claims for the output, the key at that index is
// derived from our seed (m/0/0/i, and BIP86 m/86'/0'/0'/0/i for 64-byte
// seeds) and its P2WPKH, P2SH-P2WPKH and key-path P2TR scripts are
// compared with script. The PSBT's keys and fingerprints are never
// trusted.
func (e *Engine) paysOurWallet(script []byte, out *psbt.POutput) bool {
	var indexes []uint32
	for _, d := range out.Bip32Derivation {
		if n := len(d.Bip32Path); n > 0 {
			indexes = append(indexes, d.Bip32Path[n-1])
		}
	}
	for _, d := range out.TaprootBip32Derivation {
		if n := len(d.Bip32Path); n > 0 {
			indexes = append(indexes, d.Bip32Path[n-1])
		}
	}
	for _, i := range indexes {
		if i >= 1<<31 {
			continue
		}
		if k, err := e.ring.WalletKey(i); err == nil {
			pub := k.PubKey()
			k.Wipe()
			if scriptPaysKey(script, pub) {
				return true
			}
		}
		if e.ring.HasBIP86() {
			if k, err := e.ring.BIP86Key(i); err == nil {
				pub := k.PubKey()
				k.Wipe()
				if scriptPaysKey(script, pub) {
					return true
				}
			}
		}
	}
	return false
}

// scriptPaysKey reports whether script is the P2WPKH, P2SH-P2WPKH or
// key-path-only P2TR script of pub.
func scriptPaysKey(script []byte, pub *btcec.PublicKey) bool {
	switch {
	case isP2WPKH(script):
		return string(script[2:]) == string(btcutil.Hash160(pub.SerializeCompressed()))
	case isP2TR(script):
		q, err := curve.TaprootOutputKey(pub)
		return err == nil && string(script[2:]) == string(schnorr.SerializePubKey(q))
	case len(script) == 23 && script[0] == 0xa9:
		return string(script) == string(p2sh(append([]byte{0x00, 20}, btcutil.Hash160(pub.SerializeCompressed())...)))
	}
	return false
}

// The check column of the route table.

func (e *Engine) checkWithdrawal(_ Client, req *hsmproto.SignWithdrawal) *policy.Violation {
	if e.authorizing() { // the destinations are authorizeWithdrawal's
		return policy.CheckFee(policy.TagOnchainFeeRange, e.spendOfPSBT(req.Psbt), e.policy.limits)
	}
	return policy.CheckWithdrawal(e.spendOfPSBT(req.Psbt), e.policy.limits)
}

// sign_anchorspend has no check yet: lightningd's CPFP change output pays
// the channel's final key without a key path in the PSBT
// (lightningd/anchorspend.c), so proving it ours needs the channel's
// final key index, which comes with channel state; and its fee pays for
// the commitment too.

func (e *Engine) checkMutualClose(_ Client, req *hsmproto.SignMutualCloseTx) *policy.Violation {
	if e.authorizing() { // the destination is authorizeMutualClose's
		return policy.CheckFee(policy.TagMutualFeeRange, e.spendOfBitcoinTx(&req.Tx, 71), e.policy.limits)
	}
	return policy.CheckMutualClose(e.spendOfBitcoinTx(&req.Tx, 71), e.policy.limits)
}

// sweepCheck is the check of a sweep with witness script wscript.
func sweepCheck[M hsmproto.Message](tx func(M) (*hsmproto.BitcoinTx, []byte)) func(*Engine, Client, M) *policy.Violation {
	return func(e *Engine, _ Client, m M) *policy.Violation {
		btx, ws := tx(m)
		return policy.CheckSweep(e.spendOfBitcoinTx(btx, len(ws)), e.policy.limits)
	}
}

var (
	checkDelayedPaymentToUs    = sweepCheck(func(m *hsmproto.SignDelayedPaymentToUs) (*hsmproto.BitcoinTx, []byte) { return &m.Tx, m.Wscript })
	checkAnyDelayedPaymentToUs = sweepCheck(func(m *hsmproto.SignAnyDelayedPaymentToUs) (*hsmproto.BitcoinTx, []byte) { return &m.Tx, m.Wscript })
	checkRemoteHtlcToUs        = sweepCheck(func(m *hsmproto.SignRemoteHtlcToUs) (*hsmproto.BitcoinTx, []byte) { return &m.Tx, m.Wscript })
	checkAnyRemoteHtlcToUs     = sweepCheck(func(m *hsmproto.SignAnyRemoteHtlcToUs) (*hsmproto.BitcoinTx, []byte) { return &m.Tx, m.Wscript })
	checkPenaltyToUs           = sweepCheck(func(m *hsmproto.SignPenaltyToUs) (*hsmproto.BitcoinTx, []byte) { return &m.Tx, m.Wscript })
	checkAnyPenaltyToUs        = sweepCheck(func(m *hsmproto.SignAnyPenaltyToUs) (*hsmproto.BitcoinTx, []byte) { return &m.Tx, m.Wscript })
)

// htlcScriptOffered tells BOLT 3's offered-HTLC script from the received
// one: after the revocation-hash prefix, OP_EQUAL OP_IF OP_CHECKSIG
// OP_ELSE <remote_htlcpubkey> OP_SWAP OP_SIZE 32 OP_EQUAL comes OP_NOTIF
// (offered) or OP_IF (received). ok is false for any other script.
func htlcScriptOffered(ws []byte) (offered, ok bool) {
	if len(ws) < 67 || ws[0] != 0x76 || ws[1] != 0xa9 || ws[2] != 20 || ws[27] != 0x21 {
		return false, false
	}
	switch ws[66] {
	case 0x64:
		return true, true
	case 0x63:
		return false, true
	}
	return false, false
}

func (e *Engine) checkRemoteHtlcTx(_ Client, req *hsmproto.SignRemoteHtlcTx) *policy.Violation {
	tx := req.Tx.Tx
	if tx == nil || len(tx.TxIn) == 0 {
		return nil // the signing step refuses it as hsmd does
	}
	offered, ok := htlcScriptOffered(req.Wscript)
	h := policy.RemoteHTLC{Version: tx.Version, Locktime: tx.LockTime, Sequence: tx.TxIn[0].Sequence,
		Inputs: len(tx.TxIn), Offered: offered, Anchors: req.OptionAnchorOutputs}
	if !ok {
		// Not a BOLT 3 HTLC script: only what does not depend on the
		// HTLC's direction is checked.
		h.Offered, h.Locktime = false, 0
	}
	return policy.CheckRemoteHTLC(h)
}

func (e *Engine) checkSetupChannel(_ Client, req *hsmproto.SetupChannel) *policy.Violation {
	return policy.CheckContestDelays(uint64(req.LocalToSelfDelay), uint64(req.RemoteToSelfDelay), e.policy.limits)
}

func (e *Engine) checkRemoteCommitment(_ Client, req *hsmproto.SignRemoteCommitmentTx) *policy.Violation {
	if v := policy.CheckCommitmentFeerate(uint64(req.Feerate), e.policy.limits); v != nil {
		return v
	}
	if req.Tx.Tx == nil {
		return nil
	}
	s := e.spendOfBitcoinTx(&req.Tx, 71)
	lim := e.policy.limits
	lim.MinFeerateSatPerKw, lim.MaxFeerateSatPerKw = 0, ^uint64(0)>>11
	return policy.CheckFee(policy.TagCommitmentFeeRange, s, lim)
}

// checkInvoice is the check of preapprove_invoice(_check).
func (e *Engine) checkInvoice(invstring string) *policy.Violation {
	n, v := e.policyNetwork()
	if v != nil {
		return v
	}
	inv, v := policy.ParseInvoiceString(invstring, n)
	if v != nil {
		return v
	}
	return policy.CheckInvoiceNotExpired(inv, e.policy.now().Unix())
}

func (e *Engine) checkPreapproveInvoice(_ Client, req *hsmproto.PreapproveInvoice) *policy.Violation {
	return e.checkInvoice(req.Invstring)
}

func (e *Engine) checkPreapproveInvoiceCheck(_ Client, req *hsmproto.PreapproveInvoiceCheck) *policy.Violation {
	return e.checkInvoice(req.Invstring)
}

// policySettings are the engine's policy settings other than its mode.
type policySettings struct {
	limits policy.Limits
	warn   policy.WarnList
	now    func() time.Time
}

// claimedPaths are the derivation paths the PSBT claims for output i.
func claimedPaths(p *psbt.Packet, i int) [][]uint32 {
	if p == nil || i >= len(p.Outputs) {
		return nil
	}
	var paths [][]uint32
	for _, d := range p.Outputs[i].Bip32Derivation {
		paths = append(paths, d.Bip32Path)
	}
	for _, d := range p.Outputs[i].TaprootBip32Derivation {
		paths = append(paths, d.Bip32Path)
	}
	return paths
}
