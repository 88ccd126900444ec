package keys

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// The channel transaction handlers: which key each one signs with, re-made
// from the request bytes and compared with hsmd's signature.  All of them
// are sign_tx_input → sign_hash (low-R grinding, CLN's schedule) over the
// BIP143 digest of one input.

// bitcoinTx reads CLN's bitcoin_tx: u32 length, the transaction, then the
// PSBT (u32 length, bytes) that carries the input amounts.
func (r *wireReader) bitcoinTx() (*wire.MsgTx, *psbt.Packet) {
	r.t.Helper()
	tx := wire.NewMsgTx(2)
	if err := tx.Deserialize(bytes.NewReader(r.take(int(r.u32())))); err != nil {
		r.t.Fatalf("bitcoin_tx: %v", err)
	}
	p, err := psbt.NewFromRawBytes(bytes.NewReader(r.take(int(r.u32()))), false)
	if err != nil {
		r.t.Fatalf("bitcoin_tx psbt: %v", err)
	}
	return tx, p
}

func (r *wireReader) pubkey() *btcec.PublicKey {
	r.t.Helper()
	p, err := btcec.ParsePubKey(r.take(33))
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// fundingScript is bitcoin_redeem_2of2: the two keys in lexical order.
func fundingScript(t *testing.T, a, b *btcec.PublicKey) []byte {
	ka, kb := a.SerializeCompressed(), b.SerializeCompressed()
	if bytes.Compare(ka, kb) > 0 {
		ka, kb = kb, ka
	}
	s, err := txscript.NewScriptBuilder().AddOp(txscript.OP_2).AddData(ka).AddData(kb).
		AddOp(txscript.OP_2).AddOp(txscript.OP_CHECKMULTISIG).Script()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// txSigCase is what one request needs: the input, its script, and the key.
type txSigCase struct {
	tx     *wire.MsgTx
	pkt    *psbt.Packet
	input  int
	script []byte
	key    *PrivateKey
	err    error // from deriving key
}

func TestChannelTxSignatureVectors(t *testing.T) {
	chanKeys := func(t *testing.T, v hsmdVector, peer [33]byte, dbid uint64) *ChannelKeys {
		ck, err := ringFor(t, v.Secret).Channel(peer, dbid)
		if err != nil {
			t.Fatal(err)
		}
		return ck
	}
	point := func(t *testing.T, ck *ChannelKeys, n uint64) *btcec.PublicKey {
		p, err := ck.PerCommitmentPoint(n)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	funding := func(t *testing.T, ck *ChannelKeys, c *txSigCase, remote *btcec.PublicKey) {
		c.key, c.err = ck.FundingKey()
		c.script = fundingScript(t, ck.FundingPubKey(), remote)
	}

	handlers := map[string]func(t *testing.T, v hsmdVector, r *wireReader) txSigCase{
		// Funding-key signatures.
		"hsmd_sign_remote_commitment_tx": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			c.tx, c.pkt = r.bitcoinTx()
			peer, dbid := clientChannel(t, v)
			funding(t, chanKeys(t, v, peer, dbid), &c, r.pubkey())
			return c
		},
		"hsmd_sign_commitment_tx": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			peer, dbid := [33]byte(r.take(33)), r.u64()
			c.tx, c.pkt = r.bitcoinTx()
			funding(t, chanKeys(t, v, peer, dbid), &c, r.pubkey())
			return c
		},
		"hsmd_sign_mutual_close_tx": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			c.tx, c.pkt = r.bitcoinTx()
			peer, dbid := clientChannel(t, v)
			funding(t, chanKeys(t, v, peer, dbid), &c, r.pubkey())
			return c
		},
		"hsmd_sign_splice_tx": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			c.tx, c.pkt = r.bitcoinTx()
			peer, dbid := clientChannel(t, v)
			funding(t, chanKeys(t, v, peer, dbid), &c, r.pubkey())
			c.input = int(r.u32())
			return c
		},
		// HTLC key at the peer's commitment point.
		"hsmd_sign_remote_htlc_tx": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			c.tx, c.pkt = r.bitcoinTx()
			c.script = r.take(int(r.u16()))
			peer, dbid := clientChannel(t, v)
			c.key, c.err = chanKeys(t, v, peer, dbid).HTLCKey(r.pubkey())
			return c
		},
		"hsmd_sign_remote_htlc_to_us": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			p := r.pubkey()
			c.tx, c.pkt = r.bitcoinTx()
			c.script = r.take(int(r.u16()))
			peer, dbid := clientChannel(t, v)
			c.key, c.err = chanKeys(t, v, peer, dbid).HTLCKey(p)
			return c
		},
		"hsmd_sign_any_remote_htlc_to_us": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			p := r.pubkey()
			c.tx, c.pkt = r.bitcoinTx()
			c.script = r.take(int(r.u16()))
			r.take(1) // option_anchor_outputs
			c.input = int(r.u32())
			peer, dbid := [33]byte(r.take(33)), r.u64()
			c.key, c.err = chanKeys(t, v, peer, dbid).HTLCKey(p)
			return c
		},
		// HTLC key at our own commitment point n.
		"hsmd_sign_any_local_htlc_tx": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			n := r.u64()
			c.tx, c.pkt = r.bitcoinTx()
			c.script = r.take(int(r.u16()))
			r.take(1) // option_anchor_outputs
			c.input = int(r.u32())
			peer, dbid := [33]byte(r.take(33)), r.u64()
			ck := chanKeys(t, v, peer, dbid)
			c.key, c.err = ck.HTLCKey(point(t, ck, n))
			return c
		},
		// Delayed payment key at our own commitment point n.
		"hsmd_sign_delayed_payment_to_us": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			n := r.u64()
			c.tx, c.pkt = r.bitcoinTx()
			c.script = r.take(int(r.u16()))
			peer, dbid := clientChannel(t, v)
			ck := chanKeys(t, v, peer, dbid)
			c.key, c.err = ck.DelayedPaymentKey(point(t, ck, n))
			return c
		},
		"hsmd_sign_any_delayed_payment_to_us": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			n := r.u64()
			c.tx, c.pkt = r.bitcoinTx()
			c.script = r.take(int(r.u16()))
			c.input = int(r.u32())
			peer, dbid := [33]byte(r.take(33)), r.u64()
			ck := chanKeys(t, v, peer, dbid)
			c.key, c.err = ck.DelayedPaymentKey(point(t, ck, n))
			return c
		},
		// Revocation key from the peer's revealed secret.
		"hsmd_sign_penalty_to_us": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			s := Secret(r.take(32))
			c.tx, c.pkt = r.bitcoinTx()
			c.script = r.take(int(r.u16()))
			peer, dbid := clientChannel(t, v)
			c.key, c.err = chanKeys(t, v, peer, dbid).RevocationKey(s)
			return c
		},
		"hsmd_sign_any_penalty_to_us": func(t *testing.T, v hsmdVector, r *wireReader) (c txSigCase) {
			s := Secret(r.take(32))
			c.tx, c.pkt = r.bitcoinTx()
			c.script = r.take(int(r.u16()))
			c.input = int(r.u32())
			peer, dbid := [33]byte(r.take(33)), r.u64()
			c.key, c.err = chanKeys(t, v, peer, dbid).RevocationKey(s)
			return c
		},
	}

	total := 0
	for name, parse := range handlers {
		for _, v := range hsmdVectors(t, name) {
			t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
				req := &wireReader{t: t, b: v.req(t)}
				req.u16()
				c := parse(t, v, req)
				if c.err != nil {
					t.Fatal(c.err)
				}
				rep := &wireReader{t: t, b: v.resp(t)}
				rep.u16()
				want := rep.take(64)
				hType := txscript.SigHashType(rep.take(1)[0])

				in := c.pkt.Inputs[c.input]
				if in.WitnessUtxo == nil {
					t.Fatalf("input %d has no witness_utxo", c.input)
				}
				fetcher := txscript.NewCannedPrevOutputFetcher(in.WitnessUtxo.PkScript, in.WitnessUtxo.Value)
				h, err := txscript.CalcWitnessSigHash(c.script, txscript.NewTxSigHashes(c.tx, fetcher), hType, c.tx, c.input, in.WitnessUtxo.Value)
				if err != nil {
					t.Fatal(err)
				}
				sig := CompactSig(c.key.SignLowR([32]byte(h)))
				if !bytes.Equal(sig[:], want) {
					t.Errorf("signature\n got %x\nwant %x", sig, want)
				}
				// The key really is the one the script names.
				if !bytes.Contains(c.script, c.key.PubKey().SerializeCompressed()) &&
					!bytes.Contains(c.script, btcutil.Hash160(c.key.PubKey().SerializeCompressed())) {
					t.Errorf("key %x does not appear in the witness script", c.key.PubKey().SerializeCompressed())
				}
			})
			total++
		}
	}
	if total < 100 {
		t.Errorf("only %d transaction signatures checked", total)
	}
}
