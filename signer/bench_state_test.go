package signer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"golang.org/x/sys/unix"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
	"gl-signerd/signer/curve"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// benchStream records the requests of a node's start and four channel
// lifecycles (the traffic generator against a bare engine).
func benchStream(b *testing.B) []traffic.Request {
	e, err := signer.NewEngine(bytes.Repeat([]byte{0x41}, 32))
	if err != nil {
		b.Fatal(err)
	}
	rec := &recording{send: traffic.EngineSender(e)}
	init, _ := e.InitReply("bitcoin")
	g, err := traffic.New(init, rec.sender, traffic.Options{Seed: 11})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := g.Boot(ctx); err != nil {
		b.Fatal(err)
	}
	for _, l := range []traffic.Lifecycle{
		{Channel: traffic.ChannelOptions{WeFund: true, Anchors: true}, Payments: 12, FeeUpdates: 1, Close: traffic.CloseNone},
		{Channel: traffic.ChannelOptions{}, Payments: 8, Close: traffic.CloseMutual},
		{Channel: traffic.ChannelOptions{Anchors: true}, Payments: 8, Close: traffic.CloseForce},
		{Channel: traffic.ChannelOptions{WeFund: true}, Payments: 10, Close: traffic.CloseNone},
	} {
		if _, err := g.RunLifecycle(ctx, l); err != nil {
			b.Fatal(err)
		}
	}
	return rec.reqs
}

// BenchmarkStateOverhead answers the same recorded request stream with
// three engines: "off", the bare engine with the policy off (CLN's hsmd's
// behaviour, no state); "state", with a state store and the policy off
// (the cost of state alone); and "policy", with a state store and the
// policy enforced (every check, the validating signer as it runs). Each
// round opens fresh stores in $TMPDIR (run it with TMPDIR on a disk for
// the cost of fsync, on tmpfs for the state layer's own cost). The
// engines answer request by request, which goes first rotating, so that a
// change in the machine's load hits all alike. It reports the time per
// request of each and the ratios to "off" in wall-clock time and in CPU
// time of the benchmark's thread (which counts the kernel's time in write
// and fdatasync, not the time others take the CPU), and the fsynced
// commits per round of the policy engine.
func BenchmarkStateOverhead(b *testing.B) {
	reqs := benchStream(b)
	seed := bytes.Repeat([]byte{0x41}, 32)
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	names := []string{"off", "state", "policy"}
	wall := make([]time.Duration, len(names))
	cpu := make([]time.Duration, len(names))
	var commits uint64
	rounds := 0
	for b.Loop() {
		var engines []*signer.Engine
		var stores []*state.Store
		for _, name := range names {
			var opts []signer.Option
			if name != "policy" {
				opts = append(opts, signer.WithPolicyMode(policy.ModeOff))
			}
			if name != "off" {
				st, err := state.Open(filepath.Join(b.TempDir(), state.FileName))
				if err != nil {
					b.Fatal(err)
				}
				stores = append(stores, st)
				opts = append(opts, signer.WithState(st), benchAuthorization)
			}
			e, err := signer.NewEngine(seed, opts...)
			if err != nil {
				b.Fatal(err)
			}
			engines = append(engines, e)
		}
		for i, r := range reqs {
			for k := range engines {
				j := (i + rounds + k) % len(engines)
				c0, t0 := signer.ThreadCPU(), time.Now()
				if _, err := engines[j].Handle(ctx, r.Client, r.Raw); err != nil {
					b.Fatalf("%s engine: %s: %v", names[j], r.Name, err)
				}
				wall[j] += time.Since(t0)
				cpu[j] += signer.ThreadCPU() - c0
			}
		}
		commits += stores[len(stores)-1].Stats().Commits
		for _, st := range stores {
			st.Close()
		}
		rounds++
	}
	n := float64(rounds * len(reqs))
	for j, name := range names {
		b.ReportMetric(float64(cpu[j].Nanoseconds())/n, name+"-cpu-ns/request")
		if j > 0 {
			b.ReportMetric(float64(cpu[j])/float64(cpu[0]), "cpu-"+name+"/off")
			b.ReportMetric(float64(wall[j])/float64(wall[0]), "wall-"+name+"/off")
		}
	}
	b.ReportMetric(float64(commits)/float64(rounds), "commits/round")
}

