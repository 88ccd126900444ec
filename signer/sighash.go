package signer

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
)

// Signature hashes exactly as libwally 1.4 computes them for CLN
// (wally_tx_get_input_signature_hash): pre-segwit, BIP143 (segwit v0) and
// BIP341 key path (taproot). They follow the BIPs; the few places where
// libwally's behaviour is its own are noted where they are implemented:
//
//   - BIP143's scriptCode is hashed as given. (btcd's CalcWitnessSigHash
//     turns a P2WPKH program into its P2PKH script code; libwally, and so
//     hsmd, never does.)
//   - The pre-segwit hash of an input with SIGHASH_SINGLE and no matching
//     output is the value 1, as in Bitcoin Core.
//   - Amounts and scripts are per input index, not per outpoint (btcd's
//     PrevOutputFetcher is keyed by outpoint).
//
// sigHasher caches the midstates that depend only on the transaction, as
// libwally's PSBT signing cache does. Its BIP341 sha_amounts and
// sha_scriptpubkeys are computed at the first taproot hash and then kept
// for the rest of the request, exactly like that cache (see
// psbtSigner.spentOutputs).

// Sighash types (the low byte of hashType).
const (
	sighashDefault      = 0x00
	sighashAll          = 0x01
	sighashNone         = 0x02
	sighashSingle       = 0x03
	sighashAnyoneCanPay = 0x80
	sighashMask         = 0x1f
)

// maxSatoshi is libwally's WALLY_SATOSHI_MAX (21 million BTC).
const maxSatoshi = 21_000_000 * 100_000_000

var errSighashType = errors.New("unsupported sighash type")

// validSighash reports whether libwally hashes with hashType for a bitcoin
// (not Elements) transaction: 0 (SIGHASH_DEFAULT, also accepted for
// segwit v0 and pre-segwit), ALL, NONE, SINGLE, each with or without
// ANYONECANPAY. ANYPREVOUT needs a tapscript key version, which a PSBT key
// spend never has.
func validSighash(hashType uint32) bool {
	switch hashType {
	case sighashDefault, sighashAll, sighashNone, sighashSingle,
		sighashAll | sighashAnyoneCanPay, sighashNone | sighashAnyoneCanPay, sighashSingle | sighashAnyoneCanPay:
		return true
	}
	return false
}

type sigHasher struct {
	tx *wire.MsgTx
	// outputs, when set, is tx's outputs serialized (as
	// hsmproto.BitcoinTx.SerializedOutputs gives them): hashed as it is.
	outputs []byte

	v0                              bool
	prevouts0, sequences0, outputs0 [32]byte // BIP143: double SHA-256

	v1                              bool
	prevouts1, sequences1, outputs1 [32]byte // BIP341: single SHA-256

	spent             bool
	amounts, scripts1 [32]byte // BIP341 sha_amounts, sha_scriptpubkeys
}

func newSigHasher(tx *wire.MsgTx) *sigHasher { return &sigHasher{tx: tx} }

func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendVarBytes(b, v []byte) []byte {
	return append(hsmproto.AppendCompactSize(b, uint64(len(v))), v...)
}

func appendOutPoint(b []byte, op *wire.OutPoint) []byte {
	return le32(append(b, op.Hash[:]...), op.Index)
}

func appendTxOut(b []byte, o *wire.TxOut) []byte {
	return appendVarBytes(le64(b, uint64(o.Value)), o.PkScript)
}

// sum finishes h, once (BIP341) or twice (BIP143, pre-segwit).
func sum(h hash.Hash, double bool) [32]byte {
	var out [32]byte
	h.Sum(out[:0])
	if double {
		out = sha256.Sum256(out[:])
	}
	return out
}

// midstates hashes the transaction's outpoints, sequences and outputs with
// single (BIP341) or double (BIP143) SHA-256. Each is serialized whole and
// hashed at once, in a buffer on the stack for transactions of a few
// inputs (channel transactions have one).
func (s *sigHasher) midstates(double bool) (prevouts, sequences, outputs [32]byte) {
	var stack [4 * 36]byte
	buf := stack[:0]
	for _, in := range s.tx.TxIn {
		buf = appendOutPoint(buf, &in.PreviousOutPoint)
	}
	prevouts = hashOf(buf, double)
	buf = buf[:0]
	for _, in := range s.tx.TxIn {
		buf = le32(buf, in.Sequence)
	}
	sequences = hashOf(buf, double)
	if s.outputs != nil {
		return prevouts, sequences, hashOf(s.outputs, double)
	}
	buf = buf[:0]
	for _, out := range s.tx.TxOut {
		buf = appendTxOut(buf, out)
	}
	return prevouts, sequences, hashOf(buf, double)
}

// hashOf is the single (BIP341) or double (BIP143, pre-segwit) SHA-256 of b.
func hashOf(b []byte, double bool) [32]byte {
	h := sha256.Sum256(b)
	if double {
		h = sha256.Sum256(h[:])
	}
	return h
}

