package hsmproto

import (
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
)

// libwally refuses to parse an amount above 21 million BTC (an output of
// a transaction, a witness UTXO), so CLN's fromwire_bitcoin_tx and
// fromwire_wally_psbt fail: Decode does too, wherever the amount is.
// Exactly 21 million BTC is accepted, and Encode writes either.
func TestAmountAbove21MBTC(t *testing.T) {
	g := gen{rand.New(rand.NewSource(21))}
	remote := PubkeyFrom(g.privKey().PubKey())
	// bitcoinTx is a bitcoin_tx of one input and two outputs whose PSBT
	// gives the input a witness UTXO; change edits both.
	bitcoinTx := func(change func(tx *wire.MsgTx, p *psbt.Packet)) BitcoinTx {
		tx := g.tx(1, 2, false)
		tx.Version = 2
		pkt, err := psbt.NewFromUnsignedTx(tx.Copy())
		if err != nil {
			t.Fatal(err)
		}
		pkt.Inputs[0].WitnessUtxo = wire.NewTxOut(5000, []byte{0x51})
		change(tx, pkt)
		return BitcoinTx{Tx: tx, PSBT: &PSBT{pkt}}
	}
	withdrawal := func(change func(p *psbt.Packet)) Message {
		tx := g.tx(1, 1, false)
		tx.Version = 2
		pkt, err := psbt.NewFromUnsignedTx(tx)
		if err != nil {
			t.Fatal(err)
		}
		change(pkt)
		return &SignWithdrawal{Psbt: &PSBT{pkt}}
	}
	commitment := func(btx BitcoinTx) Message {
		return &SignRemoteCommitmentTx{Tx: btx, RemoteFundingKey: remote, RemotePerCommit: remote}
	}
	for _, v := range []int64{maxSatoshi + 1, 1 << 62, -1} { // -1: 2^64−1 on the wire
		cases := []struct {
			name, field string
			m           Message
		}{
			{"transaction output", "tx", commitment(bitcoinTx(func(tx *wire.MsgTx, _ *psbt.Packet) { tx.TxOut[1].Value = v }))},
			{"PSBT unsigned transaction output", "tx.psbt", commitment(bitcoinTx(func(_ *wire.MsgTx, p *psbt.Packet) { p.UnsignedTx.TxOut[0].Value = v }))},
			{"witness UTXO", "tx.psbt", commitment(bitcoinTx(func(_ *wire.MsgTx, p *psbt.Packet) { p.Inputs[0].WitnessUtxo.Value = v }))},
			{"non-witness UTXO output", "tx.psbt", commitment(bitcoinTx(func(_ *wire.MsgTx, p *psbt.Packet) {
				prev := g.tx(1, 2, true)
				prev.TxOut[1].Value = v
				p.Inputs[0].NonWitnessUtxo = prev
			}))},
			{"withdrawal output", "psbt", withdrawal(func(p *psbt.Packet) { p.UnsignedTx.TxOut[0].Value = v })},
			{"withdrawal witness UTXO", "psbt", withdrawal(func(p *psbt.Packet) { p.Inputs[0].WitnessUtxo = wire.NewTxOut(v, []byte{0x51}) })},
		}
		for _, c := range cases {
			raw, err := Marshal(c.m)
			if err != nil {
				t.Fatalf("%s: Marshal refuses %d sat: %v", c.name, v, err)
			}
			_, err = Decode(raw)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("%s of %d sat: Decode returns %v", c.name, v, err)
			}
			kind := ErrBadTx
			if c.field != "tx" {
				kind = ErrBadPSBT
			}
			if de.Field != c.field || !errors.Is(err, kind) || !strings.Contains(err.Error(), "21 million BTC") {
				t.Errorf("%s of %d sat: %v (field %q, want %q, %v)", c.name, v, err, de.Field, c.field, kind)
			}
		}
	}
	// 21 million BTC exactly, everywhere, parses.
	m := commitment(bitcoinTx(func(tx *wire.MsgTx, p *psbt.Packet) {
		tx.TxOut[1].Value = maxSatoshi
		p.UnsignedTx.TxOut[0].Value = maxSatoshi
		p.Inputs[0].WitnessUtxo.Value = maxSatoshi
		prev := g.tx(1, 1, true)
		prev.TxOut[0].Value = maxSatoshi
		p.Inputs[0].NonWitnessUtxo = prev
	}))
	if _, err := Decode(m.Encode()); err != nil {
		t.Errorf("21 million BTC: %v", err)
	}
}
