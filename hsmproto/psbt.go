package hsmproto

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// PSBT is a version 0 PSBT as CLN's hsmd reads and writes it, through
// libwally 1.4 (wally_psbt_from_bytes, and wally_psbt_to_bytes after
// converting to v0). Read and change the fields through the embedded
// btcutil Packet; Bytes (and every message Encode) writes them in
// libwally's layout, which differs from psbt.Packet.Serialize:
//
//   - key-value pairs are written in libwally's field order, and repeated
//     fields (partial signatures, BIP32 and taproot derivations, unknowns)
//     in slice order, which is the order they were read or appended in:
//     a signer that appends its signature to PartialSigs gets the bytes
//     hsmd writes. (Packet.Serialize sorts, and sorts in place.)
//   - PSBT_IN_NON_WITNESS_UTXO is written without witness data.
//   - a finalized input (final scriptSig or witness set) loses its partial
//     signatures, sighash type, redeem and witness scripts and BIP32
//     derivations; its taproot fields stay.
//   - global xpubs come right after the unsigned transaction; proof of
//     reserves and hash preimages of an input (which btcutil keeps as
//     Unknowns) come after the final scriptSig/witness, before taproot.
//   - PSBT_GLOBAL_VERSION 0 is not written (ParsePSBT drops it).
//
// A PSBT read from the wire and not changed is written back byte for byte
// when it was in libwally's layout, which every PSBT lightningd sends is.
type PSBT struct {
	*psbt.Packet
}

var psbtMagic = []byte("psbt\xff")

// ParsePSBT reads a serialized v0 PSBT. On top of btcutil's checks it
// applies libwally's rules where btcutil is laxer or would misread or
// panic: exact field sizes, no v2-only fields, no duplicate keys, no
// empty scripts, no amount above 21 million BTC (an output of the
// unsigned transaction or of a non-witness UTXO, a witness UTXO); and it
// rejects counts and lengths larger than the data.
// Bytes after the last output map are ignored (libwally ignores them, and
// so does Bytes).
//
// Where it still differs from libwally 1.4, it is stricter, on PSBTs
// lightningd does not write: the unsigned transaction must be the first
// global field; PSBT v2 is refused (hsmd would convert it; lightningd
// sends v0); partial signatures must be DER, taproot signatures, x-only
// keys and control blocks must parse (libwally checks their lengths); a
// final script witness must be exactly a witness stack; a 65-byte taproot
// script signature may not have sighash 0. It is laxer in one point:
// hash preimages are not checked against their hash.
func ParsePSBT(b []byte) (p *PSBT, err error) {
	if err := scanPSBT(b); err != nil {
		return nil, err
	}
	if pkt, ok := fastPSBT(b); ok {
		return &PSBT{pkt}, nil
	}
	defer func() {
		// scanPSBT rules out every input known to panic btcutil; this is
		// the last line of defence for a hostile PSBT.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: %w: %v", ErrBadPSBT, errParserPanic, r)
		}
	}()
	pkt, err := psbt.NewFromRawBytes(bytes.NewReader(b), false)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPSBT, err)
	}
	pkt.Unknowns = slices.DeleteFunc(pkt.Unknowns, func(u *psbt.Unknown) bool {
		return bytes.Equal(u.Key, []byte{psbtGlobalVersion})
	})
	return &PSBT{pkt}, nil
}

const psbtGlobalVersion = 0xfb

// errParserPanic marks a PSBT that made btcutil panic (FuzzParsePSBT fails
// on it: scanPSBT should have rejected it first).
var errParserPanic = errors.New("btcutil panicked")

// psbtKV is one key-value pair of a PSBT map; key is nil for the separator.
type psbtKV struct {
	key, val    []byte
	off, valOff int // where the pair and its value start in the PSBT
}

