package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"gl-signerd/signer/curve"
	"sort"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/input"
)

// The BOLT 3 commitment transaction a channel must have: the rebuild the
// commitment checks compare the node's transaction with, byte for byte.
// Scripts come from lnd's input package; the rest (fees, trimming,
// ordering, the obscured commitment number) is BOLT 3 as written.

// BOLT 3 weights and amounts.
const (
	commitWeight          = 724
	commitWeightAnchors   = 1124
	htlcOutputWeight      = 172
	htlcTimeoutWeight     = 663
	htlcSuccessWeight     = 703
	htlcTimeoutWeightAnc  = 666
	htlcSuccessWeightAnc  = 706
	anchorOutputSat       = 330
	defaultDustLimitSat   = 546
	defaultMaxHTLCs       = 483
	defaultMaxInFlightSat = 16_777_216
)

// Basepoints are one side's channel public keys.
type Basepoints struct {
	Funding, Revocation, Payment, HTLC, DelayedPayment *btcec.PublicKey
}

// CommitmentHTLC is one HTLC of a commitment, seen from the commitment's
// owner.
type CommitmentHTLC struct {
	// OfferedByOwner is true for an HTLC the owner of the commitment
	// offered (its HTLC-timeout output), false for one it received.
	OfferedByOwner bool
	AmountMsat     uint64
	PaymentHash    [32]byte
	CltvExpiry     uint32
}

// CommitmentSpec is everything that determines one side's commitment
// (BOLT 3's "local" is the Owner, "remote" the Other side).
type CommitmentSpec struct {
	FundingOutpoint wire.OutPoint
	FundingSat      uint64
	Owner, Other    Basepoints
	// OwnerFunds is true when the owner opened (funded) the channel: it
	// pays the fee and the anchors, and its payment basepoint comes first
	// in the obscuring factor.
	OwnerFunds bool
	// Point is the owner's per-commitment point of commitment Num.
	Point *btcec.PublicKey
	Num   uint64
	// ToSelfDelay is the CSV of the owner's outputs, imposed by the other
	// side.
	ToSelfDelay     uint16
	StaticRemoteKey bool
	Anchors         bool // option_anchor_outputs or option_anchors_zero_fee_htlc_tx
	ZeroFeeAnchors  bool // option_anchors_zero_fee_htlc_tx
	DustLimitSat    uint64
	FeeratePerKw    uint32
	// OwnerMsat and OtherMsat are the balances before the fee and the
	// anchors are taken from the funder's.
	OwnerMsat, OtherMsat uint64
	HTLCs                []CommitmentHTLC
	// Keys derives the commitment's keys (nil: curve's functions, which
	// remember nothing).
	Keys *curve.Deriver
}

// OutputKind says what a commitment output is.
type OutputKind uint8

// The outputs of a commitment.
const (
	OutputToLocal OutputKind = iota + 1
	OutputToRemote
	OutputAnchor
	OutputHTLC
)

// CommitmentOutput is one output of a rebuilt commitment.
type CommitmentOutput struct {
	Kind OutputKind
	// WitnessScript is the P2WSH script (nil for a P2WPKH to_remote).
	WitnessScript []byte
	// HTLC is the index in the spec's HTLCs of an HTLC output, else -1.
	HTLC int
}

// CommitmentKeys are the keys of one commitment: derived from both sides'
// basepoints and the owner's per-commitment point (the HTLC keys nil when
// the commitment has no HTLC output).
type CommitmentKeys struct {
	Revocation, OwnerDelayed, OwnerHTLC, OtherHTLC, ToRemote *btcec.PublicKey
}

// Commitment is a rebuilt commitment transaction.
type Commitment struct {
	Spec    *CommitmentSpec
	Tx      *wire.MsgTx
	Outputs []CommitmentOutput
	Keys    CommitmentKeys
	// FeeSat is the BOLT 3 fee (before trimmed amounts), AnchorsSat what
	// the funder pays for anchors.
	FeeSat, AnchorsSat uint64
}