// witnessV0 is the BIP143 signature hash of input idx spending amount with
// scriptCode. The caller checks that idx is an input of the transaction.
func (s *sigHasher) witnessV0(idx int, scriptCode []byte, amount uint64, hashType uint32) [32]byte {
	if !s.v0 {
		s.prevouts0, s.sequences0, s.outputs0 = s.midstates(true)
		s.v0 = true
	}
	tx, in := s.tx, s.tx.TxIn[idx]
	acp := hashType&sighashAnyoneCanPay != 0
	base := hashType & sighashMask
	var zero [32]byte

	var stack [256]byte // the preimage, for scripts of up to 100 bytes
	b := le32(stack[:0], uint32(tx.Version))
	if acp {
		b = append(b, zero[:]...)
	} else {
		b = append(b, s.prevouts0[:]...)
	}
	if acp || base == sighashSingle || base == sighashNone {
		b = append(b, zero[:]...)
	} else {
		b = append(b, s.sequences0[:]...)
	}
	b = appendOutPoint(b, &in.PreviousOutPoint)
	b = appendVarBytes(b, scriptCode)
	b = le64(b, amount)
	b = le32(b, in.Sequence)
	switch {
	case base == sighashNone || (base == sighashSingle && idx >= len(tx.TxOut)):
		b = append(b, zero[:]...)
	case base == sighashSingle:
		out := chainhash.DoubleHashB(appendTxOut(nil, tx.TxOut[idx]))
		b = append(b, out...)
	default:
		b = append(b, s.outputs0[:]...)
	}
	b = le32(b, tx.LockTime)
	b = le32(b, hashType)
	return hashOf(b, true)
}

// legacy is the pre-segwit signature hash of input idx with script as its
// scriptCode (libwally hashes it as given: no OP_CODESEPARATOR handling).
func (s *sigHasher) legacy(idx int, script []byte, hashType uint32) [32]byte {
	tx := s.tx
	acp := hashType&sighashAnyoneCanPay != 0
	base := hashType & sighashMask
	none, single := base == sighashNone, base == sighashSingle
	if idx >= len(tx.TxIn) || (single && idx >= len(tx.TxOut)) {
		// Bitcoin Core's (and libwally's) "one" for SIGHASH_SINGLE
		// without a matching output.
		return [32]byte{1}
	}
	b := le32(nil, uint32(tx.Version))
	if acp {
		b = hsmproto.AppendCompactSize(b, 1)
	} else {
		b = hsmproto.AppendCompactSize(b, uint64(len(tx.TxIn)))
	}
	for i, in := range tx.TxIn {
		if acp && i != idx {
			continue
		}
		b = appendOutPoint(b, &in.PreviousOutPoint)
		if i == idx {
			b = appendVarBytes(b, script)
		} else {
			b = append(b, 0)
		}
		if (none || single) && i != idx {
			b = le32(b, 0)
		} else {
			b = le32(b, in.Sequence)
		}
	}
	switch {
	case none:
		b = append(b, 0)
	case single:
		b = hsmproto.AppendCompactSize(b, uint64(idx+1))
		for i := 0; i <= idx; i++ {
			if i != idx {
				// An "empty" output: value -1, no script.
				b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00)
				continue
			}
			b = appendTxOut(b, tx.TxOut[i])
		}
	default:
		b = hsmproto.AppendCompactSize(b, uint64(len(tx.TxOut)))
		for _, out := range tx.TxOut {
			b = appendTxOut(b, out)
		}
	}
	b = le32(b, tx.LockTime)
	b = le32(b, hashType)
	return chainhash.DoubleHashH(b)
}

// tagTapSighash is SHA256("TapSighash"), the BIP340 tag of BIP341 hashes.
var tagTapSighash = sha256.Sum256([]byte("TapSighash"))

// taprootKeySpend is the BIP341 signature hash of a key path spend of input
// idx (no annex). spent(i) returns input i's spent output; for
// ANYONECANPAY only idx's is used, otherwise the caller has checked that
// every input has one. The caller also checks hashType (validSighash) and
// that SIGHASH_SINGLE has a matching output.
func (s *sigHasher) taprootKeySpend(idx int, hashType uint32, spent func(i int) *wire.TxOut) [32]byte {
	if !s.v1 {
		s.prevouts1, s.sequences1, s.outputs1 = s.midstates(false)
		s.v1 = true
	}
	tx, in := s.tx, s.tx.TxIn[idx]
	acp := hashType&sighashAnyoneCanPay != 0
	outType := hashType & 3
	if hashType == sighashDefault {
		outType = sighashAll
	}

	h := sha256.New()
	h.Write(tagTapSighash[:])
	h.Write(tagTapSighash[:])
	b := make([]byte, 0, 256)
	b = append(b, 0x00, byte(hashType)) // epoch, hash_type
	b = le32(b, uint32(tx.Version))
	b = le32(b, tx.LockTime)
	if !acp {
		if !s.spent {
			s.hashSpent(spent)
		}
		b = append(b, s.prevouts1[:]...)
		b = append(b, s.amounts[:]...)
		b = append(b, s.scripts1[:]...)
		b = append(b, s.sequences1[:]...)
	}
	if outType == sighashAll {
		b = append(b, s.outputs1[:]...)
	}
	b = append(b, 0x00) // spend_type: key path, no annex
	if acp {
		out := spent(idx)
		b = appendOutPoint(b, &in.PreviousOutPoint)
		b = le64(b, uint64(out.Value))
		b = appendVarBytes(b, out.PkScript)
		b = le32(b, in.Sequence)
	} else {
		b = le32(b, uint32(idx))
	}
	if outType == sighashSingle {
		o := sha256.Sum256(appendTxOut(nil, tx.TxOut[idx]))
		b = append(b, o[:]...)
	}
	h.Write(b)
	return sum(h, false)
}

// hashSpent computes (once) BIP341's sha_amounts and sha_scriptpubkeys.
func (s *sigHasher) hashSpent(spent func(i int) *wire.TxOut) {
	ha, hs := sha256.New(), sha256.New()
	var buf []byte
	for i := range s.tx.TxIn {
		out := spent(i)
		buf = le64(buf[:0], uint64(out.Value))
		ha.Write(buf)
		buf = appendVarBytes(buf[:0], out.PkScript)
		hs.Write(buf)
	}
	s.amounts, s.scripts1 = sum(ha, false), sum(hs, false)
	s.spent = true
}
