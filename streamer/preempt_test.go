package streamer_test

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/internal/glemu"
	"gl-signerd/streamer"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// The node is preempted and scheduled at a new address every 5 requests,
// against the emulator over mTLS with the daemon's default backoff
// (500 ms, up to 30 s): each time, a request the node sends right after
// it comes back is answered within a second. Before the backoff started
// over on an opened stream, each preemption cost 15-28 s.
func TestPreemptedEvery5Requests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emu, err := glemu.Start(ctx, glemu.Options{AutoSchedule: true})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer := glemu.KeySigner{Key: key}
	ca := readFile(t, emu.CAPath())
	nobody := dialScheduler(t, emu, ca, readFile(t, emu.NobodyCertPath()), readFile(t, emu.NobodyKeyPath()))
	dev, err := streamer.Register(ctx, nobody, signer, streamer.Registration{Network: "regtest", SignerProto: "v26.06", InitMsg: []byte{0x00, 0x72}})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := streamer.ClientTLS(streamer.Credentials{CA: ca, Cert: dev.Cert, Key: dev.Key})
	if err != nil {
		t.Fatal(err)
	}
	sched := dialScheduler(t, emu, ca, dev.Cert, dev.Key)
	s, err := streamer.New(streamer.Config{NodeID: signer.NodeID(), Scheduler: sched, NodeTLS: conf,
		Handler: streamer.RequestHandlerFunc(func(_ context.Context, r streamer.Request) streamer.Response {
			return streamer.Response{Raw: append([]byte{0, byte(r.Type() + 100)}, r.Raw[2:]...)}
		})})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(rctx) }()
	defer func() {
		rcancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	node := emu.Node(signer.NodeID())
	ask := func(i int) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		resp, err := node.Submit(sctx, &glpb.HsmRequest{Raw: []byte{0, 1, byte(i)}})
		if err != nil || resp.GetError() != "" || len(resp.GetRaw()) != 3 || resp.GetRaw()[2] != byte(i) {
			t.Fatalf("request %d: %v, %v", i, resp, err)
		}
	}
	const preemptions = 20
	var away []time.Duration
	for p := 0; p < preemptions; p++ {
		for i := 0; i < 5; i++ {
			ask(i)
		}
		t0 := time.Now()
		if _, err := node.Reschedule(); err != nil {
			t.Fatal(err)
		}
		ask(99)
		away = append(away, time.Since(t0))
	}
	sorted := append([]time.Duration(nil), away...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var total time.Duration
	for _, d := range away {
		total += d
	}
	t.Logf("%d preemptions, every 5 requests: away from the node (preemption to the next answer) median %v, mean %v, max %v",
		preemptions, sorted[len(sorted)/2].Round(time.Millisecond), (total / preemptions).Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
	for i, d := range away {
		if d >= time.Second {
			t.Errorf("preemption %d: the node waited %v for an answer; want under 1 s", i+1, d.Round(time.Millisecond))
		}
	}
	if ns := node.Stats(); ns.Preemptions != preemptions || ns.Streams != preemptions+1 {
		t.Errorf("node stats %+v; want %d preemptions, %d streams", ns, preemptions, preemptions+1)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dialScheduler(t *testing.T, emu *glemu.Emulator, ca, cert, key []byte) *streamer.SchedulerClient {
	t.Helper()
	conf, err := streamer.ClientTLS(streamer.Credentials{CA: ca, Cert: cert, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := streamer.DialScheduler(emu.SchedulerURI(), conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	return sc
}