// readCompact reads a Bitcoin CompactSize (canonical, as btcd requires).
func readCompact(b []byte, p int) (uint64, int, error) {
	if p >= len(b) {
		return 0, p, fmt.Errorf("%w: ends at byte %d", ErrTruncated, len(b))
	}
	size, min := 1, uint64(0)
	switch b[p] {
	case 0xfd:
		size, min = 3, 0xfd
	case 0xfe:
		size, min = 5, 0x10000
	case 0xff:
		size, min = 9, 0x100000000
	}
	if len(b)-p < size {
		return 0, p, fmt.Errorf("%w: ends at byte %d", ErrTruncated, len(b))
	}
	var v uint64
	switch size {
	case 1:
		v = uint64(b[p])
	case 3:
		v = uint64(binary.LittleEndian.Uint16(b[p+1:]))
	case 5:
		v = uint64(binary.LittleEndian.Uint32(b[p+1:]))
	case 9:
		v = binary.LittleEndian.Uint64(b[p+1:])
	}
	if v < min {
		return 0, p, fmt.Errorf("%w: non-canonical CompactSize at byte %d", ErrBadPSBT, p)
	}
	return v, p + size, nil
}

func readVarBytes(b []byte, p int) ([]byte, int, error) {
	n, p, err := readCompact(b, p)
	if err != nil {
		return nil, p, err
	}
	if n > uint64(len(b)-p) {
		return nil, p, fmt.Errorf("%w: %d bytes announced at byte %d, %d left", ErrTruncated, n, p, len(b)-p)
	}
	return b[p : p+int(n)], p + int(n), nil
}

func readPSBTKV(b []byte, p int) (psbtKV, int, error) {
	kv := psbtKV{off: p}
	key, p, err := readVarBytes(b, p)
	if err != nil || len(key) == 0 {
		return kv, p, err
	}
	if len(key) > psbt.MaxPsbtKeyLength {
		return kv, p, fmt.Errorf("%w: key of %d bytes at byte %d", ErrBadPSBT, len(key), kv.off)
	}
	val, p, err := readVarBytes(b, p)
	kv.key, kv.val, kv.valOff = key, val, p-len(val)
	return kv, p, err
}

// scanPSBT checks the framing and the libwally field rules before btcutil
// parses anything.
func scanPSBT(b []byte) error {
	_, err := scanPSBTKeeping(b, nil, nil, nil)
	return err
}

