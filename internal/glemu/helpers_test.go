package glemu_test

import (
	"context"
	"crypto/tls"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"gl-signerd/internal/glemu"
	"gl-signerd/streamer"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// checkLeaks fails the test if goroutines started during it outlive it.
// Call it first, so its cleanup runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines before the test, %d after:\n%s", base, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func startEmu(t *testing.T, opts glemu.Options) *glemu.Emulator {
	t.Helper()
	emu, err := glemu.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := emu.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return emu
}

func newSigner(t *testing.T) glemu.KeySigner {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return glemu.KeySigner{Key: k}
}

func tlsFor(t *testing.T, ca, cert, key []byte) *tls.Config {
	t.Helper()
	conf, err := streamer.ClientTLS(streamer.Credentials{CA: ca, Cert: cert, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dial(t *testing.T, emu *glemu.Emulator, conf *tls.Config) *streamer.SchedulerClient {
	t.Helper()
	sc, err := streamer.DialScheduler(emu.SchedulerURI(), conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	return sc
}

// nobody is a scheduler client with the nobody identity.
func nobody(t *testing.T, emu *glemu.Emulator) *streamer.SchedulerClient {
	t.Helper()
	return dial(t, emu, tlsFor(t, read(t, emu.CAPath()), read(t, emu.NobodyCertPath()), read(t, emu.NobodyKeyPath())))
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var testRegistration = streamer.Registration{
	Network:     "regtest",
	SignerProto: "v26.06",
	InitMsg:     []byte{0x00, 0x72, 1, 2, 3},
}

// register registers s and returns its device identity and a scheduler
// client using it.
func register(t *testing.T, emu *glemu.Emulator, s glemu.KeySigner) (*streamer.Device, *tls.Config, *streamer.SchedulerClient) {
	t.Helper()
	dev, err := streamer.Register(ctxT(t, 10*time.Second), nobody(t, emu), s, testRegistration)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	conf := tlsFor(t, read(t, emu.CAPath()), dev.Cert, dev.Key)
	return dev, conf, dial(t, emu, conf)
}

// echo answers every request with type+100 and the request's payload, and
// bumps a state entry per request.
func echo(_ context.Context, r streamer.Request) streamer.Response {
	out := append([]byte{byte((r.Type() + 100) >> 8), byte(r.Type() + 100)}, r.Raw[2:]...)
	return streamer.Response{Raw: out, SignerState: []streamer.StateEntry{{Key: "last", Version: uint64(r.ID), Value: r.Raw}}}
}

// runStreamer runs a streamer until the test ends and returns it.
func runStreamer(t *testing.T, cfg streamer.Config) *streamer.Streamer {
	t.Helper()
	if cfg.BackoffInitial == 0 {
		cfg.BackoffInitial = 20 * time.Millisecond
		cfg.BackoffMax = 200 * time.Millisecond
	}
	s, err := streamer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run = %v after cancellation", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5 s of cancellation")
		}
	})
	return s
}

func msg(typ uint16, payload ...byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ)}, payload...)
}

func submit(t *testing.T, n *glemu.Node, req *glpb.HsmRequest) *glpb.HsmResponse {
	t.Helper()
	resp, err := n.Submit(ctxT(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return resp
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nodeClient is a raw Node client at uri with conf.
func nodeClient(t *testing.T, emu *glemu.Emulator, uri string, conf *tls.Config) glpb.NodeClient {
	t.Helper()
	_ = emu
	c := conf.Clone()
	c.ServerName = "localhost"
	target := strings.TrimPrefix(uri, "https://")
	conn, err := grpc.Dial(target, grpc.WithTransportCredentials(credentials.NewTLS(c)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return glpb.NewNodeClient(conn)
}
