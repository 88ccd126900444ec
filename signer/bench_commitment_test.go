package signer_test

import (
	"bytes"
	"context"
	"syscall"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
)

// processCPU is the process's user and system CPU time so far, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// The commitment checks' cost where they run: sign_remote_commitment_tx
// of a commitment with two HTLCs (its previous commitment remembered) on
// the bare engine (no state, policy off), on an engine with state and the
// policy off, and with state and the policy enforced.
func BenchmarkCommitmentCheck(b *testing.B) {
	for _, mode := range []string{"bare", "state-off", "state-enforce"} {
		b.Run(mode, func(b *testing.B) {
			fx := newChanFixture(b, true)
			s0 := fx.remoteSpec(0, capSat*1000-pushMsat, pushMsat, 2500)
			s1 := fx.remoteSpec(1, capSat*1000-pushMsat, pushMsat-30_000_000, 2500, htlc(true, 10_000, 700), htlc(true, 20_000, 710))
			var raws [][]byte
			for _, s := range []policy.CommitmentSpec{s0, s1} {
				c, err := s.Build()
				if err != nil {
					b.Fatal(err)
				}
				req := &hsmproto.SignRemoteCommitmentTx{Tx: fx.bitcoinTx(b, c.Tx, nil, capSat, fx.fundPK), RemoteFundingKey: hsmproto.PubkeyFrom(fx.theirs.Funding),
					RemotePerCommit: hsmproto.PubkeyFrom(s.Point), OptionStaticRemotekey: true, CommitNum: s.Num, Feerate: s.FeeratePerKw}
				for _, o := range c.Outputs {
					if o.Kind == policy.OutputHTLC {
						h := s.HTLCs[o.HTLC]
						req.Htlcs = append(req.Htlcs, hsmproto.HsmHtlc{Side: hsmproto.Remote, Amount: hsmproto.AmountMsat(h.AmountMsat), PaymentHash: h.PaymentHash, CltvExpiry: h.CltvExpiry})
					}
				}
				raws = append(raws, req.Encode())
			}
			e := fx.e
			switch mode {
			case "bare":
				var err error
				if e, err = signer.NewEngine(bytes.Repeat([]byte{0x31}, 32), signer.WithPolicyMode(policy.ModeOff)); err != nil {
					b.Fatal(err)
				}
			case "state-off":
				e, _ = statefulEngineWith(b, 0x31, signer.WithPolicyMode(policy.ModeOff))
				newChanFixtureOn(b, e, true)
			}
			for _, raw := range raws {
				if _, err := e.Handle(context.Background(), fx.channeld, raw); err != nil {
					b.Fatal(err)
				}
			}
			cpu0 := processCPU()
			for b.Loop() {
				if _, err := e.Handle(context.Background(), fx.channeld, raws[1]); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time, not wall time: on a loaded machine the wall time
			// of a longer computation is inflated by waiting for a core.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
