package signer

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// The signature hashes are our own code (libwally's exact behaviour, per
// input index); on ordinary transactions they must agree with btcd's.

// randomTx makes a transaction with nIn inputs spending random outputs
// (P2TR when taproot, else P2WSH-like scripts) and nOut outputs.
func randomTx(r *rand.Rand, nIn, nOut int, taproot bool) (*wire.MsgTx, []*wire.TxOut) {
	tx := wire.NewMsgTx(int32(r.Uint32()))
	tx.LockTime = r.Uint32()
	spent := make([]*wire.TxOut, nIn)
	for i := range nIn {
		var h chainhash.Hash
		for k := range h {
			h[k] = byte(r.IntN(256))
		}
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: h, Index: r.Uint32N(5)}, Sequence: r.Uint32()})
		script := make([]byte, 34)
		script[0], script[1] = 0x00, 32
		if taproot {
			script[0] = 0x51
		}
		for k := 2; k < 34; k++ {
			script[k] = byte(r.IntN(256))
		}
		spent[i] = wire.NewTxOut(r.Int64N(maxSatoshi), script)
	}
	for range nOut {
		script := make([]byte, 1+r.IntN(60))
		for k := range script {
			script[k] = byte(r.IntN(256))
		}
		script[0] = 0x00 // no OP_CODESEPARATOR games for btcd's legacy hash
		tx.AddTxOut(wire.NewTxOut(r.Int64N(maxSatoshi), script))
	}
	return tx, spent
}

var allSighashTypes = []uint32{
	sighashAll, sighashNone, sighashSingle,
	sighashAll | sighashAnyoneCanPay, sighashNone | sighashAnyoneCanPay, sighashSingle | sighashAnyoneCanPay,
}

func TestSighashMatchesBtcd(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 60 {
		nIn, nOut := 1+r.IntN(4), 1+r.IntN(4)
		tx, spent := randomTx(r, nIn, nOut, false)
		fetcher := txscript.NewMultiPrevOutFetcher(nil)
		for i, in := range tx.TxIn {
			fetcher.AddPrevOut(in.PreviousOutPoint, spent[i])
		}
		btcdHashes := txscript.NewTxSigHashes(tx, fetcher)
		ours := newSigHasher(tx)
		for i := range tx.TxIn {
			// A witness script that is not a P2WPKH program (btcd would
			// rewrite one).
			ws := append([]byte{0x21}, bytes.Repeat([]byte{byte(n)}, 33)...)
			ws = append(ws, 0xac)
			for _, ht := range allSighashTypes {
				want, err := txscript.CalcWitnessSigHash(ws, btcdHashes, txscript.SigHashType(ht), tx, i, spent[i].Value)
				if err != nil {
					t.Fatal(err)
				}
				if got := ours.witnessV0(i, ws, uint64(spent[i].Value), ht); !bytes.Equal(got[:], want) {
					t.Errorf("tx %d input %d BIP143 %#x: got %x want %x", n, i, ht, got, want)
				}
				want, err = txscript.CalcSignatureHash(ws, txscript.SigHashType(ht), tx, i)
				if err != nil {
					t.Fatal(err)
				}
				if got := ours.legacy(i, ws, ht); !bytes.Equal(got[:], want) {
					t.Errorf("tx %d input %d legacy %#x: got %x want %x", n, i, ht, got, want)
				}
			}
		}

		tx, spent = randomTx(r, nIn, nOut, true)
		fetcher = txscript.NewMultiPrevOutFetcher(nil)
		for i, in := range tx.TxIn {
			fetcher.AddPrevOut(in.PreviousOutPoint, spent[i])
		}
		btcdHashes = txscript.NewTxSigHashes(tx, fetcher)
		ours = newSigHasher(tx)
		for i := range tx.TxIn {
			for _, ht := range append([]uint32{sighashDefault}, allSighashTypes...) {
				if ht&3 == sighashSingle && i >= len(tx.TxOut) {
					continue // refused before hashing (libwally reads out of bounds)
				}
				want, err := txscript.CalcTaprootSignatureHash(btcdHashes, txscript.SigHashType(ht), tx, i, fetcher)
				if err != nil {
					t.Fatal(err)
				}
				got := ours.taprootKeySpend(i, ht, func(k int) *wire.TxOut { return spent[k] })
				if !bytes.Equal(got[:], want) {
					t.Errorf("tx %d input %d BIP341 %#x: got %x want %x", n, i, ht, got, want)
				}
			}
		}
	}
}

// libwally (and so hsmd) hashes a BIP143 script code as given; btcd turns
// a P2WPKH program into its P2PKH script code.
func TestSighashWitnessScriptAsGiven(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tx, spent := randomTx(r, 1, 1, false)
	prog := append([]byte{0x00, 20}, bytes.Repeat([]byte{7}, 20)...)
	a := newSigHasher(tx).witnessV0(0, prog, uint64(spent[0].Value), sighashAll)
	b := newSigHasher(tx).witnessV0(0, p2pkh(prog[2:]), uint64(spent[0].Value), sighashAll)
	if a == b {
		t.Fatal("the P2WPKH program and its P2PKH script code hash alike")
	}
}

// The pre-segwit SIGHASH_SINGLE bug: no output at the input's index signs
// the value 1.
func TestSighashLegacySingleBug(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tx, _ := randomTx(r, 3, 1, false)
	if got := newSigHasher(tx).legacy(2, []byte{0x51}, sighashSingle); got != [32]byte{1} {
		t.Fatalf("got %x", got)
	}
}
