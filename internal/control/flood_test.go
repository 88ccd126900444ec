package control_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/control"
	"gl-signerd/signer"
)

// TestFloodDoesNotSlowSigning is issue 11's attack on the control socket:
// hundreds of same-uid connections each sending 1 MiB without a newline,
// reconnecting whenever they are closed. Signing in the same process, with
// the daemon's memory settings (GOGC 50, a 28 MiB soft limit), keeps its
// quiet latency, and the heap does not grow with the flood.
func TestFloodDoesNotSlowSigning(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of flood; skipped with -short")
	}
	const (
		attackers = 300
		junkLen   = 1 << 20
		samples   = 400
	)
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(28 << 20))

	eng, err := signer.NewEngine(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Wipe()
	req := (&hsmproto.SignMessage{Msg: []byte("control flood")}).Encode()
	// latency signs samples times and returns the median and the 90th
	// percentile.
	latency := func() (p50, p90 time.Duration) {
		d := make([]time.Duration, samples)
		for i := range d {
			began := time.Now()
			if _, err := eng.Handle(context.Background(), signer.MasterClient, req); err != nil {
				t.Fatal(err)
			}
			d[i] = time.Since(began)
			time.Sleep(time.Millisecond) // spread the samples over the flood
		}
		slices.Sort(d)
		return d[len(d)/2], d[len(d)*9/10]
	}
	heap := func() uint64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}

	srv := control.NewServer(nil)
	path := filepath.Join(t.TempDir(), "control.sock")
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ctx, ln) }()
	defer func() { cancel(); srv.Close(); <-served }()

	latency() // warm up
	quiet50, quiet90 := latency()
	quietHeap := heap()

	junk := bytes.Repeat([]byte{'x'}, junkLen) // shared: the flood costs the test nothing per connection
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn // closed at the end whatever the server does
	for range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for {
				if c, err := net.Dial("unix", path); err == nil {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
					_, _ = c.Write(junk)
					// Hold the connection until the server closes it.
					for err == nil {
						_, err = c.Read(buf)
					}
					c.Close()
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	var once sync.Once
	stopFlood := func() {
		once.Do(func() {
			close(stop)
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	defer stopFlood()
	time.Sleep(time.Second) // every attacker has connected and sent once
	floodHeap := heap()
	flood50, flood90 := latency()
	stopFlood()
	// Quiet again: the baseline is the slower of the two quiet figures, so
	// that load from outside the test while it ran is not taken for the
	// flood's doing.
	time.Sleep(200 * time.Millisecond)
	after50, after90 := latency()
	quiet50, quiet90 = max(quiet50, after50), max(quiet90, after90)

	t.Logf("signing latency: quiet p50 %s p90 %s; flood p50 %s p90 %s (p50 ratio %.2f); heap %d KiB quiet, %d KiB under the flood",
		quiet50, quiet90, flood50, flood90, float64(flood50)/float64(quiet50), quietHeap>>10, floodHeap>>10)
	// MaxConns request buffers are all the flood may hold.
	if grown := int64(floodHeap) - int64(quietHeap); grown > 8<<20 {
		t.Errorf("the heap grew by %d KiB under the flood; the limits allow about %d KiB", grown>>10, control.MaxConns*control.MaxRequest>>10)
	}
	if flood50 > 2*quiet50+500*time.Microsecond || flood90 > 3*quiet90+time.Millisecond {
		t.Errorf("signing slowed under the flood: p50 %s p90 %s, quiet p50 %s p90 %s", flood50, flood90, quiet50, quiet90)
	}
}
