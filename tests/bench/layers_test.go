package bench_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/audit"
	"gl-signerd/internal/glemu"
	"gl-signerd/internal/signing"
	"gl-signerd/signer"
	"gl-signerd/streamer"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// BenchmarkLayers splits one request's round trip by layer, in process, one
// request in flight: the engine alone; the engine behind the streamer and
// the emulated node (mTLS gRPC on loopback: the request down the stream,
// the answer back by RespondHsmRequest); and the daemon's seam on top
// (internal/signing with the audit log fsynced on disk). The request is an
// ECDH from connectd, cheap to answer, so the overheads show.
func BenchmarkLayers(b *testing.B) {
	e, err := signer.NewEngine(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		b.Fatal(err)
	}
	k, _ := btcec.NewPrivateKey()
	raw := (&hsmproto.EcdhReq{Point: hsmproto.PubkeyFrom(k.PubKey())}).Encode()
	nodeID := e.NodeID()
	c := signer.Client{PeerID: nodeID, Capabilities: signer.CapECDH}
	ctx := context.Background()

	b.Run("engine", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, err := e.Handle(ctx, c, raw); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportP99(b, lat)
	})
	engineHandler := streamer.RequestHandlerFunc(func(ctx context.Context, r streamer.Request) streamer.Response {
		reply, err := e.Handle(ctx, signing.ClientOf(r.Context), r.Raw)
		return streamer.Response{Raw: reply, Err: err}
	})
	b.Run("stream", func(b *testing.B) { roundTrips(b, engineHandler, raw, nodeID) })
	// The seam with the audit log as the daemon runs it by default (each
	// line written before the answer, fsynced every 10 ms), and with
	// audit.sync_interval = 0s (each answer waits for its fsync).
	for _, mode := range []struct {
		name string
		opts audit.Options
	}{
		{"stream+seam+audit", audit.Options{SyncInterval: 10 * time.Millisecond}},
		{"stream+seam+audit-fsync-each", audit.Options{}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			log, err := audit.Open(filepath.Join(b.TempDir(), "audit.log"), mode.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer log.Close()
			roundTrips(b, signing.NewHandler(e, signing.Options{Audit: log}), raw, nodeID)
		})
	}
}

func reportP99(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// roundTrips runs a streamer with h against an emulated node and submits
// raw b.N times, one at a time.
func roundTrips(b *testing.B, h streamer.RequestHandler, raw []byte, _ [33]byte) {
	dir := b.TempDir()
	emu, err := glemu.Start(context.Background(), glemu.Options{Dir: dir, AutoSchedule: true})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	key, _ := btcec.NewPrivateKey()
	ks := glemu.KeySigner{Key: key}
	read := func(p string) []byte {
		v, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	nobody, err := streamer.ClientTLS(streamer.Credentials{CA: read(emu.CAPath()), Cert: read(emu.NobodyCertPath()), Key: read(emu.NobodyKeyPath())})
	if err != nil {
		b.Fatal(err)
	}
	sc, err := streamer.DialScheduler(emu.SchedulerURI(), nobody)
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dev, err := streamer.Register(ctx, sc, ks, streamer.Registration{Network: "regtest", SignerProto: "v26.06", InitMsg: []byte{0, 114}})
	if err != nil {
		b.Fatal(err)
	}
	conf, err := streamer.ClientTLS(streamer.Credentials{CA: read(emu.CAPath()), Cert: dev.Cert, Key: dev.Key})
	if err != nil {
		b.Fatal(err)
	}
	dsc, err := streamer.DialScheduler(emu.SchedulerURI(), conf)
	if err != nil {
		b.Fatal(err)
	}
	defer dsc.Close()
	s, err := streamer.New(streamer.Config{NodeID: ks.NodeID(), Scheduler: dsc, NodeTLS: conf, Handler: h})
	if err != nil {
		b.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	defer func() { rcancel(); <-done }()
	node := emu.Node(ks.NodeID())
	if err := node.WaitForSigner(ctx); err != nil {
		b.Fatal(err)
	}
	rc := &glpb.HsmRequestContext{NodeId: append([]byte(nil), ks.Key.PubKey().SerializeCompressed()...), Capabilities: signer.CapECDH}
	for i := 0; i < 100; i++ { // warm-up
		if _, err := node.Submit(ctx, &glpb.HsmRequest{Raw: raw, Context: rc}); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		resp, err := node.Submit(ctx, &glpb.HsmRequest{Raw: raw, Context: rc})
		if err != nil || resp.GetError() != "" {
			b.Fatal(err, resp.GetError())
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	// CPU of the whole process (the emulated node's side included, the
	// same in every variant) per round trip.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	reportP99(b, lat)
}

// processCPU is this process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
