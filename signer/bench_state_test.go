package signer_test

import (
	"bytes"
	"context"
	"path/filepath"
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
// for the state layer's own CPU cost), alternating the two in every round
// so that a change in the machine's load hits both alike. It reports the
// time per request of each and their ratio, and the fsynced transactions
// per round.
func BenchmarkStateOverhead(b *testing.B) {
	reqs := benchStream(b)
	seed := bytes.Repeat([]byte{0x41}, 32)
	ctx := context.Background()
	var bare, stateful time.Duration
	var commits uint64
	rounds := 0
	play := func(e *signer.Engine) time.Duration {
		start := time.Now()
		for _, r := range reqs {
			if _, err := e.Handle(ctx, r.Client, r.Raw); err != nil {
				b.Fatalf("%s: %v", r.Name, err)
			}
		}
		return time.Since(start)
	}
	for b.Loop() {
		e, err := signer.NewEngine(seed)
		if err != nil {
			b.Fatal(err)
		}
		bare += play(e)
		st, err := state.Open(filepath.Join(b.TempDir(), state.FileName))
		if err != nil {
			b.Fatal(err)
		}
		e, err = signer.NewEngine(seed, signer.WithState(st))
		if err != nil {
			b.Fatal(err)
		}
		stateful += play(e)
		commits += st.Stats().Commits
		st.Close()
		rounds++
	}
	n := float64(rounds * len(reqs))
	b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-ns/request")
	b.ReportMetric(float64(stateful.Nanoseconds())/n, "state-ns/request")
	b.ReportMetric(float64(stateful)/float64(bare), "state/bare")
	b.ReportMetric(float64(commits)/float64(rounds), "commits/round")
}
