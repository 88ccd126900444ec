package traffic

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/input"

	"gl-signerd/hsmproto"
)

// BOLT 3 constants, with a dust limit of 546 sat on both sides (the
// holder's dust limit is not in the hsmd messages; the policy vectors use
// the same).
const (
	dustLimit        = 546
	anchorSat        = 330
	weightBase       = 724
	weightBaseAnchor = 1124
	weightPerHTLC    = 172
	htlcTimeoutWt    = 663
	htlcSuccessWt    = 703
)

// keyset is one side's channel public keys.
type keyset struct {
	funding, revocation, payment, htlc, delayed *btcec.PublicKey
}

// htlc is an HTLC in both commitments. offeredByUs is hsm_htlc's side
// LOCAL.
type htlc struct {
	amountMsat  uint64
	hash        [32]byte
	preimage    [32]byte
	cltv        uint32
	offeredByUs bool
}

// commitSpec is everything that determines one side's commitment.
type commitSpec struct {
	holderIsUs    bool
	holder, other keyset
	// point is the holder's per-commitment point for this commitment.
	point *btcec.PublicKey
	// toSelfDelay is the CSV delay on the holder's outputs, imposed by
	// the other side.
	toSelfDelay uint16
	holderMsat  uint64
	otherMsat   uint64
	holderFunds bool
	htlcs       []*htlc
	feerate     uint32
	anchors     bool
	// obscured is the commitment number XOR the obscuring factor.
	obscured uint64

	fundingOut     wire.OutPoint
	fundingSat     int64
	fundingWscript []byte
	fundingPk      []byte
}

// commitOutput is one output of a built commitment.
type commitOutput struct {
	out     *wire.TxOut
	wscript []byte // nil for a P2WPKH to_remote
	kind    string // to_local, to_remote, anchor, htlc
	htlc    *htlc
	// offered is true for an HTLC the holder offered (HTLC-timeout).
	offered bool
}

// commitment is a built BOLT 3 commitment transaction.
type commitment struct {
	spec  *commitSpec
	tx    *wire.MsgTx
	outs  []commitOutput // in output order
	revoc *btcec.PublicKey
	delay *btcec.PublicKey
	// holderHTLC and otherHTLC are the HTLC keys at this point.
	holderHTLC, otherHTLC *btcec.PublicKey
}

// obscuringFactor is the lower 48 bits of SHA256(opener's payment
// basepoint ‖ accepter's payment basepoint).
func obscuringFactor(opener, accepter *btcec.PublicKey) uint64 {
	h := sha256.Sum256(append(opener.SerializeCompressed(), accepter.SerializeCompressed()...))
	var b [8]byte
	copy(b[2:], h[26:])
	return binary.BigEndian.Uint64(b[:])
}

func p2wsh(wscript []byte) []byte {
	pk, err := input.WitnessScriptHash(wscript)
	if err != nil {
		panic(err) // only for scripts too long, which ours never are
	}
	return pk
}

func p2wpkh(pub *btcec.PublicKey) []byte {
	pk, err := input.CommitScriptUnencumbered(pub)
	if err != nil {
		panic(err)
	}
	return pk
}

// trimmed reports whether an HTLC is below the holder's dust threshold.
func (s *commitSpec) trimmed(h *htlc) bool {
	sat := int64(h.amountMsat / 1000)
	if s.anchors { // option_anchors_zero_fee_htlc_tx: second-stage fee is 0
		return sat < dustLimit
	}
	weight := int64(htlcSuccessWt)
	if s.offeredByHolder(h) {
		weight = htlcTimeoutWt
	}
	return sat < dustLimit+int64(s.feerate)*weight/1000
}

func (s *commitSpec) offeredByHolder(h *htlc) bool { return h.offeredByUs == s.holderIsUs }

// fee is the commitment fee paid by the funder.
func (s *commitSpec) fee(untrimmed int) int64 {
	w := int64(weightBase)
	if s.anchors {
		w = weightBaseAnchor
	}
	return int64(s.feerate) * (w + weightPerHTLC*int64(untrimmed)) / 1000
}

