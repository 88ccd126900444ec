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

// BenchmarkStateOverhead answers the same recorded request stream with a
// bare engine and with an engine with state (a fresh store each round, in
// $TMPDIR: run it with TMPDIR on a disk for the cost of fsync, on tmpfs
// for the state layer's own cost), alternating the two request by request
// (which of the two goes first alternating too) so that a change in the
// machine's load hits both alike. It reports the
// time per request of each and their ratio in wall-clock time and in CPU
// time of the benchmark's thread (which counts the kernel's time in
// write and fdatasync, not the time others take the CPU), and the fsynced
// commits per round.
func BenchmarkStateOverhead(b *testing.B) {
	reqs := benchStream(b)
	seed := bytes.Repeat([]byte{0x41}, 32)
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var bare, stateful, bareCPU, stateCPU time.Duration
	var commits uint64
	rounds := 0
	handle := func(e *signer.Engine, r traffic.Request, wall, cpu *time.Duration) {
		c0, t0 := signer.ThreadCPU(), time.Now()
		if _, err := e.Handle(ctx, r.Client, r.Raw); err != nil {
			b.Fatalf("%s: %v", r.Name, err)
		}
		*wall += time.Since(t0)
		*cpu += signer.ThreadCPU() - c0
	}
	for b.Loop() {
		eBare, err := signer.NewEngine(seed)
		if err != nil {
			b.Fatal(err)
		}
		st, err := state.Open(filepath.Join(b.TempDir(), state.FileName))
		if err != nil {
			b.Fatal(err)
		}
		eState, err := signer.NewEngine(seed, signer.WithState(st), benchAuthorization)
		if err != nil {
			b.Fatal(err)
		}
		// Which goes first alternates (the second finds warm caches).
		for i, r := range reqs {
			if (i+rounds)%2 == 0 {
				handle(eBare, r, &bare, &bareCPU)
				handle(eState, r, &stateful, &stateCPU)
			} else {
				handle(eState, r, &stateful, &stateCPU)
				handle(eBare, r, &bare, &bareCPU)
			}
		}
		commits += st.Stats().Commits
		st.Close()
		rounds++
	}
	n := float64(rounds * len(reqs))
	b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-ns/request")
	b.ReportMetric(float64(stateful.Nanoseconds())/n, "state-ns/request")
	b.ReportMetric(float64(stateful)/float64(bare), "state/bare")
	b.ReportMetric(float64(bareCPU.Nanoseconds())/n, "bare-cpu-ns/request")
	b.ReportMetric(float64(stateCPU.Nanoseconds())/n, "state-cpu-ns/request")
	b.ReportMetric(float64(stateCPU)/float64(bareCPU), "cpu-state/bare")
	b.ReportMetric(float64(commits)/float64(rounds), "commits/round")
}
