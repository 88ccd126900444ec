package signer_test

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
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
