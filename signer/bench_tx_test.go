package signer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// Benchmarks of the transaction handlers through Engine.Handle (decode,
// derive, hash, sign, encode), each beside the signature operations it
// cannot avoid, measured in the same run so that ratios can be quoted:
//
//   - BenchmarkTxSignBaseline: a bare btcec ecdsa.Sign (RFC6979, no
//     grinding), keys.SignLowR (CLN's sign_hash: low-R grinding, on average
//     two nonces) and keys.SignLowRWally (libwally's grinding, for wallet
//     inputs), and a P2TR key spend (BIP341 tweak + BIP340 signature);
//   - BenchmarkSignRemoteCommitmentTx: a commitment with 0, 5 or 30 HTLC
//     outputs (one SignLowR);
//   - BenchmarkSignWithdrawal: 1 or 10 P2WPKH wallet inputs (one BIP32
//     child key, its public key and one SignLowRWally each);
//   - BenchmarkSignRemoteHtlcTx: the 30 HTLC signatures channeld asks for
//     one commitment of the peer's, which all carry the same
//     per-commitment point (one SignLowR each).
//
// Each engine/ benchmark has a signatures-only/ twin that makes exactly
// the signatures the handler makes (same keys, same hashes: grinding for
// low R needs a number of nonces that depends on the hash, so only the
// same hashes compare fairly). Engine overhead = engine / signatures-only − 1;
// decode-only (hsmproto.Decode of the request) and keys-only (the wallet
// keys and their public keys) show where it goes.

func benchHash(i int) [32]byte { return sha256.Sum256([]byte(fmt.Sprint("bench", i))) }