// errNoKey: a key the commitment needs is missing.
var errNoKey = errors.New("a key of the commitment is missing")

// DeriveKeys derives a commitment's keys (BOLT 3 "Key Derivation").
func (s *CommitmentSpec) DeriveKeys() (CommitmentKeys, error) {
	if s.Point == nil || s.Owner.DelayedPayment == nil || s.Owner.HTLC == nil || s.Other.Revocation == nil ||
		s.Other.HTLC == nil || s.Other.Payment == nil {
		return CommitmentKeys{}, errNoKey
	}
	k := CommitmentKeys{ToRemote: s.Other.Payment}
	var err error
	if k.Revocation, err = s.Keys.RevocationPubKey(s.Other.Revocation, s.Point); err != nil {
		return CommitmentKeys{}, errNoKey
	}
	if k.OwnerDelayed, err = s.Keys.SimplePubKey(s.Owner.DelayedPayment, s.Point); err != nil {
		return CommitmentKeys{}, errNoKey
	}
	// The HTLC keys only when an HTLC output needs them (each is a point
	// multiplication).
	if s.untrimmed() > 0 {
		if k.OwnerHTLC, err = s.Keys.SimplePubKey(s.Owner.HTLC, s.Point); err != nil {
			return CommitmentKeys{}, errNoKey
		}
		if k.OtherHTLC, err = s.Keys.SimplePubKey(s.Other.HTLC, s.Point); err != nil {
			return CommitmentKeys{}, errNoKey
		}
	}
	if !s.StaticRemoteKey && !s.Anchors {
		if k.ToRemote, err = s.Keys.SimplePubKey(s.Other.Payment, s.Point); err != nil {
			return CommitmentKeys{}, errNoKey
		}
	}
	return k, nil
}

func (s *CommitmentSpec) dustLimit() uint64 {
	if s.DustLimitSat == 0 {
		return defaultDustLimitSat
	}
	return s.DustLimitSat
}

// htlcTxFee is the fee of an HTLC's second-stage transaction (0 with
// zero-fee anchors).
func htlcTxFee(feerate uint32, offeredByOwner, anchors, zeroFee bool) uint64 {
	if zeroFee {
		return 0
	}
	w := uint64(htlcSuccessWeight)
	switch {
	case offeredByOwner && anchors:
		w = htlcTimeoutWeightAnc
	case offeredByOwner:
		w = htlcTimeoutWeight
	case anchors:
		w = htlcSuccessWeightAnc
	}
	return uint64(feerate) * w / 1000
}

// Trimmed reports whether HTLC h is below the dust threshold of the
// commitment (BOLT 3 "Trimmed Outputs").
func (s *CommitmentSpec) Trimmed(h CommitmentHTLC) bool {
	return h.AmountMsat/1000 < s.dustLimit()+htlcTxFee(s.FeeratePerKw, h.OfferedByOwner, s.Anchors, s.ZeroFeeAnchors)
}

// Fee is the commitment fee for untrimmed HTLC outputs, and what the
// anchors cost the funder.
func (s *CommitmentSpec) Fee(untrimmed int) (feeSat, anchorsSat uint64) {
	w := uint64(commitWeight)
	if s.Anchors {
		w, anchorsSat = commitWeightAnchors, 2*anchorOutputSat
	}
	return uint64(s.FeeratePerKw) * (w + htlcOutputWeight*uint64(untrimmed)) / 1000, anchorsSat
}

// ObscuringFactor is the lower 48 bits of SHA256(opener's payment
// basepoint ‖ accepter's payment basepoint).
func (s *CommitmentSpec) ObscuringFactor() uint64 {
	opener, accepter := s.Owner.Payment, s.Other.Payment
	if !s.OwnerFunds {
		opener, accepter = accepter, opener
	}
	h := sha256.Sum256(append(opener.SerializeCompressed(), accepter.SerializeCompressed()...))
	var b [8]byte
	copy(b[2:], h[26:])
	return binary.BigEndian.Uint64(b[:])
}