// BenchmarkPolicyFloor measures what no validating signer can go below on
// the stream of BenchmarkStateOverhead: the bare engine's answers plus the
// elliptic-curve work that the checks the policy must make cannot do
// without. For every holder commitment (validate_commitment_tx), one ECDSA
// verification of each signature the peer sends with it (the commitment's
// and each HTLC transaction's), checked before the node may revoke the
// previous commitment. For every commitment rebuilt with HTLCs (ours and
// the peer's), the revocation key and both HTLC keys of that commitment,
// without which its HTLC outputs' scripts cannot be compared. Everything
// else (the other keys, rebuilding the transactions, signature hashes, the
// state store) comes on top, so each floor is a lower bound of policy/off.
// The operations run on valid inputs of 64 keys in turn, timed on the same
// thread between the engine's answers.
func BenchmarkPolicyFloor(b *testing.B) {
	reqs := benchStream(b)
	type signed struct {
		pub  *btcec.PublicKey
		hash [32]byte
		r, s btcec.ModNScalar
	}
	cases := make([]signed, 64)
	for i := range cases {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.Sum256([]byte{byte(i), 'f'})
		sig := ecdsa.Sign(k, h[:])
		cases[i] = signed{pub: k.PubKey(), hash: h, r: sig.R(), s: sig.S()}
	}
	// What each request needs: peer signatures to verify, and whether it
	// rebuilds a commitment with HTLCs.
	verifications := make([]int, len(reqs))
	withHTLCs := make([]bool, len(reqs))
	var perRound struct{ verifications, commitments int }
	for i, r := range reqs {
		m, err := hsmproto.Decode(r.Raw)
		if err != nil {
			b.Fatalf("%s: %v", r.Name, err)
		}
		switch m := m.(type) {
		case *hsmproto.ValidateCommitmentTx:
			verifications[i] = 1 + len(m.HtlcSigs)
			withHTLCs[i] = len(m.HtlcSigs) > 0 // an HTLC output to check
		case *hsmproto.SignRemoteCommitmentTx:
			// HTLCs given: in this stream each such transaction has an
			// output of an HTLC's amount (none is trimmed away).
			withHTLCs[i] = len(m.Htlcs) > 0
		}
		perRound.verifications += verifications[i]
		if withHTLCs[i] {
			perRound.commitments++
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var verify, derive time.Duration
	next := 0
	off, rounds := bareRounds(b, reqs, func(i int) {
		// The clock is read only around work: a read costs about
		// a microsecond, which an empty section would add.
		if verifications[i] > 0 {
			c0 := signer.ThreadCPU()
			for range verifications[i] {
				c := &cases[next%len(cases)]
				next++
				if !curve.VerifyECDSA(c.pub, c.hash[:], &c.r, &c.s) {
					b.Fatal("a valid signature did not verify")
				}
			}
			verify += signer.ThreadCPU() - c0
		}
		if withHTLCs[i] {
			// The commitment's point and three basepoints: the
			// revocation key, then our and the peer's HTLC keys.
			point := cases[next%len(cases)].pub
			revocation, ours, theirs := cases[(next+1)%len(cases)].pub, cases[(next+2)%len(cases)].pub, cases[(next+3)%len(cases)].pub
			next++
			c0 := signer.ThreadCPU()
			_, err1 := curve.RevocationPubKey(revocation, point)
			_, err2 := curve.SimplePubKey(ours, point)
			_, err3 := curve.SimplePubKey(theirs, point)
			derive += signer.ThreadCPU() - c0
			if err1 != nil || err2 != nil || err3 != nil {
				b.Fatal("a key derivation failed")
			}
		}
	})
	n := float64(rounds * len(reqs))
	b.ReportMetric(float64(len(reqs)), "requests/round")
	b.ReportMetric(float64(off.Nanoseconds())/n, "off-cpu-ns/request")
	b.ReportMetric(float64(perRound.verifications), "verifications/round")
	b.ReportMetric(float64(verify.Nanoseconds())/float64(rounds*perRound.verifications), "cpu-ns/verification")
	b.ReportMetric(float64(perRound.commitments), "htlc-commitments/round")
	b.ReportMetric(float64(derive.Nanoseconds())/float64(rounds*perRound.commitments), "cpu-ns/commitment-keys")
	b.ReportMetric(float64(off+verify)/float64(off), "verify-floor/off")
	b.ReportMetric(float64(off+verify+derive)/float64(off), "floor/off")
}

// BenchmarkStateFloor measures what no durable state layer can go below on
// the stream of BenchmarkStateOverhead: the bare engine's answers plus, for
// every request whose answer changes the state (as the state engine
// commits it), one write of that change with RWF_DSYNC to a file in
// $TMPDIR, the system call the write-ahead log makes; and, for every
// revealed secret that the shachain cannot check against the secrets
// before it (validate_revocation of an even commitment number), the
// multiplication by G that checks it against its per-commitment point, so
// that a wrong secret is never remembered. Encoding, copying and recording
// the change come on top, so floor/off is a lower bound of state/off. Run
// it as BenchmarkStateOverhead, with TMPDIR on tmpfs.
func BenchmarkStateFloor(b *testing.B) {
	reqs := benchStream(b)
	seed := bytes.Repeat([]byte{0x41}, 32)
	ctx := context.Background()

	// Which requests commit, and the size of what they write: one pass of
	// the state engine, untimed.
	st, err := state.Open(filepath.Join(b.TempDir(), state.FileName))
	if err != nil {
		b.Fatal(err)
	}
	e, err := signer.NewEngine(seed, signer.WithPolicyMode(policy.ModeOff), signer.WithState(st), benchAuthorization)
	if err != nil {
		b.Fatal(err)
	}
	commits := make([]bool, len(reqs))
	pointChecks := make([][32]byte, len(reqs))
	checks := make([]bool, len(reqs))
	var perRound struct{ commits, checks int }
	for i, r := range reqs {
		before := st.Stats().Commits
		if _, err := e.Handle(ctx, r.Client, r.Raw); err != nil {
			b.Fatalf("%s: %v", r.Name, err)
		}
		if commits[i] = st.Stats().Commits > before; commits[i] {
			perRound.commits++
		}
		m, err := hsmproto.Decode(r.Raw)
		if err != nil {
			b.Fatalf("%s: %v", r.Name, err)
		}
		if v, ok := m.(*hsmproto.ValidateRevocation); ok && v.RevokeNum%2 == 0 {
			checks[i], pointChecks[i] = true, [32]byte(v.PerCommitmentSecret)
			perRound.checks++
		}
	}
	if len(st.Channels()) == 0 || perRound.checks == 0 {
		b.Fatal("the stream opens no channel or reveals no secret at an even commitment number")
	}
	// A write the size of an average channel record and the log's framing.
	var recordBytes int
	for _, ch := range st.Channels() {
		rec, err := state.EncodeChannel(ch)
		if err != nil {
			b.Fatal(err)
		}
		recordBytes += len(rec)
	}
	frame := make([]byte, recordBytes/len(st.Channels())+64)
	st.Close()
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "floor-wal"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	// A preallocated log, as the write-ahead log's, so that a write does
	// not change the file's size.
	const logSize = 1 << 20
	if err := f.Truncate(logSize); err != nil {
		b.Fatal(err)
	}
	point := cases64(b)[0]

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Each timed section reads the thread's CPU clock twice, a system call
	// of about a microsecond here; the engine's sections carry it in
	// BenchmarkStateOverhead too, the write's and the check's are extra
	// and have it taken off.
	var clock time.Duration
	const clockReads = 10000
	for range clockReads {
		c0 := signer.ThreadCPU()
		clock += signer.ThreadCPU() - c0
	}
	clock /= clockReads
	var write, check time.Duration
	var at int64
	off, rounds := bareRounds(b, reqs, func(i int) {
		if checks[i] {
			c0 := signer.ThreadCPU()
			curve.IsPointOf(pointChecks[i], point)
			check += signer.ThreadCPU() - c0
		}
		if commits[i] {
			c0 := signer.ThreadCPU()
			if _, err := unix.Pwritev2(int(f.Fd()), [][]byte{frame}, at, unix.RWF_DSYNC); err != nil {
				b.Fatal(err)
			}
			write += signer.ThreadCPU() - c0
			at = (at + int64(len(frame))) % (logSize - int64(len(frame)))
		}
	})
	write -= time.Duration(rounds*perRound.commits) * clock
	check -= time.Duration(rounds*perRound.checks) * clock
	n := float64(rounds * len(reqs))
	b.ReportMetric(float64(clock.Nanoseconds()), "cpu-ns/clock-read")
	b.ReportMetric(float64(off.Nanoseconds())/n, "off-cpu-ns/request")
	b.ReportMetric(float64(perRound.commits), "commits/round")
	b.ReportMetric(float64(len(frame)), "bytes/write")
	b.ReportMetric(float64(write.Nanoseconds())/float64(rounds*perRound.commits), "cpu-ns/write")
	b.ReportMetric(float64(perRound.checks), "point-checks/round")
	b.ReportMetric(float64(check.Nanoseconds())/float64(rounds*perRound.checks), "cpu-ns/point-check")
	b.ReportMetric(float64(off+write)/float64(off), "write-floor/off")
	b.ReportMetric(float64(off+write+check)/float64(off), "floor/off")
}

// cases64 is 64 compressed public keys.
func cases64(b *testing.B) [][33]byte {
	out := make([][33]byte, 64)
	for i := range out {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			b.Fatal(err)
		}
		copy(out[i][:], k.PubKey().SerializeCompressed())
	}
	return out
}

// bareRounds answers reqs with a new bare engine (policy off, no state)
// in each round of b.Loop, timing each answer in the thread's CPU time,
// and calls after(i) once request i is answered. It returns the engine's
// CPU time and the number of rounds. Call it with the thread locked.
func bareRounds(b *testing.B, reqs []traffic.Request, after func(i int)) (time.Duration, int) {
	ctx := context.Background()
	var off time.Duration
	rounds := 0
	for b.Loop() {
		e, err := signer.NewEngine(bytes.Repeat([]byte{0x41}, 32), signer.WithPolicyMode(policy.ModeOff))
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range reqs {
			c0 := signer.ThreadCPU()
			if _, err := e.Handle(ctx, r.Client, r.Raw); err != nil {
				b.Fatalf("%s: %v", r.Name, err)
			}
			off += signer.ThreadCPU() - c0
			after(i)
		}
		rounds++
	}
	return off, rounds
}