// build makes the commitment transaction of spec.
func (s *commitSpec) build() (*commitment, error) {
	c := &commitment{spec: s}
	c.revoc = input.DeriveRevocationPubkey(s.other.revocation, s.point)
	c.delay = input.TweakPubKey(s.holder.delayed, s.point)
	c.holderHTLC = input.TweakPubKey(s.holder.htlc, s.point)
	c.otherHTLC = input.TweakPubKey(s.other.htlc, s.point)

	var outs []commitOutput
	untrimmed := 0
	for _, h := range s.htlcs {
		if s.trimmed(h) {
			continue
		}
		untrimmed++
		var ws []byte
		var err error
		offered := s.offeredByHolder(h)
		if offered {
			ws, err = input.SenderHTLCScript(c.holderHTLC, c.otherHTLC, c.revoc, h.hash[:], s.anchors)
		} else {
			ws, err = input.ReceiverHTLCScript(h.cltv, c.otherHTLC, c.holderHTLC, c.revoc, h.hash[:], s.anchors)
		}
		if err != nil {
			return nil, err
		}
		outs = append(outs, commitOutput{out: wire.NewTxOut(int64(h.amountMsat/1000), p2wsh(ws)), wscript: ws, kind: "htlc", htlc: h, offered: offered})
	}

	holderSat, otherSat := int64(s.holderMsat/1000), int64(s.otherMsat/1000)
	cost := s.fee(untrimmed)
	if s.anchors {
		cost += 2 * anchorSat
	}
	if s.holderFunds {
		holderSat -= cost
	} else {
		otherSat -= cost
	}
	if holderSat < 0 || otherSat < 0 {
		return nil, fmt.Errorf("the funder cannot pay the commitment fee (%d sat)", cost)
	}
	hasLocal, hasRemote := holderSat >= dustLimit, otherSat >= dustLimit
	if hasLocal {
		ws, err := input.CommitScriptToSelf(uint32(s.toSelfDelay), c.delay, c.revoc)
		if err != nil {
			return nil, err
		}
		outs = append(outs, commitOutput{out: wire.NewTxOut(holderSat, p2wsh(ws)), wscript: ws, kind: "to_local"})
	}
	if hasRemote {
		if s.anchors {
			ws, err := input.CommitScriptToRemoteConfirmed(s.other.payment)
			if err != nil {
				return nil, err
			}
			outs = append(outs, commitOutput{out: wire.NewTxOut(otherSat, p2wsh(ws)), wscript: ws, kind: "to_remote"})
		} else {
			outs = append(outs, commitOutput{out: wire.NewTxOut(otherSat, p2wpkh(s.other.payment)), kind: "to_remote"})
		}
	}
	if s.anchors {
		if hasLocal || untrimmed > 0 {
			ws, err := input.CommitScriptAnchor(s.holder.funding)
			if err != nil {
				return nil, err
			}
			outs = append(outs, commitOutput{out: wire.NewTxOut(anchorSat, p2wsh(ws)), wscript: ws, kind: "anchor"})
		}
		if hasRemote || untrimmed > 0 {
			ws, err := input.CommitScriptAnchor(s.other.funding)
			if err != nil {
				return nil, err
			}
			outs = append(outs, commitOutput{out: wire.NewTxOut(anchorSat, p2wsh(ws)), wscript: ws, kind: "anchor"})
		}
	}
	// BIP 69, then CLTV for identical HTLC outputs.
	sort.SliceStable(outs, func(i, j int) bool {
		a, b := outs[i], outs[j]
		if a.out.Value != b.out.Value {
			return a.out.Value < b.out.Value
		}
		if cmp := bytes.Compare(a.out.PkScript, b.out.PkScript); cmp != 0 {
			return cmp < 0
		}
		if a.htlc != nil && b.htlc != nil {
			return a.htlc.cltv < b.htlc.cltv
		}
		return false
	})

	tx := wire.NewMsgTx(2)
	tx.LockTime = 0x20<<24 | uint32(s.obscured&0xffffff)
	in := wire.NewTxIn(&s.fundingOut, nil, nil)
	in.Sequence = 0x80<<24 | uint32(s.obscured>>24&0xffffff)
	tx.AddTxIn(in)
	for _, o := range outs {
		tx.AddTxOut(o.out)
	}
	c.tx, c.outs = tx, outs
	return c, nil
}

// htlcList is the hsm_htlc list channeld sends: the untrimmed HTLCs in
// output order, side LOCAL for those we offered.
func (c *commitment) htlcList() []hsmproto.HsmHtlc {
	var l []hsmproto.HsmHtlc
	for _, o := range c.outs {
		if o.htlc == nil {
			continue
		}
		side := hsmproto.Remote
		if o.htlc.offeredByUs {
			side = hsmproto.Local
		}
		l = append(l, hsmproto.HsmHtlc{Side: side, Amount: hsmproto.AmountMsat(o.htlc.amountMsat), PaymentHash: o.htlc.hash, CltvExpiry: o.htlc.cltv})
	}
	return l
}

