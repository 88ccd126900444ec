package hsmproto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire"
)

// BitcoinTx is CLN's bitcoin_tx: a transaction and a PSBT about its inputs
// (amounts, scripts). On the wire: u32 length, the transaction (BIP144
// serialization when any input has a witness), then a wally_psbt, which
// here may not be empty.
//
// Decode leaves PSBT nil when the PSBT is one lightningd writes for a
// channel transaction (see keeper): it keeps the checked bytes instead,
// and ParsedPSBT builds the packet on first use; WitnessUTXOAmount reads
// an input's amount without it. Encode and MarshalJSON work either way.
type BitcoinTx struct {
	Tx   *wire.MsgTx
	PSBT *PSBT
	kept *keptPSBT
}

// maxSatoshi is libwally's WALLY_SATOSHI_MAX: 21 million BTC. wally_tx_from_bytes
// refuses a transaction with an output above it (tx_elements_output_init),
// and the PSBT parser a witness UTXO above it (wally_tx_output_init_alloc),
// so CLN's fromwire_bitcoin_tx and fromwire_wally_psbt fail on them.
const maxSatoshi = 21_000_000 * 100_000_000

// txLayout walks a serialized transaction the way libwally's analyze_tx
// does, checking every count and length against the bytes left, before
// btcd allocates anything from them, and every output amount against
// maxSatoshi, as tx_from_bytes does. It returns the serialized length
// and the number of inputs and outputs. With witness false the BIP144
// marker is not recognized (a PSBT's unsigned transaction).
func txLayout(b []byte, witness bool) (n, nIn, nOut int, err error) {
	p := 0
	need := func(k uint64) bool {
		if k > uint64(len(b)-p) {
			err = fmt.Errorf("%w: ends at byte %d", ErrTruncated, len(b))
			return false
		}
		return true
	}
	varint := func() (uint64, bool) {
		if !need(1) {
			return 0, false
		}
		v, size := uint64(b[p]), 1
		switch b[p] {
		case 0xfd:
			size = 3
		case 0xfe:
			size = 5
		case 0xff:
			size = 9
		}
		if !need(uint64(size)) {
			return 0, false
		}
		switch size {
		case 3:
			v = uint64(binary.LittleEndian.Uint16(b[p+1:]))
		case 5:
			v = uint64(binary.LittleEndian.Uint32(b[p+1:]))
		case 9:
			v = binary.LittleEndian.Uint64(b[p+1:])
		}
		p += size
		return v, true
	}
	// count reads a count whose items take at least min bytes each.
	count := func(min uint64) (int, bool) {
		v, ok := varint()
		if ok && v > uint64(len(b)-p)/min {
			err = fmt.Errorf("%w: count %d at byte %d exceeds the data", ErrTruncated, v, p)
			return 0, false
		}
		return int(v), ok
	}
	skipVarBytes := func() bool {
		v, ok := varint()
		if !ok || !need(v) {
			return false
		}
		p += int(v)
		return true
	}
	if !need(4) {
		return 0, 0, 0, err
	}
	p += 4
	segwit := false
	if witness && len(b)-p >= 2 && b[p] == 0 {
		if b[p+1] != 1 {
			return 0, 0, 0, fmt.Errorf("%w: witness flag 0x%02x", ErrBadTx, b[p+1])
		}
		p += 2
		segwit = true
	}
	var ok bool
	if nIn, ok = count(41); !ok {
		return 0, 0, 0, err
	}
	for range nIn {
		if !need(36) {
			return 0, 0, 0, err
		}
		p += 36
		if !skipVarBytes() || !need(4) {
			return 0, 0, 0, err
		}
		p += 4
	}
	if nOut, ok = count(9); !ok {
		return 0, 0, 0, err
	}
	for i := range nOut {
		if !need(8) {
			return 0, 0, 0, err
		}
		if v := binary.LittleEndian.Uint64(b[p:]); v > maxSatoshi {
			return 0, 0, 0, amountError(fmt.Sprintf("output %d", i), v, ErrBadTx)
		}
		p += 8
		if !skipVarBytes() {
			return 0, 0, 0, err
		}
	}
	if segwit {
		for range nIn {
			items, ok := count(1)
			if !ok {
				return 0, 0, 0, err
			}
			for range items {
				if !skipVarBytes() {
					return 0, 0, 0, err
				}
			}
		}
	}
	if !need(4) {
		return 0, 0, 0, err
	}
	return p + 4, nIn, nOut, nil
}

// amountError is the error for an amount above 21 million BTC.
func amountError(what string, sat uint64, kind error) error {
	return fmt.Errorf("%w: %s: %d sat is above 21 million BTC, which libwally refuses to parse", kind, what, sat)
}

// parseTx parses exactly b as a transaction (BIP144 allowed) that must be
// in its canonical serialization, as CLN's fromwire_bitcoin_tx demands
// (its length check compares the announced length with libwally's
// re-serialized length): no non-minimal varints, no witness marker
// without a witness.
func parseTx(b []byte) (*wire.MsgTx, error) {
	tx, _, err := parseTxOwn(b)
	return tx, err
}

