package hsmproto

import (
	"bytes"
	"encoding/binary"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// decodeTx reads the serialized transaction b into the wire.MsgTx that
// btcd's MsgTx.Deserialize (witness true) or DeserializeNoWitness would
// return, field for field: signature scripts, witness items and output
// scripts are capacity-capped slices of one new buffer (never of b: of a
// copy of it, so that each is stored once), a signature script is empty but
// not nil, Witness is nil without the BIP144 marker and a slice of the
// announced length with it.
//
// It reads straight from the bytes instead of through btcd's io.Reader
// and buffer pool, which costs several times more on the transactions of
// every signing request. ok is false, and nothing is returned, where btcd
// would fail or where b is not one whole transaction: parseTx then walks b
// with txLayout and asks btcd, for the error.
func decodeTx(b []byte, witness bool) (tx *wire.MsgTx, ok bool) {
	tx, _, ok = decodeTxOwn(b, witness)
	return tx, ok
}

// decodeTxOwn is decodeTx that also returns the copy of b it read, which
// the scripts and witness items are slices of.
func decodeTxOwn(b []byte, witness bool) (tx *wire.MsgTx, own []byte, ok bool) {
	b = bytes.Clone(b)
	p := 0
	fail := false
	take := func(n uint64) []byte {
		if fail || n > uint64(len(b)-p) {
			fail = true
			return nil
		}
		s := b[p : p+int(n) : p+int(n)]
		p += int(n)
		return s
	}
	varint := func() uint64 {
		s := take(1)
		if s == nil {
			return 0
		}
		switch s[0] {
		case 0xfd:
			if s = take(2); s != nil {
				return uint64(binary.LittleEndian.Uint16(s))
			}
		case 0xfe:
			if s = take(4); s != nil {
				return uint64(binary.LittleEndian.Uint32(s))
			}
		case 0xff:
			if s = take(8); s != nil {
				return binary.LittleEndian.Uint64(s)
			}
		default:
			return uint64(s[0])
		}
		return 0
	}
	// count reads a count of items of at least min bytes each.
	count := func(min int) int {
		v := varint()
		if fail || v > uint64(len(b)-p)/uint64(min) {
			fail = true
			return 0
		}
		return int(v)
	}

	tx = new(wire.MsgTx)
	if s := take(4); s != nil {
		tx.Version = int32(binary.LittleEndian.Uint32(s))
	}
	segwit := false
	if witness && len(b)-p >= 2 && b[p] == 0 {
		if b[p+1] != 1 {
			return nil, nil, false
		}
		p += 2
		segwit = true
	}

	nIn := count(41)
	ins := make([]wire.TxIn, nIn)
	tx.TxIn = make([]*wire.TxIn, nIn)
	for i := range nIn {
		op := take(36)
		script := take(varint())
		seq := take(4)
		if fail {
			return nil, nil, false
		}
		in := &ins[i]
		copy(in.PreviousOutPoint.Hash[:], op[:chainhash.HashSize])
		in.PreviousOutPoint.Index = binary.LittleEndian.Uint32(op[chainhash.HashSize:])
		in.SignatureScript = script
		in.Sequence = binary.LittleEndian.Uint32(seq)
		tx.TxIn[i] = in
	}
	nOut := count(9)
	outs := make([]wire.TxOut, nOut)
	tx.TxOut = make([]*wire.TxOut, nOut)
	for i := range nOut {
		v := take(8)
		script := take(varint())
		if fail {
			return nil, nil, false
		}
		outs[i] = wire.TxOut{Value: int64(binary.LittleEndian.Uint64(v)), PkScript: script}
		tx.TxOut[i] = &outs[i]
	}
	if segwit {
		hasWitness := false
		for i := range nIn {
			w := make(wire.TxWitness, count(1))
			for j := range w {
				w[j] = take(varint())
			}
			ins[i].Witness = w
			hasWitness = hasWitness || len(w) > 0
		}
		if !hasWitness {
			return nil, nil, false // btcd: errSuperfluousWitnessRecord
		}
	}
	if s := take(4); s != nil {
		tx.LockTime = binary.LittleEndian.Uint32(s)
	}
	if fail || p != len(b) {
		return nil, nil, false
	}
	return tx, b, true
}
