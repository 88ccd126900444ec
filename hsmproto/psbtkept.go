package hsmproto

import (
	"bytes"
	"encoding/binary"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
)

// The PSBT of a bitcoin_tx is, for the channel transactions lightningd asks
// hsmd to sign, the transaction once more plus each input's amount (and
// sometimes scripts). A handler needs the amount of the input it signs;
// building btcutil's packet from it costs as much again as the rest of the
// request's decoding (for a commitment with 30 HTLCs, 5 of 15 µs, and most
// of the allocations). So Decode checks such a PSBT as ParsePSBT does, keeps
// its bytes and amounts, and leaves the packet to BitcoinTx.ParsedPSBT. The
// bytes of its unsigned transaction are those the bitcoin_tx's Tx was read
// from, and are not copied twice.

// keptPSBT is a bitcoin_tx's PSBT as Decode keeps it: bytes that fastPSBT
// reads, and the amount of each input's witness UTXO (−1 for none). The
// bytes are kept in two parts: the unsigned transaction, which is the
// bitcoin_tx's own transaction and so shares the copy Tx was read from,
// and the rest of the PSBT around it (a hundred bytes for lightningd's).
type keptPSBT struct {
	tx             []byte // the unsigned transaction
	frame          []byte // the PSBT without tx: tx goes at split
	split          int
	witnessAmounts []int64
	outputs        [2]int // the transaction's serialized outputs in tx
}

// raw is the PSBT's bytes, whole.
func (k *keptPSBT) raw() []byte {
	b := make([]byte, 0, len(k.frame)+len(k.tx))
	b = append(b, k.frame[:k.split]...)
	b = append(b, k.tx...)
	return append(b, k.frame[k.split:]...)
}

// keeper decides, field by field as scanPSBTKeeping reads them, whether
// fastPSBT is certain to read a PSBT with no more checks than those
// scanPSBT and the bitcoin_tx's transaction have made: the unsigned
// transaction is that transaction's bytes (read without witness, no
// signature scripts); the inputs carry only witness UTXOs, sighash types,
// scripts and final scripts, the outputs only scripts, as lightningd
// writes them. Anything else (BIP32 derivations, whose keys fastPSBT checks
// are points, non-witness UTXOs, other fields) is left to ParsePSBT.
type keeper struct {
	ok      bool
	tx      *wire.MsgTx
	amounts []int64
	txAt    [2]int // the unsigned transaction in the PSBT
	outputs [2]int // its serialized outputs, in it
}

func (k *keeper) start(tx *wire.MsgTx) {
	k.ok = tx != nil && len(tx.TxIn) > 0 // with no inputs, the BIP144 marker reads differently
	if !k.ok {
		return
	}
	for _, in := range tx.TxIn {
		if len(in.SignatureScript) != 0 || len(in.Witness) != 0 {
			k.ok = false
			return
		}
	}
	k.tx = tx
	k.amounts = make([]int64, len(tx.TxIn))
	for i := range k.amounts {
		k.amounts[i] = -1
	}
}

// fits is fastPSBT's limit on a value.
func (k *keeper) fits(kv psbtKV) {
	if len(kv.val) > psbt.MaxPsbtValueLength {
		k.ok = false
	}
}

func (k *keeper) global(i int, kv psbtKV, txBytes []byte) {
	if i != 0 || len(kv.key) != 1 || kv.key[0] != 0x00 || !bytes.Equal(kv.val, txBytes) {
		k.ok = false
	}
	k.fits(kv)
	if k.ok {
		k.txAt = [2]int{kv.valOff, kv.valOff + len(kv.val)}
		// The outputs end where the lock time starts (no witness); they
		// are as long as tx's outputs serialize.
		end := len(txBytes) - 4
		n := 0
		for _, out := range k.tx.TxOut {
			n += out.SerializeSize()
		}
		k.outputs = [2]int{end - n, end}
		k.ok = end-n >= 0
	}
}

