package signer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// BenchmarkOverhead measures each message family's engine overhead beyond
// the curve operations it cannot avoid, on a machine others share: every
// iteration runs the request through Engine.Handle, then its twin (the
// same signatures with the same keys and hashes, or for ecdh and revoke
// the same point operations), then a raw btcec ecdsa.Sign, timing each.
// Alternating puts the three under the same load, which separate
// benchmarks, seconds apart, are not. It reports
//
//	overhead-%   engine / twin − 1
//	x-btcec      engine / btcec ecdsa.Sign
//	engine-µs, twin-µs, btcec-µs
//
// (the garbage the engine makes is collected while any of the three
// runs: the split understates the engine's share of GC a little).
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	type family struct {
		name   string
		engine func() error
		twin   func()
	}
	var fams []family
	handle := func(e *Engine, c Client, raws [][]byte) func(int) error {
		return func(i int) error {
			_, err := e.Handle(ctx, c, raws[i%len(raws)])
			return err
		}
	}
	cycle := func(f func(int) error) func() error {
		i := 0
		return func() error { i++; return f(i) }
	}

	// ecdh, invoice, revoke: BenchmarkEcdh's, BenchmarkInvoice's and
	// BenchmarkRevoke's requests.
	{
		e, err := NewEngine(bytes.Repeat([]byte{1}, 32))
		if err != nil {
			b.Fatal(err)
		}
		var ecdhRaws, points [][]byte
		for i := range 64 {
			k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{byte(i + 1)}, 32))
			points = append(points, k.PubKey().SerializeCompressed())
			ecdhRaws = append(ecdhRaws, (&hsmproto.EcdhReq{Point: hsmproto.PubkeyFrom(k.PubKey())}).Encode())
		}
		connectd := Client{PeerID: e.NodeID(), Capabilities: CapECDH}
		j := 0
		fams = append(fams, family{"ecdh", cycle(handle(e, connectd, ecdhRaws)), func() {
			j++
			p, _ := btcec.ParsePubKey(points[j%len(points)])
			_, _ = e.ring.ECDHNode(p)
		}})

		var invRaws [][]byte
		var invHashes [][32]byte
		for i := range 64 {
			u5 := make([]byte, 250)
			for j := range u5 {
				u5[j] = byte((i*7 + j*13) % 32)
			}
			invRaws = append(invRaws, (&hsmproto.SignInvoice{U5bytes: u5, Hrp: []byte("lnbc25u")}).Encode())
			invHashes = append(invHashes, keys.InvoiceHash([]byte("lnbc25u"), u5))
		}
		nk, err := e.ring.NodeKey()
		if err != nil {
			b.Fatal(err)
		}
		k := 0
		fams = append(fams, family{"invoice", cycle(handle(e, MasterClient, invRaws)), func() {
			k++
			nk.SignRecoverable(invHashes[k%len(invHashes)])
		}})

		channeld := Client{Capabilities: 447, DBID: 42}
		channeld.PeerID[0], channeld.PeerID[32] = 3, 1
		ck, err := e.ring.Channel(channeld.PeerID, channeld.DBID)
		if err != nil {
			b.Fatal(err)
		}
		var revRaws [][]byte
		var nextSecrets []*keys.PrivateKey
		for n := range uint64(64) {
			revRaws = append(revRaws, (&hsmproto.RevokeCommitmentTx{CommitNum: 1000 + n}).Encode())
			s, err := ck.PerCommitmentSecret(1000 + n + 2)
			if err != nil {
				b.Fatal(err)
			}
			sk, err := keys.PrivKeyFromBytes(s[:])
			if err != nil {
				b.Fatal(err)
			}
			nextSecrets = append(nextSecrets, sk)
		}
		r := 0
		fams = append(fams, family{"revoke", cycle(handle(e, channeld, revRaws)), func() {
			r++
			nextSecrets[r%len(nextSecrets)].PubKey()
		}})
	}

	// Transactions: BenchmarkSignRemoteCommitmentTx's, BenchmarkSignWithdrawal's
	// and BenchmarkSignRemoteHtlcTx's requests.
	e := txEngine(b)
	ck, err := e.ring.Channel(txChanneld.PeerID, txChanneld.DBID)
	if err != nil {
		b.Fatal(err)
	}
	fundingKey, err := ck.FundingKey()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 5, 30} {
		raw := remoteCommitmentRequest(b, n)
		m, err := hsmproto.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		req := m.(*hsmproto.SignRemoteCommitmentTx)
		script := fundingScript(ck.FundingPubKey().SerializeCompressed(), req.RemoteFundingKey[:])
		h := newSigHasher(req.Tx.Tx).witnessV0(0, script, uint64(req.Tx.PSBT.Inputs[0].WitnessUtxo.Value), sighashAll)
		fams = append(fams, family{fmt.Sprintf("remote-commitment/htlcs=%d", n), cycle(handle(e, txChanneld, [][]byte{raw})), func() {
			fundingKey.SignLowR(h)
		}})
	}
	for _, n := range []int{1, 10} {
		ins := make([]walletInput, n)
		for i := range ins {
			ins[i] = walletInput{index: uint32(100 + i), amount: 50_000 + int64(i)}
		}
		req := withdrawal(b, e, ins)
		raw := req.Encode()
		sh := newSigHasher(req.Psbt.UnsignedTx)
		ks := make([]*keys.PrivateKey, n)
		hs := make([][32]byte, n)
		for i, w := range ins {
			if ks[i], err = e.ring.WalletKey(w.index); err != nil {
				b.Fatal(err)
			}
			hs[i] = sh.witnessV0(i, p2pkh(req.Inputs[i].ScriptPubkey[2:]), uint64(w.amount), sighashAll)
		}
		fams = append(fams, family{fmt.Sprintf("withdrawal/p2wpkh-inputs=%d", n), cycle(handle(e, MasterClient, [][]byte{raw})), func() {
			for i, k := range ks {
				k.SignLowRWally(hs[i])
			}
		}})
	}
	{
		reqs := htlcTxRequests(b, 30)
		raws := make([][]byte, len(reqs))
		hs := make([][32]byte, len(reqs))
		for i, r := range reqs {
			raws[i] = r.Encode()
			hs[i] = newSigHasher(r.Tx.Tx).witnessV0(0, r.Wscript, uint64(r.Tx.PSBT.Inputs[0].WitnessUtxo.Value), hsmproto.SighashSingleAnyoneCanPay)
		}
		key, err := ck.HTLCKey(remoteKey(b, 5))
		if err != nil {
			b.Fatal(err)
		}
		h := 0
		fams = append(fams, family{"remote-htlc-tx", cycle(handle(e, txChanneld, raws)), func() {
			h++
			key.SignLowR(hs[h%len(hs)])
		}})
	}

	btcecKey, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	btcecHashes := make([][32]byte, 64)
	for i := range btcecHashes {
		btcecHashes[i] = sha256.Sum256([]byte{byte(i)})
	}
	for _, f := range fams {
		b.Run(f.name, func(b *testing.B) {
			if err := f.engine(); err != nil { // warm, as a running node is
				b.Fatal(err)
			}
			var tEngine, tTwin, tBtcec time.Duration
			n := 0
			for b.Loop() {
				t0 := time.Now()
				if err := f.engine(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				f.twin()
				t2 := time.Now()
				ecdsa.Sign(btcecKey, btcecHashes[n%len(btcecHashes)][:])
				t3 := time.Now()
				tEngine += t1.Sub(t0)
				tTwin += t2.Sub(t1)
				tBtcec += t3.Sub(t2)
				n++
			}
			b.ReportMetric(100*(float64(tEngine)/float64(tTwin)-1), "overhead-%")
			b.ReportMetric(float64(tEngine)/float64(tBtcec), "x-btcec")
			b.ReportMetric(float64(tEngine.Microseconds())/float64(n), "engine-µs")
			b.ReportMetric(float64(tTwin.Microseconds())/float64(n), "twin-µs")
			b.ReportMetric(float64(tBtcec.Microseconds())/float64(n), "btcec-µs")
		})
	}
}