// scanPSBTKeeping is scanPSBT that also decides, in the same pass, whether
// b can be kept as bytes for the bitcoin_tx whose transaction tx was read
// from txBytes (see keeper; with tx nil it cannot): kept is then
// non-nil. The unsigned transaction, when it is txBytes, is not walked
// again: tx's reading has checked those very bytes. own, if not nil, is
// the copy of txBytes that tx's scripts are slices of: the kept PSBT
// shares it instead of copying those bytes once more.
func scanPSBTKeeping(b []byte, tx *wire.MsgTx, txBytes, own []byte) (kept *keptPSBT, err error) {
	if !bytes.HasPrefix(b, psbtMagic) {
		return nil, fmt.Errorf("%w: no psbt magic", ErrBadPSBT)
	}
	var keep keeper
	keep.start(tx)
	p := len(psbtMagic)
	nIn, nOut := -1, -1
	p, err = scanMap(b, p, "global", -1, func(i int, kv psbtKV) error {
		keep.global(i, kv, txBytes)
		typ := kv.key[0]
		switch {
		case typ == 0x00:
			if i != 0 {
				return errors.New("the unsigned transaction must be the first global field")
			}
			if len(kv.key) != 1 {
				return errors.New("key data on the unsigned transaction")
			}
			if keep.ok {
				nIn, nOut = len(tx.TxIn), len(tx.TxOut)
				return nil
			}
			var err error
			_, nIn, nOut, err = txLayout(kv.val, false)
			return err
		case typ == 0x01: // PSBT_GLOBAL_XPUB
			if len(kv.key) != 1+78 || len(kv.val) < 4 || len(kv.val)%4 != 0 {
				return errors.New("bad xpub field")
			}
		case typ >= 0x02 && typ <= 0x06:
			return fmt.Errorf("PSBT v2 field 0x%02x in a v0 PSBT", typ)
		case typ == psbtGlobalVersion:
			if len(kv.key) != 1 || len(kv.val) != 4 {
				return errors.New("bad version field")
			}
			if v := binary.LittleEndian.Uint32(kv.val); v != 0 {
				return fmt.Errorf("PSBT version %d (hsmd speaks v0 on the wire)", v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if nIn < 0 {
		return nil, fmt.Errorf("%w: no unsigned transaction", ErrBadPSBT)
	}
	for i := range nIn {
		p, err = scanMap(b, p, "input", i, func(j int, kv psbtKV) error {
			if err := checkInputKV(j, kv); err != nil {
				return err
			}
			keep.input(i, kv)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for i := range nOut {
		if p < len(b) && b[p] == 0 {
			// An empty map, its separator alone (lightningd's output
			// maps): what scanMap would read, without setting it up.
			p++
			continue
		}
		p, err = scanMap(b, p, "output", i, func(j int, kv psbtKV) error {
			if err := checkOutputKV(j, kv); err != nil {
				return err
			}
			keep.output(kv)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return keep.result(b[:p], own), nil
}

// scanMap reads one map up to its separator, rejecting duplicate keys and
// whatever check rejects. The map is named in errors as kind, followed by
// idx unless it is negative ("input 3", "global").
func scanMap(b []byte, p int, kind string, idx int, check func(i int, kv psbtKV) error) (int, error) {
	name := func() string {
		if idx < 0 {
			return kind
		}
		return kind + " " + strconv.Itoa(idx)
	}
	// Duplicates: a linear search while the map is small (as lightningd's
	// are), a set beyond; no allocation for the common case.
	var few [8][]byte
	var many map[string]bool
	seen := func(key []byte, n int) bool {
		if n < len(few) {
			for _, k := range few[:n] {
				if bytes.Equal(k, key) {
					return true
				}
			}
			few[n] = key
			return false
		}
		if many == nil {
			many = make(map[string]bool, 2*len(few))
			for _, k := range few {
				many[string(k)] = true
			}
		}
		if many[string(key)] {
			return true
		}
		many[string(key)] = true
		return false
	}
	for i := 0; ; i++ {
		kv, next, err := readPSBTKV(b, p)
		if err != nil {
			return next, fmt.Errorf("%w: %s: %w", ErrBadPSBT, name(), err)
		}
		p = next
		if kv.key == nil {
			return p, nil
		}
		if seen(kv.key, i) {
			return p, fmt.Errorf("%w: %s: duplicate key %x", ErrBadPSBT, name(), kv.key)
		}
		if err := check(i, kv); err != nil {
			return p, fmt.Errorf("%w: %s: field 0x%02x at byte %d: %w", ErrBadPSBT, name(), kv.key[0], kv.off, err)
		}
	}
}

func noKeyData(kv psbtKV) error {
	if len(kv.key) != 1 {
		return errors.New("unexpected key data")
	}
	return nil
}

func nonEmpty(kv psbtKV) error {
	if err := noKeyData(kv); err != nil {
		return err
	}
	if len(kv.val) == 0 {
		return errors.New("empty value")
	}
	return nil
}

func exactLen(kv psbtKV, n ...int) error {
	if err := noKeyData(kv); err != nil {
		return err
	}
	if !slices.Contains(n, len(kv.val)) {
		return fmt.Errorf("value of %d bytes", len(kv.val))
	}
	return nil
}

// checkKeyPath checks a BIP32 derivation value: fingerprint and indexes.
func checkKeyPath(v []byte) error {
	if len(v) < 4 || len(v)%4 != 0 {
		return fmt.Errorf("derivation path of %d bytes", len(v))
	}
	return nil
}

// checkTapDerivation checks a taproot BIP32 derivation: x-only key, then
// leaf hashes, fingerprint and path.
func checkTapDerivation(kv psbtKV) error {
	if len(kv.key) != 1+32 {
		return errors.New("key is not an x-only public key")
	}
	n, p, err := readCompact(kv.val, 0)
	if err != nil {
		return err
	}
	if n > uint64(len(kv.val)-p)/32 {
		return fmt.Errorf("%d leaf hashes do not fit", n)
	}
	return checkKeyPath(kv.val[p+32*int(n):])
}

// checkWitnessStack checks a serialized witness stack that fills v.
func checkWitnessStack(v []byte) error {
	n, p, err := readCompact(v, 0)
	if err != nil {
		return err
	}
	if n > uint64(len(v)-p) {
		return fmt.Errorf("%d witness items do not fit", n)
	}
	for range n {
		if _, p, err = readVarBytes(v, p); err != nil {
			return err
		}
	}
	if p != len(v) {
		return fmt.Errorf("%d bytes after the witness stack", len(v)-p)
	}
	return nil
}

func checkInputKV(_ int, kv psbtKV) error {
	switch typ := kv.key[0]; typ {
	case 0x00: // PSBT_IN_NON_WITNESS_UTXO
		if err := noKeyData(kv); err != nil {
			return err
		}
		_, _, _, err := txLayout(kv.val, true)
		return err
	case 0x01: // PSBT_IN_WITNESS_UTXO: amount, then a non-empty script
		if err := noKeyData(kv); err != nil {
			return err
		}
		if len(kv.val) < 8 {
			return errors.New("short witness UTXO")
		}
		if v := binary.LittleEndian.Uint64(kv.val); v > maxSatoshi {
			return amountError("witness UTXO", v, ErrBadPSBT)
		}
		script, p, err := readVarBytes(kv.val, 8)
		if err != nil {
			return err
		}
		if len(script) == 0 || p != len(kv.val) {
			return errors.New("witness UTXO script empty or not the whole value")
		}
	case 0x03: // PSBT_IN_SIGHASH_TYPE
		return exactLen(kv, 4)
	case 0x04, 0x05, 0x07, 0x09: // redeem, witness script, final scriptSig, POR
		return nonEmpty(kv)
	case 0x06: // PSBT_IN_BIP32_DERIVATION
		return checkKeyPath(kv.val)
	case 0x08: // PSBT_IN_FINAL_SCRIPTWITNESS
		if err := noKeyData(kv); err != nil {
			return err
		}
		return checkWitnessStack(kv.val)
	case 0x0a, 0x0b, 0x0c, 0x0d: // RIPEMD160, SHA256, HASH160, HASH256 preimages
		want := 1 + 32
		if typ == 0x0a || typ == 0x0c {
			want = 1 + 20
		}
		if len(kv.key) != want || len(kv.val) == 0 {
			return errors.New("bad preimage field")
		}
	case 0x0e, 0x0f, 0x10, 0x11, 0x12:
		return fmt.Errorf("PSBT v2 field in a v0 PSBT")
	case 0x13: // PSBT_IN_TAP_KEY_SIG
		return exactLen(kv, 64, 65)
	case 0x14: // PSBT_IN_TAP_SCRIPT_SIG
		if len(kv.key) != 1+64 || (len(kv.val) != 64 && len(kv.val) != 65) {
			return errors.New("bad taproot script signature")
		}
		if len(kv.val) == 65 && kv.val[64] == 0 {
			return errors.New("65-byte taproot signature with sighash 0")
		}
	case 0x15: // PSBT_IN_TAP_LEAF_SCRIPT
		c := len(kv.key) - 1
		if c < 33 || c > 33+128*32 || (c-33)%32 != 0 || len(kv.val) == 0 {
			return errors.New("bad taproot leaf script")
		}
	case 0x16: // PSBT_IN_TAP_BIP32_DERIVATION
		return checkTapDerivation(kv)
	case 0x17, 0x18: // PSBT_IN_TAP_INTERNAL_KEY, PSBT_IN_TAP_MERKLE_ROOT
		return exactLen(kv, 32)
	}
	return nil
}

func checkOutputKV(_ int, kv psbtKV) error {
	switch typ := kv.key[0]; typ {
	case 0x00, 0x01: // redeem script, witness script
		return nonEmpty(kv)
	case 0x02: // PSBT_OUT_BIP32_DERIVATION
		return checkKeyPath(kv.val)
	case 0x03, 0x04:
		return fmt.Errorf("PSBT v2 field in a v0 PSBT")
	case 0x05: // PSBT_OUT_TAP_INTERNAL_KEY
		return exactLen(kv, 32)
	case 0x06: // PSBT_OUT_TAP_TREE
		return nonEmpty(kv)
	case 0x07: // PSBT_OUT_TAP_BIP32_DERIVATION
		return checkTapDerivation(kv)
	}
	return nil
}

// Bytes serializes the PSBT in libwally's layout (see PSBT). It fails if
// the Packet has no unsigned transaction, or not one input and output map
// per transaction input and output (libwally's psbt_is_valid).
func (p *PSBT) Bytes() ([]byte, error) {
	if p == nil || p.Packet == nil || p.UnsignedTx == nil {
		return nil, fmt.Errorf("%w: no unsigned transaction", ErrBadPSBT)
	}
	pkt := p.Packet
	if len(pkt.Inputs) != len(pkt.UnsignedTx.TxIn) || len(pkt.Outputs) != len(pkt.UnsignedTx.TxOut) {
		return nil, fmt.Errorf("%w: %d/%d input/output maps for %d/%d transaction inputs/outputs",
			ErrBadPSBT, len(pkt.Inputs), len(pkt.Outputs), len(pkt.UnsignedTx.TxIn), len(pkt.UnsignedTx.TxOut))
	}
	w := psbtWriter{b: append([]byte(nil), psbtMagic...)}
	w.kv([]byte{0x00}, txBytes(pkt.UnsignedTx))
	for _, u := range pkt.Unknowns {
		if keyType(u.Key) == 0x01 {
			w.kv(u.Key, u.Value)
		}
	}
	for _, u := range pkt.Unknowns {
		if t := keyType(u.Key); t != 0x01 && !bytes.Equal(u.Key, []byte{psbtGlobalVersion}) {
			w.kv(u.Key, u.Value)
		}
	}
	w.sep()
	for i := range pkt.Inputs {
		w.input(&pkt.Inputs[i])
	}
	for i := range pkt.Outputs {
		w.output(&pkt.Outputs[i])
	}
	return w.b, w.err
}

func keyType(k []byte) int {
	if len(k) == 0 {
		return -1
	}
	return int(k[0])
}

func txBytes(tx *wire.MsgTx) []byte {
	var b bytes.Buffer
	b.Grow(tx.SerializeSizeStripped())
	_ = tx.SerializeNoWitness(&b) // writes to a bytes.Buffer cannot fail
	return b.Bytes()
}

type psbtWriter struct {
	b   []byte
	err error
}

// AppendCompactSize appends v as Bitcoin's CompactSize (the varint of
// transactions and PSBTs: one byte below 0xfd, else a 0xfd, 0xfe or 0xff
// marker and 2, 4 or 8 little-endian bytes).
func AppendCompactSize(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
}

func (w *psbtWriter) kv(key, val []byte) {
	if len(key) == 0 && w.err == nil {
		w.err = fmt.Errorf("%w: empty key", ErrBadPSBT)
	}
	w.b = AppendCompactSize(w.b, uint64(len(key)))
	w.b = append(w.b, key...)
	w.b = AppendCompactSize(w.b, uint64(len(val)))
	w.b = append(w.b, val...)
}

// kvType writes a key of type typ followed by keyData.
func (w *psbtWriter) kvType(typ byte, keyData, val []byte) {
	w.kv(append([]byte{typ}, keyData...), val)
}

func (w *psbtWriter) sep() { w.b = append(w.b, 0x00) }

// input writes an input map in the order of libwally's push_psbt_input.
func (w *psbtWriter) input(in *psbt.PInput) {
	if in.NonWitnessUtxo != nil {
		w.kvType(0x00, nil, txBytes(in.NonWitnessUtxo))
	}
	if in.WitnessUtxo != nil {
		v := binary.LittleEndian.AppendUint64(nil, uint64(in.WitnessUtxo.Value))
		v = AppendCompactSize(v, uint64(len(in.WitnessUtxo.PkScript)))
		w.kvType(0x01, nil, append(v, in.WitnessUtxo.PkScript...))
	}
	if in.FinalScriptSig == nil && in.FinalScriptWitness == nil {
		for _, s := range in.PartialSigs {
			w.kvType(0x02, s.PubKey, s.Signature)
		}
		if in.SighashType != 0 {
			w.kvType(0x03, nil, binary.LittleEndian.AppendUint32(nil, uint32(in.SighashType)))
		}
		if in.RedeemScript != nil {
			w.kvType(0x04, nil, in.RedeemScript)
		}
		if in.WitnessScript != nil {
			w.kvType(0x05, nil, in.WitnessScript)
		}
		for _, d := range in.Bip32Derivation {
			w.kvType(0x06, d.PubKey, psbt.SerializeBIP32Derivation(d.MasterKeyFingerprint, d.Bip32Path))
		}
	}
	if in.FinalScriptSig != nil {
		w.kvType(0x07, nil, in.FinalScriptSig)
	}
	if in.FinalScriptWitness != nil {
		w.kvType(0x08, nil, in.FinalScriptWitness)
	}
	// Proof of reserves, then the preimages: btcutil keeps them as Unknowns.
	for _, u := range in.Unknowns {
		if keyType(u.Key) == 0x09 {
			w.kv(u.Key, u.Value)
		}
	}
	for _, u := range in.Unknowns {
		if t := keyType(u.Key); t >= 0x0a && t <= 0x0d {
			w.kv(u.Key, u.Value)
		}
	}
	if in.TaprootKeySpendSig != nil {
		w.kvType(0x13, nil, in.TaprootKeySpendSig)
	}
	for _, s := range in.TaprootScriptSpendSig {
		sig := s.Signature
		if s.SigHash != txscript.SigHashDefault {
			sig = append(slices.Clip(sig), byte(s.SigHash))
		}
		w.kvType(0x14, append(slices.Clip(s.XOnlyPubKey), s.LeafHash...), sig)
	}
	for _, l := range in.TaprootLeafScript {
		w.kvType(0x15, l.ControlBlock, append(slices.Clip(l.Script), byte(l.LeafVersion)))
	}
	for _, d := range in.TaprootBip32Derivation {
		w.tapDerivation(0x16, d)
	}
	if in.TaprootInternalKey != nil {
		w.kvType(0x17, nil, in.TaprootInternalKey)
	}
	if in.TaprootMerkleRoot != nil {
		w.kvType(0x18, nil, in.TaprootMerkleRoot)
	}
	for _, u := range in.Unknowns {
		if t := keyType(u.Key); t < 0x09 || t > 0x0d {
			w.kv(u.Key, u.Value)
		}
	}
	w.sep()
}

func (w *psbtWriter) tapDerivation(typ byte, d *psbt.TaprootBip32Derivation) {
	v, err := psbt.SerializeTaprootBip32Derivation(d)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("%w: taproot derivation: %v", ErrBadPSBT, err)
	}
	w.kvType(typ, d.XOnlyPubKey, v)
}

// output writes an output map in the order of libwally's push_psbt_output.
func (w *psbtWriter) output(out *psbt.POutput) {
	if out.RedeemScript != nil {
		w.kvType(0x00, nil, out.RedeemScript)
	}
	if out.WitnessScript != nil {
		w.kvType(0x01, nil, out.WitnessScript)
	}
	for _, d := range out.Bip32Derivation {
		w.kvType(0x02, d.PubKey, psbt.SerializeBIP32Derivation(d.MasterKeyFingerprint, d.Bip32Path))
	}
	if out.TaprootInternalKey != nil {
		w.kvType(0x05, nil, out.TaprootInternalKey)
	}
	if out.TaprootTapTree != nil {
		w.kvType(0x06, nil, out.TaprootTapTree)
	}
	for _, d := range out.TaprootBip32Derivation {
		w.tapDerivation(0x07, d)
	}
	for _, u := range out.Unknowns {
		w.kv(u.Key, u.Value)
	}
	w.sep()
}

func (d *decoder) readPSBT(f string, v **PSBT) {
	start := d.off
	if b, ok := d.readPSBTBytes(f); ok {
		d.readPSBTFrom(f, start, b, v)
	}
}

// readPSBTBytes reads a wally_psbt's length and bytes: nil for length 0,
// ok false after a decoding error.
func (d *decoder) readPSBTBytes(f string) (b []byte, ok bool) {
	start := d.off
	var n uint32
	d.readU32(f, &n)
	if d.err != nil {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	if uint64(n) > uint64(d.left()) {
		d.failAt(f, start, fmt.Errorf("%w: PSBT length %d, %d bytes left", ErrTruncated, n, d.left()))
		return nil, false
	}
	b = d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return b, true
}

// readPSBTFrom parses b, the PSBT whose length is at start, into *v:
// nil for no bytes (fromwire_wally_psbt returns NULL for length 0 without
// failing: a message may carry no PSBT).
func (d *decoder) readPSBTFrom(f string, start int, b []byte, v **PSBT) {
	if b == nil {
		*v = nil
		return
	}
	p, err := ParsePSBT(b)
	if err != nil {
		d.failAt(f, start+4, err)
		return
	}
	*v = p
}

func (e *encoder) writePSBT(p *PSBT) {
	if p == nil {
		e.writeU32(0)
		return
	}
	b, err := p.Bytes()
	if err != nil {
		e.fail(err)
	}
	e.writeU32(e.count32("psbt", len(b)))
	e.writeBytes(b)
}

// MarshalJSON shows the unsigned transaction, the fields of each input and
// output, and the serialization (hex and base64).
func (p *PSBT) MarshalJSON() ([]byte, error) {
	if p == nil || p.Packet == nil {
		return []byte("null"), nil
	}
	var o jsonObject
	if p.UnsignedTx != nil {
		o.add("tx", jsonTx{p.UnsignedTx})
	}
	if len(p.Unknowns) > 0 {
		o.add("unknown", jsonUnknowns(p.Unknowns))
	}
	ins := make([]jsonPInput, len(p.Inputs))
	for i := range p.Inputs {
		ins[i] = jsonPInput{&p.Inputs[i]}
	}
	o.add("inputs", ins)
	outs := make([]jsonPOutput, len(p.Outputs))
	for i := range p.Outputs {
		outs[i] = jsonPOutput{&p.Outputs[i]}
	}
	o.add("outputs", outs)
	b, err := p.Bytes()
	if err != nil {
		return nil, err
	}
	o.addHex("hex", b)
	o.add("base64", base64.StdEncoding.EncodeToString(b))
	return o.finish()
}

type jsonPInput struct{ in *psbt.PInput }

func (j jsonPInput) MarshalJSON() ([]byte, error) {
	in := j.in
	var o jsonObject
	if in.NonWitnessUtxo != nil {
		o.add("non_witness_utxo", jsonTx{in.NonWitnessUtxo})
	}
	if in.WitnessUtxo != nil {
		o.add("witness_utxo", jsonTxOut{in.WitnessUtxo})
	}
	if len(in.PartialSigs) > 0 {
		sigs := make([]map[string]string, len(in.PartialSigs))
		for i, s := range in.PartialSigs {
			sigs[i] = map[string]string{"pubkey": hex.EncodeToString(s.PubKey), "signature": hex.EncodeToString(s.Signature)}
		}
		o.add("partial_sigs", sigs)
	}
	if in.SighashType != 0 {
		o.add("sighash_type", uint32(in.SighashType))
	}
	addHexIf(&o, "redeem_script", in.RedeemScript)
	addHexIf(&o, "witness_script", in.WitnessScript)
	if len(in.Bip32Derivation) > 0 {
		o.add("bip32_derivations", jsonDerivations(in.Bip32Derivation))
	}
	addHexIf(&o, "final_scriptsig", in.FinalScriptSig)
	addHexIf(&o, "final_scriptwitness", in.FinalScriptWitness)
	addHexIf(&o, "taproot_key_sig", in.TaprootKeySpendSig)
	if len(in.TaprootScriptSpendSig) > 0 {
		sigs := make([]map[string]any, len(in.TaprootScriptSpendSig))
		for i, s := range in.TaprootScriptSpendSig {
			sigs[i] = map[string]any{"xonly_pubkey": hex.EncodeToString(s.XOnlyPubKey),
				"leaf_hash": hex.EncodeToString(s.LeafHash), "signature": hex.EncodeToString(s.Signature),
				"sighash_type": uint32(s.SigHash)}
		}
		o.add("taproot_script_sigs", sigs)
	}
	if len(in.TaprootLeafScript) > 0 {
		leaves := make([]map[string]any, len(in.TaprootLeafScript))
		for i, l := range in.TaprootLeafScript {
			leaves[i] = map[string]any{"control_block": hex.EncodeToString(l.ControlBlock),
				"script": hex.EncodeToString(l.Script), "leaf_version": uint8(l.LeafVersion)}
		}
		o.add("taproot_leaf_scripts", leaves)
	}
	if len(in.TaprootBip32Derivation) > 0 {
		o.add("taproot_bip32_derivations", jsonTapDerivations(in.TaprootBip32Derivation))
	}
	addHexIf(&o, "taproot_internal_key", in.TaprootInternalKey)
	addHexIf(&o, "taproot_merkle_root", in.TaprootMerkleRoot)
	if len(in.Unknowns) > 0 {
		o.add("unknown", jsonUnknowns(in.Unknowns))
	}
	return o.finish()
}

type jsonPOutput struct{ out *psbt.POutput }

func (j jsonPOutput) MarshalJSON() ([]byte, error) {
	out := j.out
	var o jsonObject
	addHexIf(&o, "redeem_script", out.RedeemScript)
	addHexIf(&o, "witness_script", out.WitnessScript)
	if len(out.Bip32Derivation) > 0 {
		o.add("bip32_derivations", jsonDerivations(out.Bip32Derivation))
	}
	addHexIf(&o, "taproot_internal_key", out.TaprootInternalKey)
	addHexIf(&o, "taproot_tap_tree", out.TaprootTapTree)
	if len(out.TaprootBip32Derivation) > 0 {
		o.add("taproot_bip32_derivations", jsonTapDerivations(out.TaprootBip32Derivation))
	}
	if len(out.Unknowns) > 0 {
		o.add("unknown", jsonUnknowns(out.Unknowns))
	}
	return o.finish()
}

func addHexIf(o *jsonObject, k string, v []byte) {
	if v != nil {
		o.addHex(k, v)
	}
}

func fingerprint(fp uint32) string {
	return hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, fp))
}

func bip32Path(path []uint32) string {
	var sb strings.Builder
	sb.WriteString("m")
	for _, i := range path {
		sb.WriteByte('/')
		if i >= 0x80000000 {
			sb.WriteString(strconv.FormatUint(uint64(i-0x80000000), 10) + "'")
		} else {
			sb.WriteString(strconv.FormatUint(uint64(i), 10))
		}
	}
	return sb.String()
}

func jsonDerivations(ds []*psbt.Bip32Derivation) []map[string]string {
	out := make([]map[string]string, len(ds))
	for i, d := range ds {
		out[i] = map[string]string{"pubkey": hex.EncodeToString(d.PubKey),
			"fingerprint": fingerprint(d.MasterKeyFingerprint), "path": bip32Path(d.Bip32Path)}
	}
	return out
}

func jsonTapDerivations(ds []*psbt.TaprootBip32Derivation) []map[string]any {
	out := make([]map[string]any, len(ds))
	for i, d := range ds {
		hashes := make([]string, len(d.LeafHashes))
		for j, h := range d.LeafHashes {
			hashes[j] = hex.EncodeToString(h)
		}
		out[i] = map[string]any{"xonly_pubkey": hex.EncodeToString(d.XOnlyPubKey), "leaf_hashes": hashes,
			"fingerprint": fingerprint(d.MasterKeyFingerprint), "path": bip32Path(d.Bip32Path)}
	}
	return out
}

func jsonUnknowns(us []*psbt.Unknown) []map[string]string {
	out := make([]map[string]string, len(us))
	for i, u := range us {
		out[i] = map[string]string{"key": hex.EncodeToString(u.Key), "value": hex.EncodeToString(u.Value)}
	}
	return out
}
