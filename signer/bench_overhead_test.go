package signer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"
	"unsafe"

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
// benchmarks, seconds apart, are not; and each is timed in CPU time of
// the benchmark's thread (CLOCK_THREAD_CPUTIME_ID, the goroutine locked
// to it), which does not count the time other processes take the CPU.
// It reports
//
//	overhead-%         engine / twin − 1, thread CPU time
//	overhead-gc-%      the same with all of the GC's background CPU
//	                   time charged to the engine (an upper bound: the
//	                   twin and btcec allocate too)
//	x-btcec            engine / btcec ecdsa.Sign, thread CPU time
//	engine-µs, twin-µs, btcec-µs, gc-bg-µs: CPU time per iteration
//	wall-overhead-%    engine / twin − 1 in wall-clock time
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
		for _, p := range freshPoints(freshPointCount) { // connectd's come from new connections
			points = append(points, p[:])
			ecdhRaws = append(ecdhRaws, (&hsmproto.EcdhReq{Point: p}).Encode())
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
		request := remoteCommitmentRequests(b, n)
		m, err := hsmproto.Decode(request(0))
		if err != nil {
			b.Fatal(err)
		}
		req := m.(*hsmproto.SignRemoteCommitmentTx)
		script := fundingScript(ck.FundingPubKey().SerializeCompressed(), req.RemoteFundingKey[:])
		h := newSigHasher(req.Tx.Tx).witnessV0(0, script, witnessAmount(b, &req.Tx, 0), sighashAll)
		fams = append(fams, family{fmt.Sprintf("remote-commitment/htlcs=%d", n), cycle(func(i int) error {
			_, err := e.Handle(ctx, txChanneld, request(i))
			return err
		}), func() {
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
			hs[i] = newSigHasher(r.Tx.Tx).witnessV0(0, r.Wscript, witnessAmount(b, &r.Tx, 0), hsmproto.SighashSingleAnyoneCanPay)
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
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if err := f.engine(); err != nil { // warm, as a running node is
				b.Fatal(err)
			}
			runtime.GC()
			gc0 := gcBackgroundCPU()
			var cEngine, cTwin, cBtcec, wEngine, wTwin time.Duration
			n := 0
			for b.Loop() {
				c0, t0 := threadCPU(), time.Now()
				if err := f.engine(); err != nil {
					b.Fatal(err)
				}
				c1, t1 := threadCPU(), time.Now()
				f.twin()
				c2, t2 := threadCPU(), time.Now()
				ecdsa.Sign(btcecKey, btcecHashes[n%len(btcecHashes)][:])
				c3 := threadCPU()
				cEngine += c1 - c0
				cTwin += c2 - c1
				cBtcec += c3 - c2
				wEngine += t1.Sub(t0)
				wTwin += t2.Sub(t1)
				n++
			}
			b.StopTimer()
			runtime.GC()
			gc := gcBackgroundCPU() - gc0
			perOp := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }
			b.ReportMetric(100*(float64(cEngine)/float64(cTwin)-1), "overhead-%")
			b.ReportMetric(100*(float64(cEngine+gc)/float64(cTwin)-1), "overhead-gc-%")
			b.ReportMetric(float64(cEngine)/float64(cBtcec), "x-btcec")
			b.ReportMetric(perOp(cEngine), "engine-µs")
			b.ReportMetric(perOp(cTwin), "twin-µs")
			b.ReportMetric(perOp(cBtcec), "btcec-µs")
			b.ReportMetric(perOp(gc), "gc-bg-µs")
			b.ReportMetric(100*(float64(wEngine)/float64(wTwin)-1), "wall-overhead-%")
		})
	}
}

// threadCPU is the CPU time of the calling thread.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic(errno)
	}
	return time.Duration(ts.Nano())
}

// gcBackgroundCPU is the CPU time the GC has spent outside the mutator's
// own assists (which threadCPU counts): dedicated and fractional mark
// workers and stop-the-world pauses. Idle-priority mark workers are left
// out: they run only on processors that have nothing else to do.
func gcBackgroundCPU() time.Duration {
	s := []metrics.Sample{
		{Name: "/cpu/classes/gc/mark/dedicated:cpu-seconds"},
		{Name: "/cpu/classes/gc/pause:cpu-seconds"},
	}
	metrics.Read(s)
	var sec float64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindFloat64 {
			sec += x.Value.Float64()
		}
	}
	return time.Duration(sec * 1e9)
}