type builtOutput struct {
	out  *wire.TxOut
	desc CommitmentOutput
	cltv uint32
}

// Build makes the commitment transaction of s, unsigned.
func (s *CommitmentSpec) Build() (*Commitment, error) {
	if s.Owner.Payment == nil || s.Other.Payment == nil {
		return nil, errNoKey
	}
	keys, err := s.DeriveKeys()
	if err != nil {
		return nil, err
	}
	return s.buildWithKeys(keys)
}

// buildWithKeys is Build with the commitment's keys derived already.
func (s *CommitmentSpec) buildWithKeys(keys CommitmentKeys) (*Commitment, error) {
	var err error
	c := &Commitment{Spec: s, Keys: keys}
	var outs []builtOutput
	untrimmed := 0
	for i, h := range s.HTLCs {
		if s.Trimmed(h) {
			continue
		}
		untrimmed++
		var ws []byte
		if h.OfferedByOwner {
			ws, err = input.SenderHTLCScript(keys.OwnerHTLC, keys.OtherHTLC, keys.Revocation, h.PaymentHash[:], s.Anchors)
		} else {
			ws, err = input.ReceiverHTLCScript(h.CltvExpiry, keys.OtherHTLC, keys.OwnerHTLC, keys.Revocation, h.PaymentHash[:], s.Anchors)
		}
		if err != nil {
			return nil, err
		}
		pk, err := input.WitnessScriptHash(ws)
		if err != nil {
			return nil, err
		}
		outs = append(outs, builtOutput{out: wire.NewTxOut(int64(h.AmountMsat/1000), exact(pk)), desc: CommitmentOutput{Kind: OutputHTLC, WitnessScript: exact(ws), HTLC: i}, cltv: h.CltvExpiry})
	}
	c.FeeSat, c.AnchorsSat = s.Fee(untrimmed)
	owner, other := s.OwnerMsat/1000, s.OtherMsat/1000
	cost := c.FeeSat + c.AnchorsSat
	if s.OwnerFunds {
		owner = subFloor(owner, cost)
	} else {
		other = subFloor(other, cost)
	}
	dust := s.dustLimit()
	hasLocal, hasRemote := owner >= dust, other >= dust
	if hasLocal {
		ws, err := input.CommitScriptToSelf(uint32(s.ToSelfDelay), keys.OwnerDelayed, keys.Revocation)
		if err != nil {
			return nil, err
		}
		pk, err := input.WitnessScriptHash(ws)
		if err != nil {
			return nil, err
		}
		outs = append(outs, builtOutput{out: wire.NewTxOut(int64(owner), exact(pk)), desc: CommitmentOutput{Kind: OutputToLocal, WitnessScript: exact(ws), HTLC: -1}})
	}
	if hasRemote {
		ws, pk, err := toRemoteScripts(keys.ToRemote, s.Anchors)
		if err != nil {
			return nil, err
		}
		outs = append(outs, builtOutput{out: wire.NewTxOut(int64(other), exact(pk)), desc: CommitmentOutput{Kind: OutputToRemote, WitnessScript: exact(ws), HTLC: -1}})
	}
	if s.Anchors {
		for _, a := range []struct {
			present bool
			key     *btcec.PublicKey
		}{{hasLocal || untrimmed > 0, s.Owner.Funding}, {hasRemote || untrimmed > 0, s.Other.Funding}} {
			if !a.present {
				continue
			}
			if a.key == nil {
				return nil, errNoKey
			}
			ws, err := input.CommitScriptAnchor(a.key)
			if err != nil {
				return nil, err
			}
			pk, err := input.WitnessScriptHash(ws)
			if err != nil {
				return nil, err
			}
			outs = append(outs, builtOutput{out: wire.NewTxOut(anchorOutputSat, exact(pk)), desc: CommitmentOutput{Kind: OutputAnchor, WitnessScript: exact(ws), HTLC: -1}})
		}
	}
	// BIP 69 (value, then script), then the CLTV of identical HTLC outputs.
	sort.SliceStable(outs, func(i, j int) bool {
		a, b := outs[i], outs[j]
		if a.out.Value != b.out.Value {
			return a.out.Value < b.out.Value
		}
		if c := bytes.Compare(a.out.PkScript, b.out.PkScript); c != 0 {
			return c < 0
		}
		return a.cltv < b.cltv
	})
	obscured := (s.Num & 0xffff_ffff_ffff) ^ s.ObscuringFactor()
	tx := wire.NewMsgTx(2)
	tx.LockTime = 0x20<<24 | uint32(obscured&0xffffff)
	in := wire.NewTxIn(&s.FundingOutpoint, nil, nil)
	in.Sequence = 0x80<<24 | uint32(obscured>>24&0xffffff)
	tx.AddTxIn(in)
	for _, o := range outs {
		tx.AddTxOut(o.out)
		c.Outputs = append(c.Outputs, o.desc)
	}
	c.Tx = tx
	return c, nil
}

