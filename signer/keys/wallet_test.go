package keys

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// hsmd signs the wallet's own PSBT inputs through libwally (wally_psbt_sign
// with EC_FLAG_GRIND_R): P2WPKH with libwally's low-R schedule, P2TR with the
// BIP86-tweaked key and no aux randomness, each with the key
// hsm_key_for_utxo picks (the unilateral-close key for UTXOs with
// close_info, the wallet key otherwise).  Re-make every signature in hsmd's
// sign_withdrawal replies.
func TestWalletSignaturesFromWithdrawalVectors(t *testing.T) {
	checked := map[string]int{}
	for _, v := range hsmdVectors(t, "hsmd_sign_withdrawal") {
		utxos := parseHsmUTXOs(t, v.req(t))
		rep := &wireReader{t: t, b: v.resp(t)}
		if typ := rep.u16(); typ != 107 {
			t.Fatalf("reply type %d", typ)
		}
		raw := rep.take(int(rep.u32()))
		if len(raw) == 0 {
			continue // the empty-PSBT bad request
		}
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			p, err := psbt.NewFromRawBytes(bytes.NewReader(raw), false)
			if err != nil {
				t.Fatalf("reply PSBT: %v", err)
			}
			r := ringFor(t, v.Secret)
			prevOuts := txscript.NewMultiPrevOutFetcher(nil)
			for i := range p.Inputs {
				if out := inputUTXO(p, i); out != nil {
					prevOuts.AddPrevOut(p.UnsignedTx.TxIn[i].PreviousOutPoint, out)
				}
			}
			hashes := txscript.NewTxSigHashes(p.UnsignedTx, prevOuts)
			for _, u := range utxos {
				i := -1
				for j, in := range p.UnsignedTx.TxIn {
					if in.PreviousOutPoint == u.outpoint {
						i = j
					}
				}
				if i < 0 {
					continue
				}
				in, utxo := p.Inputs[i], inputUTXO(p, i)
				k := u.key(t, r)
				switch {
				case txscript.IsPayToTaproot(u.script):
					tk, err := k.TaprootTweak(in.TaprootMerkleRoot)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(schnorr.SerializePubKey(tk.PubKey()), u.script[2:]) {
						t.Fatalf("input %d: tweaked key does not match the output", i)
					}
					hType := txscript.SigHashDefault
					if len(in.TaprootKeySpendSig) == 65 {
						hType = txscript.SigHashType(in.TaprootKeySpendSig[64])
					}
					h, err := txscript.CalcTaprootSignatureHash(hashes, hType, p.UnsignedTx, i, prevOuts)
					if err != nil {
						t.Fatal(err)
					}
					sig, err := tk.SignSchnorr([32]byte(h))
					if err != nil {
						t.Fatal(err)
					}
					if len(in.TaprootKeySpendSig) < 64 || !bytes.Equal(sig[:], in.TaprootKeySpendSig[:64]) {
						t.Errorf("input %d P2TR signature\n got %x\nwant %x", i, sig, in.TaprootKeySpendSig)
					}
					checked["p2tr"]++
				default:
					if len(in.PartialSigs) != 1 || !bytes.Equal(in.PartialSigs[0].PubKey, k.PubKey().SerializeCompressed()) {
						t.Fatalf("input %d: expected one partial signature by %x", i, k.PubKey().SerializeCompressed())
					}
					ps := in.PartialSigs[0]
					script := utxo.PkScript
					kind := "p2wpkh"
					if len(in.WitnessScript) > 0 {
						script, kind = in.WitnessScript, "p2wsh"
					}
					if u.closeInfo {
						kind += " close_info"
					}
					hType := txscript.SigHashType(ps.Signature[len(ps.Signature)-1])
					h, err := txscript.CalcWitnessSigHash(script, hashes, hType, p.UnsignedTx, i, utxo.Value)
					if err != nil {
						t.Fatal(err)
					}
					got := append(k.SignLowRWally([32]byte(h)).Serialize(), byte(hType))
					if !bytes.Equal(got, ps.Signature) {
						t.Errorf("input %d %s signature\n got %x\nwant %x", i, kind, got, ps.Signature)
					}
					checked[kind]++
				}
			}
		})
	}
	t.Logf("checked %v", checked)
	if checked["p2wpkh"] < 3 || checked["p2tr"] < 2 || checked["p2wpkh close_info"] < 2 || checked["p2wsh close_info"] < 1 {
		t.Errorf("checked only %v wallet signatures", checked)
	}
}

// hsmUTXO is the part of towire_hsm_utxo the key choice needs.
type hsmUTXO struct {
	outpoint  wire.OutPoint
	keyIndex  uint32
	script    []byte
	closeInfo bool
	dbid      uint64
	peer      [33]byte
	point     *btcec.PublicKey
}

func (u hsmUTXO) key(t *testing.T, r *Ring) *PrivateKey {
	t.Helper()
	if !u.closeInfo {
		k, err := r.UTXOKey(u.keyIndex)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ck, err := r.Channel(u.peer, u.dbid)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ck.UnilateralCloseKey(u.point)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// parseHsmUTXOs reads the utxos of an hsmd_sign_withdrawal request.
func parseHsmUTXOs(t *testing.T, req []byte) []hsmUTXO {
	r := &wireReader{t: t, b: req}
	r.u16()
	n := int(r.u16())
	out := make([]hsmUTXO, n)
	for i := range out {
		u := &out[i]
		copy(u.outpoint.Hash[:], r.take(32))
		u.outpoint.Index = r.u32()
		r.u64() // amount
		u.keyIndex = r.u32()
		r.take(1) // was is_p2sh
		u.script = append([]byte(nil), r.take(int(r.u16()))...)
		u.closeInfo = r.take(1)[0] == 1
		if u.closeInfo {
			u.dbid = r.u64()
			u.peer = [33]byte(r.take(33))
			if r.take(1)[0] == 1 {
				var err error
				if u.point, err = btcec.ParsePubKey(r.take(33)); err != nil {
					t.Fatal(err)
				}
			}
			r.take(1) // option_anchors
			r.u32()   // csv
		}
		r.take(1) // was is_in_coinbase
	}
	return out
}

func inputUTXO(p *psbt.Packet, i int) *wire.TxOut {
	in := p.Inputs[i]
	if in.WitnessUtxo != nil {
		return in.WitnessUtxo
	}
	if in.NonWitnessUtxo != nil {
		idx := p.UnsignedTx.TxIn[i].PreviousOutPoint.Index
		if int(idx) < len(in.NonWitnessUtxo.TxOut) {
			return in.NonWitnessUtxo.TxOut[idx]
		}
	}
	return nil
}