// parseTxOwn is parseTx that also returns the copy of b that the
// transaction's scripts are slices of, when it has one (nil otherwise).
func parseTxOwn(b []byte) (tx *wire.MsgTx, own []byte, err error) {
	tx, own, ok := decodeTxOwn(b, true)
	if ok {
		// decodeTx read all of b as txLayout would have walked it; of
		// txLayout's checks only the amounts are left.
		for i, out := range tx.TxOut {
			if v := uint64(out.Value); v > maxSatoshi {
				return nil, nil, amountError(fmt.Sprintf("output %d", i), v, ErrBadTx)
			}
		}
	} else {
		n, _, _, err := txLayout(b, true)
		if err != nil {
			return nil, nil, err
		}
		if n != len(b) {
			return nil, nil, fmt.Errorf("%w: transaction is %d bytes, length says %d", ErrBadTx, n, len(b))
		}
		// btcd says why (or reads it after all: its result stands).
		tx = new(wire.MsgTx)
		if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadTx, err)
		}
	}
	if size := tx.SerializeSize(); size != len(b) {
		return nil, nil, fmt.Errorf("%w: not canonically serialized (%d bytes, canonical %d)", ErrBadTx, len(b), size)
	}
	return tx, own, nil
}

func (d *decoder) readBitcoinTx(f string, v *BitcoinTx) {
	start := d.off
	var n uint32
	d.readU32(f, &n)
	if d.err != nil {
		return
	}
	if uint64(n) > uint64(d.left()) {
		d.failAt(f, start, fmt.Errorf("%w: transaction length %d, %d bytes left", ErrTruncated, n, d.left()))
		return
	}
	txBytes := d.b[d.off : d.off+int(n)]
	tx, own, err := parseTxOwn(txBytes)
	if err != nil {
		d.failAt(f, d.off, err)
		return
	}
	d.off += int(n)
	v.Tx = tx
	d.enter(f, -1)
	defer d.leave()
	psbtStart := d.off
	b, ok := d.readPSBTBytes("psbt")
	switch {
	case !ok:
	case b == nil:
		// fromwire_bitcoin_tx fails where fromwire_wally_psbt returns NULL.
		d.failAt("psbt", psbtStart, fmt.Errorf("%w: a bitcoin_tx needs a PSBT, length is 0", ErrBadPSBT))
	default:
		keepFor := tx // nil: the PSBT is not kept
		if d.opts.parsePSBTs {
			keepFor = nil
		}
		kept, err := scanPSBTKeeping(b, keepFor, txBytes, own)
		if err != nil || kept == nil {
			d.readPSBTFrom("psbt", psbtStart, b, &v.PSBT) // or its error
			return
		}
		v.kept = kept
	}
}

func (e *encoder) writeBitcoinTx(v BitcoinTx) {
	p, err := v.ParsedPSBT()
	if err != nil {
		e.fail(err)
	}
	if v.Tx == nil || p == nil || p.Packet == nil {
		e.fail(errors.New("bitcoin_tx needs both Tx and PSBT"))
		e.writeU32(0)
		e.writeU32(0)
		return
	}
	var buf bytes.Buffer
	buf.Grow(v.Tx.SerializeSize())
	if err := v.Tx.Serialize(&buf); err != nil {
		e.fail(fmt.Errorf("%w: %v", ErrBadTx, err))
	}
	e.writeU32(e.count32("tx", buf.Len()))
	e.writeBytes(buf.Bytes())
	e.writePSBT(p)
}

// MarshalJSON shows the transaction (txid, inputs, outputs, hex) and the
// PSBT.
func (v BitcoinTx) MarshalJSON() ([]byte, error) {
	var o jsonObject
	if v.Tx != nil {
		addTxFields(&o, v.Tx)
	}
	p, err := v.ParsedPSBT()
	if err != nil {
		return nil, err
	}
	o.add("psbt", p)
	return o.finish()
}

type jsonTx struct{ tx *wire.MsgTx }

func (t jsonTx) MarshalJSON() ([]byte, error) {
	var o jsonObject
	addTxFields(&o, t.tx)
	return o.finish()
}

type jsonTxIn struct{ in *wire.TxIn }

func (t jsonTxIn) MarshalJSON() ([]byte, error) {
	var o jsonObject
	o.add("txid", t.in.PreviousOutPoint.Hash)
	o.add("vout", t.in.PreviousOutPoint.Index)
	o.addHex("script_sig", t.in.SignatureScript)
	o.add("sequence", t.in.Sequence)
	if len(t.in.Witness) > 0 {
		w := make([]string, len(t.in.Witness))
		for i, item := range t.in.Witness {
			w[i] = hex.EncodeToString(item)
		}
		o.add("witness", w)
	}
	return o.finish()
}

type jsonTxOut struct{ out *wire.TxOut }

func (t jsonTxOut) MarshalJSON() ([]byte, error) {
	var o jsonObject
	o.add("amount_sat", t.out.Value)
	o.addHex("script", t.out.PkScript)
	return o.finish()
}

func addTxFields(o *jsonObject, tx *wire.MsgTx) {
	o.add("txid", tx.TxHash())
	o.add("version", tx.Version)
	o.add("locktime", tx.LockTime)
	ins := make([]jsonTxIn, len(tx.TxIn))
	for i, in := range tx.TxIn {
		ins[i] = jsonTxIn{in}
	}
	o.add("inputs", ins)
	outs := make([]jsonTxOut, len(tx.TxOut))
	for i, out := range tx.TxOut {
		outs[i] = jsonTxOut{out}
	}
	o.add("outputs", outs)
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err == nil {
		o.addHex("hex", buf.Bytes())
	}
}