// exact copies script out of the buffer txscript's script builder makes
// for every script (500 bytes): the signer keeps each channel's last
// rebuilt commitment, whose scripts would otherwise hold about a kilobyte
// per output (a nil script stays nil).
func exact(script []byte) []byte { return bytes.Clone(script) }

// toRemoteScripts are the to_remote output's witness script (nil for
// P2WPKH) and output script: P2WPKH of key, or with anchors P2WSH of
// <key> OP_CHECKSIGVERIFY 1 OP_CSV.
func toRemoteScripts(key *btcec.PublicKey, anchors bool) (ws, pk []byte, err error) {
	if !anchors {
		pk, err = input.CommitScriptUnencumbered(key)
		return nil, pk, err
	}
	if ws, err = input.CommitScriptToRemoteConfirmed(key); err != nil {
		return nil, nil, err
	}
	pk, err = input.WitnessScriptHash(ws)
	return ws, pk, err
}

func subFloor(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// HTLCTx is the second-stage transaction of HTLC output i of c
// (HTLC-timeout for an HTLC the owner offered, HTLC-success otherwise),
// unsigned, and the witness script of its output.
func (c *Commitment) HTLCTx(i int) (*wire.MsgTx, []byte, error) {
	if i < 0 || i >= len(c.Outputs) || c.Outputs[i].Kind != OutputHTLC {
		return nil, nil, errors.New("not an HTLC output")
	}
	s := c.Spec
	h := s.HTLCs[c.Outputs[i].HTLC]
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&wire.OutPoint{Hash: c.Tx.TxHash(), Index: uint32(i)}, nil, nil)
	in.Sequence = 0
	if s.Anchors {
		in.Sequence = 1
	}
	tx.AddTxIn(in)
	if h.OfferedByOwner {
		tx.LockTime = h.CltvExpiry
	}
	fee := htlcTxFee(s.FeeratePerKw, h.OfferedByOwner, s.Anchors, s.ZeroFeeAnchors)
	ws, err := input.SecondLevelHtlcScript(c.Keys.Revocation, c.Keys.OwnerDelayed, uint32(s.ToSelfDelay))
	if err != nil {
		return nil, nil, err
	}
	pk, err := input.WitnessScriptHash(ws)
	if err != nil {
		return nil, nil, err
	}
	tx.AddTxOut(wire.NewTxOut(int64(subFloor(h.AmountMsat/1000, fee)), pk))
	return tx, ws, nil
}

// Txid is the rebuilt commitment's txid.
func (c *Commitment) Txid() chainhash.Hash { return c.Tx.TxHash() }

// serializeNoWitness is tx's bytes without witnesses (what a signature
// commits to and what the comparison compares).
func serializeNoWitness(tx *wire.MsgTx) []byte {
	var b bytes.Buffer
	b.Grow(tx.SerializeSizeStripped())
	_ = tx.SerializeNoWitness(&b)
	return b.Bytes()
}
