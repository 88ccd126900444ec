package hsmproto

import (
	"encoding/binary"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// fastPSBT builds the psbt.Packet that psbt.NewFromRawBytes returns for b,
// for the PSBTs lightningd sends with every signing request: the unsigned
// transaction as the only global field; in the inputs, UTXOs, sighash
// type, redeem and witness scripts, BIP32 derivations of compressed keys,
// final scripts, taproot BIP32 derivations and internal keys; in the
// outputs, redeem and witness scripts, BIP32 and taproot BIP32 derivations
// and taproot internal keys. btcutil reads through an io.Reader, a buffer pool and an
// allocation per key and value, several times the cost of the signature
// the request is for; here every value is a capacity-capped slice of one
// copy of b, and the transactions come from decodeTx.
//
// ok is false for anything else (another field type, a value btcutil
// refuses or reads differently), and the caller asks btcutil.
// scanPSBT has accepted b: maps are well formed and keys unique.
// TestFastPSBTMatchesBtcutil and FuzzFastPSBT hold it to btcutil's result.
func fastPSBT(b []byte) (pkt *psbt.Packet, ok bool) {
	buf := append([]byte(nil), b...) // btcutil's values are not b's bytes either
	p := len(psbtMagic)
	next := func() (psbtKV, bool) {
		kv, np, err := readPSBTKV(buf, p)
		if err != nil || len(kv.val) > psbt.MaxPsbtValueLength {
			return kv, false
		}
		p = np
		kv.key = kv.key[:len(kv.key):len(kv.key)]
		kv.val = kv.val[:len(kv.val):len(kv.val)]
		return kv, true
	}

	// Global map: the unsigned transaction, nothing else.
	kv, ok := next()
	if !ok || len(kv.key) != 1 || kv.key[0] != 0x00 {
		return nil, false
	}
	tx, ok := decodeTx(kv.val, false)
	if !ok {
		return nil, false
	}
	for _, in := range tx.TxIn {
		if len(in.SignatureScript) != 0 { // btcutil: ErrInvalidRawTxSigned
			return nil, false
		}
	}
	if sep, ok := next(); !ok || sep.key != nil {
		return nil, false
	}

	pkt = &psbt.Packet{
		UnsignedTx: tx,
		Inputs:     make([]psbt.PInput, len(tx.TxIn)),
		Outputs:    make([]psbt.POutput, len(tx.TxOut)),
	}
	for i := range pkt.Inputs {
		in := &pkt.Inputs[i]
		for {
			kv, ok := next()
			if !ok {
				return nil, false
			}
			if kv.key == nil {
				break
			}
			keyData := kv.key[1:]
			switch kv.key[0] {
			case 0x00: // PSBT_IN_NON_WITNESS_UTXO
				if in.NonWitnessUtxo, ok = decodeTx(kv.val, true); !ok {
					return nil, false
				}
			case 0x01: // PSBT_IN_WITNESS_UTXO
				// btcutil takes the script after a one-byte length.
				if len(kv.val) < 10 || kv.val[8] >= 0xfd || int(kv.val[8]) != len(kv.val)-9 {
					return nil, false
				}
				in.WitnessUtxo = wire.NewTxOut(int64(binary.LittleEndian.Uint64(kv.val)), kv.val[9:])
			case 0x03: // PSBT_IN_SIGHASH_TYPE
				if len(kv.val) != 4 {
					return nil, false
				}
				in.SighashType = txscript.SigHashType(binary.LittleEndian.Uint32(kv.val))
			case 0x04: // PSBT_IN_REDEEM_SCRIPT
				in.RedeemScript = kv.val
			case 0x05: // PSBT_IN_WITNESS_SCRIPT
				in.WitnessScript = kv.val
			case 0x06: // PSBT_IN_BIP32_DERIVATION
				d, ok := fastDerivation(keyData, kv.val)
				if !ok {
					return nil, false
				}
				in.Bip32Derivation = append(in.Bip32Derivation, d)
			case 0x07: // PSBT_IN_FINAL_SCRIPTSIG
				in.FinalScriptSig = kv.val
			case 0x08: // PSBT_IN_FINAL_SCRIPTWITNESS
				in.FinalScriptWitness = kv.val
			case 0x16: // PSBT_IN_TAP_BIP32_DERIVATION
				d, ok := fastTaprootDerivation(keyData, kv.val)
				if !ok {
					return nil, false
				}
				in.TaprootBip32Derivation = append(in.TaprootBip32Derivation, d)
			case 0x17: // PSBT_IN_TAP_INTERNAL_KEY
				if len(keyData) != 0 || !validXOnly(kv.val) {
					return nil, false
				}
				in.TaprootInternalKey = kv.val
			default:
				return nil, false
			}
		}
	}
	for i := range pkt.Outputs {
		out := &pkt.Outputs[i]
		for {
			kv, ok := next()
			if !ok {
				return nil, false
			}
			if kv.key == nil {
				break
			}
			switch kv.key[0] {
			case 0x00: // PSBT_OUT_REDEEM_SCRIPT
				out.RedeemScript = kv.val
			case 0x01: // PSBT_OUT_WITNESS_SCRIPT
				out.WitnessScript = kv.val
			case 0x02: // PSBT_OUT_BIP32_DERIVATION
				d, ok := fastDerivation(kv.key[1:], kv.val)
				if !ok {
					return nil, false
				}
				out.Bip32Derivation = append(out.Bip32Derivation, d)
			case 0x05: // PSBT_OUT_TAP_INTERNAL_KEY
				if len(kv.key) != 1 || !validXOnly(kv.val) {
					return nil, false
				}
				out.TaprootInternalKey = kv.val
			case 0x07: // PSBT_OUT_TAP_BIP32_DERIVATION
				d, ok := fastTaprootDerivation(kv.key[1:], kv.val)
				if !ok {
					return nil, false
				}
				out.TaprootBip32Derivation = append(out.TaprootBip32Derivation, d)
			default:
				return nil, false
			}
		}
	}
	return pkt, true
}

// fastTaprootDerivation is btcutil's reading of a taproot BIP32 derivation
// (BIP 371) for a valid x-only key: leaf hashes, fingerprint, path. A count
// of leaf hashes that is not one byte goes to btcutil.
func fastTaprootDerivation(key, val []byte) (*psbt.TaprootBip32Derivation, bool) {
	if len(key) != 32 || len(val) < 5 || val[0] >= 0xfd || !validXOnly(key) {
		return nil, false
	}
	n := int(val[0])
	rest := val[1:]
	if len(rest) < 32*n+4 || (len(rest)-32*n)%4 != 0 {
		return nil, false
	}
	d := &psbt.TaprootBip32Derivation{XOnlyPubKey: key, LeafHashes: make([][]byte, n)}
	for i := range d.LeafHashes {
		d.LeafHashes[i] = rest[:32:32]
		rest = rest[32:]
	}
	d.MasterKeyFingerprint = binary.LittleEndian.Uint32(rest)
	for i := 4; i < len(rest); i += 4 {
		d.Bip32Path = append(d.Bip32Path, binary.LittleEndian.Uint32(rest[i:]))
	}
	return d, true
}

// validXOnly reports whether b is a BIP 340 x-only public key: the x of a
// point of the curve.
func validXOnly(b []byte) bool {
	if len(b) != 32 {
		return false
	}
	var compressed [33]byte
	compressed[0] = 2
	copy(compressed[1:], b)
	return validPoint(compressed[:])
}

// fastDerivation is btcutil's reading of a BIP32 derivation for a 33-byte
// key (other keys go to btcutil): a valid compressed point, fingerprint,
// then the path (nil when empty).
func fastDerivation(key, val []byte) (*psbt.Bip32Derivation, bool) {
	if len(key) != 33 || !validPoint(key) || len(val) < 4 || len(val)%4 != 0 {
		return nil, false
	}
	d := &psbt.Bip32Derivation{PubKey: key, MasterKeyFingerprint: binary.LittleEndian.Uint32(val)}
	for i := 4; i < len(val); i += 4 {
		d.Bip32Path = append(d.Bip32Path, binary.LittleEndian.Uint32(val[i:]))
	}
	return d, true
}