// htlcOutputs are the indexes of the HTLC outputs, in order.
func (c *commitment) htlcOutputs() []int {
	var idx []int
	for i, o := range c.outs {
		if o.htlc != nil {
			idx = append(idx, i)
		}
	}
	return idx
}

// output returns the index of the first output of kind, or -1.
func (c *commitment) output(kind string) int {
	for i, o := range c.outs {
		if o.kind == kind {
			return i
		}
	}
	return -1
}

// bitcoinTx is the commitment as channeld sends it: the transaction and a
// PSBT with the funding input's amount and witness script and each P2WSH
// output's witness script.
func (c *commitment) bitcoinTx() hsmproto.BitcoinTx {
	s := c.spec
	p := newPSBT(c.tx)
	p.Inputs[0].WitnessUtxo = wire.NewTxOut(s.fundingSat, s.fundingPk)
	p.Inputs[0].WitnessScript = s.fundingWscript
	for i, o := range c.outs {
		p.Outputs[i].WitnessScript = o.wscript
	}
	return hsmproto.BitcoinTx{Tx: c.tx, PSBT: p}
}

// htlcTx is the second-stage transaction of HTLC output i: HTLC-timeout for
// an HTLC the holder offered, HTLC-success otherwise.
func (c *commitment) htlcTx(i int) (hsmproto.BitcoinTx, []byte) {
	s, o := c.spec, c.outs[i]
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: c.tx.TxHash(), Index: uint32(i)}, nil, nil)
	in.Sequence = 0
	if s.anchors {
		in.Sequence = 1
	}
	tx.AddTxIn(in)
	weight := int64(htlcSuccessWt)
	if o.offered {
		tx.LockTime = o.htlc.cltv
		weight = htlcTimeoutWt
	}
	amt := o.out.Value
	if !s.anchors {
		amt -= int64(s.feerate) * weight / 1000
	}
	ws, err := input.SecondLevelHtlcScript(c.revoc, c.delay, uint32(s.toSelfDelay))
	if err != nil {
		panic(err)
	}
	tx.AddTxOut(wire.NewTxOut(amt, p2wsh(ws)))
	p := newPSBT(tx)
	p.Inputs[0].WitnessUtxo = wire.NewTxOut(o.out.Value, o.out.PkScript)
	p.Inputs[0].WitnessScript = o.wscript
	p.Outputs[0].WitnessScript = ws
	return hsmproto.BitcoinTx{Tx: tx, PSBT: p}, o.wscript
}

// htlcSighashType is the sighash of HTLC signatures (BOLT 3).
func htlcSighashType(anchors bool) txscript.SigHashType {
	if anchors {
		return txscript.SigHashSingle | txscript.SigHashAnyOneCanPay
	}
	return txscript.SigHashAll
}

// newPSBT wraps an unsigned transaction in a PSBT with empty maps.
func newPSBT(tx *wire.MsgTx) *hsmproto.PSBT {
	p, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		panic(err) // our transactions are unsigned
	}
	return &hsmproto.PSBT{Packet: p}
}

// witnessSighash is the BIP143 signature hash of input idx spending amount
// locked by pkScript with witness script wscript.
func witnessSighash(tx *wire.MsgTx, idx int, wscript, pkScript []byte, amount int64, ht txscript.SigHashType) ([]byte, error) {
	fetcher := txscript.NewCannedPrevOutputFetcher(pkScript, amount)
	return txscript.CalcWitnessSigHash(wscript, txscript.NewTxSigHashes(tx, fetcher), ht, tx, idx, amount)
}

// fundingOutput is the P2WSH 2-of-2 of the two funding keys.
func fundingOutput(a, b *btcec.PublicKey, sat int64) (wscript, pkScript []byte, err error) {
	ws, out, err := input.GenFundingPkScript(a.SerializeCompressed(), b.SerializeCompressed(), sat)
	if err != nil {
		return nil, nil, err
	}
	return ws, out.PkScript, nil
}

// hash160 is RIPEMD160(SHA256(b)).
func hash160(b []byte) []byte { return btcutil.Hash160(b) }