func BenchmarkTxSignBaseline(b *testing.B) {
	kb := bytes.Repeat([]byte{0x42}, 32)
	priv, _ := btcec.PrivKeyFromBytes(kb)
	key, err := keys.PrivKeyFromBytes(kb)
	if err != nil {
		b.Fatal(err)
	}
	hashes := make([][32]byte, 64)
	for i := range hashes {
		hashes[i] = benchHash(i)
	}
	b.Run("btcec-ecdsa.Sign", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			h := hashes[i%len(hashes)]
			ecdsa.Sign(priv, h[:])
		}
	})
	b.Run("SignLowR", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			key.SignLowR(hashes[i%len(hashes)])
		}
	})
	b.Run("SignLowRWally", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			key.SignLowRWally(hashes[i%len(hashes)])
		}
	})
	b.Run("TaprootTweak+SignSchnorr", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			tk, err := key.TaprootTweak(nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tk.SignSchnorr(hashes[i%len(hashes)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// remoteCommitmentRequest is a sign_remote_commitment_tx of an anchors
// commitment with n HTLC outputs (and to_local, to_remote, two anchors).
func remoteCommitmentRequest(b testing.TB, n int) []byte {
	remote := hsmproto.PubkeyFrom(remoteKey(b, 3))
	tx := wire.NewMsgTx(2)
	tx.LockTime = 0x20_00_00_2a
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: txOutPoint(1), Sequence: 0x80_00_00_17})
	p2wshOut := func(v int64, tag byte) *wire.TxOut {
		return wire.NewTxOut(v, append([]byte{0x00, 32}, bytes.Repeat([]byte{tag}, 32)...))
	}
	tx.AddTxOut(p2wshOut(330, 1))
	tx.AddTxOut(p2wshOut(330, 2))
	req := &hsmproto.SignRemoteCommitmentTx{RemoteFundingKey: remote, RemotePerCommit: hsmproto.PubkeyFrom(remoteKey(b, 4)), CommitNum: 42, Feerate: 2500}
	for i := range n {
		tx.AddTxOut(p2wshOut(10_000+int64(i), byte(10+i)))
		req.Htlcs = append(req.Htlcs, hsmproto.HsmHtlc{Side: hsmproto.Side(i % 2), Amount: hsmproto.AmountMsat(10_000_000 + i), PaymentHash: sha256.Sum256([]byte{byte(i)}), CltvExpiry: 800_000 + uint32(i)})
	}
	tx.AddTxOut(p2wshOut(3_000_000, 3))
	tx.AddTxOut(wire.NewTxOut(1_000_000, append([]byte{0x00, 32}, bytes.Repeat([]byte{4}, 32)...)))
	pkt, err := psbt.NewFromUnsignedTx(tx.Copy())
	if err != nil {
		b.Fatal(err)
	}
	pkt.Inputs[0].WitnessUtxo = p2wshOut(5_000_000, 0xf0)
	req.Tx = hsmproto.BitcoinTx{Tx: tx, PSBT: &hsmproto.PSBT{Packet: pkt}}
	return req.Encode()
}

// freshPoints returns n distinct points (k·G, (k+1)·G, …), for requests
// that carry a new point each time, as a peer's per-commitment points and
// connection keys are: hsmproto remembers the points it has checked
// lately, and a benchmark that repeats one point would only time that.
func freshPoints(n int) []hsmproto.Pubkey {
	var k btcec.ModNScalar
	k.SetInt(0x5eed)
	var p, g btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k, &p)
	k.SetInt(1)
	btcec.ScalarBaseMultNonConst(&k, &g)
	out := make([]hsmproto.Pubkey, n)
	for i := range out {
		btcec.AddNonConst(&p, &g, &p)
		q := p
		q.ToAffine()
		out[i] = hsmproto.PubkeyFrom(btcec.NewPublicKey(&q.X, &q.Y))
	}
	return out
}

// freshPointCount is how many fresh points a benchmark cycles through:
// four times hsmproto's cache, so that nearly every one is checked again.
const freshPointCount = 4096

// remoteCommitmentRequests is remoteCommitmentRequest with a fresh
// per-commitment point each time (the funding key stays): request(i) is
// one buffer, rewritten in place with the i-th of freshPointCount points,
// so that it is in the CPU's cache as a request just received is (4,096
// copies of a 3 KB request would not be).
func remoteCommitmentRequests(b testing.TB, n int) (request func(i int) []byte) {
	raw := remoteCommitmentRequest(b, n)
	m, err := hsmproto.Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	old := m.(*hsmproto.SignRemoteCommitmentTx).RemotePerCommit
	at := bytes.Index(raw, old[:])
	if at < 0 || bytes.Count(raw, old[:]) != 1 {
		b.Fatal("the per-commitment point is not once in the request")
	}
	points := freshPoints(freshPointCount)
	return func(i int) []byte {
		copy(raw[at:], points[i%len(points)][:])
		return raw
	}
}

// witnessAmount is the amount of input in of btx, from its PSBT.
func witnessAmount(b *testing.B, btx *hsmproto.BitcoinTx, in int) uint64 {
	a, ok := btx.WitnessUTXOAmount(in)
	if !ok {
		b.Fatalf("the PSBT gives input %d no witness UTXO", in)
	}
	return uint64(a)
}

func BenchmarkSignRemoteCommitmentTx(b *testing.B) {
	e := txEngine(b)
	ck, err := e.ring.Channel(txChanneld.PeerID, txChanneld.DBID)
	if err != nil {
		b.Fatal(err)
	}
	key, err := ck.FundingKey()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 5, 30} {
		request := remoteCommitmentRequests(b, n)
		raw := request(0)
		b.Run(fmt.Sprintf("htlcs=%d/engine", n), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for i := 0; b.Loop(); i++ {
				if _, err := e.Handle(context.Background(), txChanneld, request(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The one signature the handler makes: same key, same hash.
		m, err := hsmproto.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		req := m.(*hsmproto.SignRemoteCommitmentTx)
		script := fundingScript(ck.FundingPubKey().SerializeCompressed(), req.RemoteFundingKey[:])
		h := newSigHasher(req.Tx.Tx).witnessV0(0, script, witnessAmount(b, &req.Tx, 0), sighashAll)
		b.Run(fmt.Sprintf("htlcs=%d/signatures-only", n), func(b *testing.B) {
			for b.Loop() {
				key.SignLowR(h)
			}
		})
		// Where the rest goes: hsmproto's decoding (and validation).
		b.Run(fmt.Sprintf("htlcs=%d/decode-only", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := hsmproto.Decode(request(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSignWithdrawal(b *testing.B) {
	e := txEngine(b)
	var err error
	for _, n := range []int{1, 10} {
		ins := make([]walletInput, n)
		for i := range ins {
			ins[i] = walletInput{index: uint32(100 + i), amount: 50_000 + int64(i)}
		}
		req := withdrawal(b, e, ins)
		raw := req.Encode()
		b.Run(fmt.Sprintf("p2wpkh-inputs=%d/engine", n), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := e.Handle(context.Background(), MasterClient, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The signatures the handler makes: same keys, same hashes.
		sh := newSigHasher(req.Psbt.UnsignedTx)
		ks := make([]*keys.PrivateKey, n)
		hs := make([][32]byte, n)
		for i, w := range ins {
			if ks[i], err = e.ring.WalletKey(w.index); err != nil {
				b.Fatal(err)
			}
			hs[i] = sh.witnessV0(i, p2pkh(req.Inputs[i].ScriptPubkey[2:]), uint64(w.amount), sighashAll)
		}
		b.Run(fmt.Sprintf("p2wpkh-inputs=%d/signatures-only", n), func(b *testing.B) {
			for b.Loop() {
				for i, k := range ks {
					k.SignLowRWally(hs[i])
				}
			}
		})
		// Where the rest goes: the wallet keys and their public keys
		// (hsm_key_for_utxo, psbt_input_add_pubkey), and hsmproto's
		// decoding.
		b.Run(fmt.Sprintf("p2wpkh-inputs=%d/keys-only", n), func(b *testing.B) {
			for b.Loop() {
				for _, w := range ins {
					k, err := e.ring.UTXOKey(w.index)
					if err != nil {
						b.Fatal(err)
					}
					k.PubKey()
				}
			}
		})
		b.Run(fmt.Sprintf("p2wpkh-inputs=%d/decode-only", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := hsmproto.Decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// htlcTxRequests are n sign_remote_htlc_tx of one commitment: different
// second-stage transactions (anchors: SIGHASH_SINGLE|ANYONECANPAY), one
// per-commitment point.
func htlcTxRequests(b testing.TB, n int) []*hsmproto.SignRemoteHtlcTx {
	point := hsmproto.PubkeyFrom(remoteKey(b, 5))
	wscript := bytes.Repeat([]byte{0x76}, 140) // an offered HTLC script's size
	var reqs []*hsmproto.SignRemoteHtlcTx
	for i := range n {
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: txOutPoint(byte(20 + i)), Sequence: 1})
		tx.AddTxOut(wire.NewTxOut(9_000+int64(i), append([]byte{0x00, 32}, bytes.Repeat([]byte{byte(i)}, 32)...)))
		tx.LockTime = 800_000 + uint32(i)
		pkt, err := psbt.NewFromUnsignedTx(tx.Copy())
		if err != nil {
			b.Fatal(err)
		}
		pkt.Inputs[0].WitnessUtxo = wire.NewTxOut(10_000+int64(i), append([]byte{0x00, 32}, bytes.Repeat([]byte{0xaa}, 32)...))
		reqs = append(reqs, &hsmproto.SignRemoteHtlcTx{
			Tx: hsmproto.BitcoinTx{Tx: tx, PSBT: &hsmproto.PSBT{Packet: pkt}}, Wscript: wscript,
			RemotePerCommitPoint: point, OptionAnchorOutputs: true,
		})
	}
	return reqs
}

func BenchmarkSignRemoteHtlcTx(b *testing.B) {
	e := txEngine(b)
	reqs := htlcTxRequests(b, 30)
	raws := make([][]byte, len(reqs))
	for i, r := range reqs {
		raws[i] = r.Encode()
	}
	b.Run("htlcs=30/engine", func(b *testing.B) {
		for b.Loop() {
			for _, raw := range raws {
				if _, err := e.Handle(context.Background(), txChanneld, raw); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	// The signatures the handler makes: same key, same hashes.
	ck, err := e.ring.Channel(txChanneld.PeerID, txChanneld.DBID)
	if err != nil {
		b.Fatal(err)
	}
	key, err := ck.HTLCKey(remoteKey(b, 5))
	if err != nil {
		b.Fatal(err)
	}
	hs := make([][32]byte, len(reqs))
	for i, r := range reqs {
		hs[i] = newSigHasher(r.Tx.Tx).witnessV0(0, r.Wscript, witnessAmount(b, &r.Tx, 0), hsmproto.SighashSingleAnyoneCanPay)
	}
	// The twin is exact: the engine's first answer is that signature.
	reply, err := e.Handle(context.Background(), txChanneld, raws[0])
	if err != nil {
		b.Fatal(err)
	}
	m, err := hsmproto.Decode(reply)
	if err != nil {
		b.Fatal(err)
	}
	if got := m.(*hsmproto.SignTxReply).Sig.Sig; got != hsmproto.ECDSASignature(keys.CompactSig(key.SignLowR(hs[0]))) {
		b.Fatal("the engine signs another hash or with another key")
	}
	b.Run("htlcs=30/signatures-only", func(b *testing.B) {
		for b.Loop() {
			for _, h := range hs {
				key.SignLowR(h)
			}
		}
	})
}