func (k *keeper) input(i int, kv psbtKV) {
	if !k.ok {
		return
	}
	k.fits(kv)
	switch kv.key[0] {
	case 0x01: // PSBT_IN_WITNESS_UTXO, as fastPSBT takes it
		if len(kv.val) < 10 || kv.val[8] >= 0xfd || int(kv.val[8]) != len(kv.val)-9 {
			k.ok = false
			return
		}
		k.amounts[i] = int64(binary.LittleEndian.Uint64(kv.val))
	case 0x03:
		if len(kv.val) != 4 {
			k.ok = false
		}
	case 0x04, 0x05, 0x07, 0x08:
	default:
		k.ok = false
	}
}

func (k *keeper) output(kv psbtKV) {
	k.fits(kv)
	if kv.key[0] != 0x00 && kv.key[0] != 0x01 {
		k.ok = false
	}
}

// result is the kept PSBT, b being its bytes up to the last output map
// (libwally ignores what follows, and so does Bytes), or nil. own, if not
// nil, is a copy of the unsigned transaction's bytes to share.
func (k *keeper) result(b, own []byte) *keptPSBT {
	if !k.ok {
		return nil
	}
	at := k.txAt
	if own == nil {
		own = bytes.Clone(b[at[0]:at[1]])
	}
	frame := make([]byte, 0, len(b)-(at[1]-at[0]))
	frame = append(append(frame, b[:at[0]]...), b[at[1]:]...)
	return &keptPSBT{tx: own, frame: frame, split: at[0], witnessAmounts: k.amounts, outputs: k.outputs}
}

// parse builds the packet, as ParsePSBT does.
func (k *keptPSBT) parse() (*PSBT, error) {
	raw := k.raw()
	if pkt, ok := fastPSBT(raw); ok {
		return &PSBT{pkt}, nil
	}
	return ParsePSBT(raw) // not reached: a keeper admits only what fastPSBT reads
}

// ParsedPSBT returns v.PSBT, first building it from the bytes Decode kept
// when the message came from the wire (see BitcoinTx). It fails only if
// those bytes, which Decode accepted, do not parse after all.
func (v *BitcoinTx) ParsedPSBT() (*PSBT, error) {
	if v.PSBT != nil || v.kept == nil {
		return v.PSBT, nil
	}
	p, err := v.kept.parse()
	if err != nil {
		return nil, err
	}
	v.PSBT, v.kept = p, nil
	return p, nil
}

// SerializedOutputs is the serialization of the transaction's outputs (no
// count) as Decode read them, when it kept the PSBT (which carries the
// same transaction); nil otherwise. A signer hashes it for BIP 143 and
// BIP 341 instead of serializing Tx.TxOut again. It does not follow later
// changes to Tx: callers that change Tx must not use it. (Tx's scripts
// are slices of the same bytes: they are not to be changed in place.)
func (v *BitcoinTx) SerializedOutputs() []byte {
	if v.kept == nil || v.PSBT != nil {
		return nil
	}
	o := v.kept.outputs
	return v.kept.tx[o[0]:o[1]:o[1]]
}

// WitnessUTXOAmount is the amount of the witness UTXO that the PSBT gives
// input in, without building the packet; ok is false when there is no PSBT,
// no such input or no witness UTXO for it.
func (v *BitcoinTx) WitnessUTXOAmount(in int) (amount int64, ok bool) {
	switch {
	case in < 0:
		return 0, false
	case v.PSBT != nil:
		p := v.PSBT.Packet
		if p == nil || p.UnsignedTx == nil || in >= len(p.UnsignedTx.TxIn) || in >= len(p.Inputs) || p.Inputs[in].WitnessUtxo == nil {
			return 0, false
		}
		return v.PSBT.Inputs[in].WitnessUtxo.Value, true
	case v.kept != nil:
		if in >= len(v.kept.witnessAmounts) || v.kept.witnessAmounts[in] < 0 {
			return 0, false
		}
		return v.kept.witnessAmounts[in], true
	}
	return 0, false
}
