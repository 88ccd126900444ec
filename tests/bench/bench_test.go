package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"gl-signerd/internal/loadgen"
	"gl-signerd/internal/testbin"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
)

var bin string

func TestMain(m *testing.M) {
	var err error
	if bin, err = testbin.Path(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// runTimeout guards the small runs against a hang. It is not a speed
// check: under -race, with the other packages' tests running beside them
// on two loaded cores, recording alone took over 3 minutes.
const runTimeout = 10 * time.Minute

// A short run of the whole measurement: every phase produces figures and
// every answer is checked.
func TestRunSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var out bytes.Buffer
	rep, err := loadgen.Run(ctx, loadgen.Config{Binary: bin, Out: &out, Rates: []int{200}, PhaseDuration: 500 * time.Millisecond,
		Workers: 8, Channels: 20, EngineSample: 500, FastKDF: true, ScriptRequests: 2000})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	rep.Write(&out)
	t.Log("\n" + out.String())
	if len(rep.Phases) != 2 || rep.Phases[0].Requests == 0 || rep.Phases[1].Requests == 0 {
		t.Errorf("phases: %+v", rep.Phases)
	}
	if rep.Phases[0].P50 <= 0 || rep.Phases[0].P99 < rep.Phases[0].P50 || rep.EngineRequests == 0 || rep.EngineMean <= 0 {
		t.Errorf("report: %+v", rep)
	}
	if rep.Channels != 20 || rep.RSSPeak == 0 || rep.RSSEnd == 0 {
		t.Errorf("memory: %+v", rep)
	}
	for _, want := range []string{"200 req/s", "saturation", "engine alone", "sparse ÷ busy", "memory: 20 channels"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report has no %q", want)
		}
	}
}

// The paced phases can also build their requests as they go.
func TestRunSmallLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	var out bytes.Buffer
	rep, err := loadgen.Run(ctx, loadgen.Config{Binary: bin, Out: &out, Rates: []int{200}, PhaseDuration: 500 * time.Millisecond,
		Workers: 8, Channels: -1, EngineSample: 500, FastKDF: true, Live: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(rep.Phases) != 2 || rep.Phases[0].Requests == 0 || rep.Phases[1].Requests == 0 {
		t.Errorf("phases: %+v", rep.Phases)
	}
	if strings.Contains(out.String(), "recording:") {
		t.Errorf("a live run recorded scripts:\n%s", out.String())
	}
}

// BenchmarkDaemon is the whole measurement (about a minute): its figures
// are reported as metrics. go test -bench Daemon -benchtime 1x ./tests/bench
func BenchmarkDaemon(b *testing.B) {
	for i := 0; i < b.N; i++ {
		rep, err := loadgen.Run(context.Background(), loadgen.Config{Binary: bin, FastKDF: true})
		if err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		rep.Write(&out)
		b.Log("\n" + out.String())
		for _, p := range rep.Phases {
			name := strings.ReplaceAll(p.Name, " req/s", "rps")
			b.ReportMetric(p.Achieved(), name+"-req/s")
			b.ReportMetric(float64(p.P50.Microseconds()), name+"-p50-µs")
			b.ReportMetric(float64(p.P99.Microseconds()), name+"-p99-µs")
			b.ReportMetric(float64(p.CPUPerRequest.Microseconds()), name+"-cpu-µs/req")
		}
		if ratio, _ := rep.SparseCPURatio(); ratio > 0 {
			b.ReportMetric(ratio, "sparse/saturation-cpu-ratio")
		}
		b.ReportMetric(float64(rep.EngineMean.Microseconds()), "engine-µs/req")
		b.ReportMetric(float64(rep.RSSPeak)/1e6, "peak-RSS-MB")
	}
}

// BenchmarkEngineMix is the engine alone over the generator's request
// mix (channel lifecycles, wallet, gossip, invoices), in process.
func BenchmarkEngineMix(b *testing.B) {
	e, err := signer.NewEngine(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	init, err := e.InitReply("bitcoin")
	if err != nil {
		b.Fatal(err)
	}
	var reqs []traffic.Request
	rec := func(ctx context.Context, r traffic.Request) ([]byte, error) {
		reqs = append(reqs, r)
		return traffic.EngineSender(e)(ctx, r)
	}
	g, err := traffic.New(init, rec, traffic.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 8; i++ {
		if _, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{WeFund: i%2 == 0, Anchors: i%3 != 0, Announce: true},
			Payments: 6, FeeUpdates: 1, Close: traffic.CloseKind(i % 2)}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := g.Withdraw(ctx, 10); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := reqs[i%len(reqs)]
		if _, err := e.Handle(ctx, r.Client, r.Raw); err != nil {
			b.Fatal(err)
		}
	}
}
