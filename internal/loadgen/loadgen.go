// Package loadgen measures the whole daemon: the real gl-signerd binary
// (init, register, run as child processes) against the Greenlight emulator
// (internal/glemu), driven over the node's gRPC stream on loopback by
// channel traffic from internal/traffic. It is product code because
// `gl-signerd bench` ships it; the benchmarks that use it from go test are
// in tests/bench (go test -bench . ./tests/bench).
//
// What it reports, in one run:
//
//   - for paced phases (100 and 1,000 requests per second by default) and
//     at saturation: the rate achieved, the p50/p99/max latency of a
//     request (node → signer → node, the round trip lightningd sees), and
//     the daemon's CPU time per request (from /proc, so the load
//     generator's own CPU does not count);
//   - the engine alone: the same requests, sampled from the run, answered
//     by an in-process signer.Engine with the same seed;
//   - the daemon's memory with many channels of state: each channel set up
//     and exercised (payments both ways), left open; peak RSS over that
//     phase (VmHWM, reset after start-up) and RSS at its end.
//
// Pacing: channel workers each have one request in flight, as channeld
// does; a pacer hands out send slots at the target rate. Latency is taken
// from the slot to the answer, so waiting for a slot is not counted; a
// phase that cannot reach its rate says so (Achieved).
package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gldaemon "gl-signerd/internal/daemon"
	"gl-signerd/internal/glemu"
	"gl-signerd/internal/traffic"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// Config configures a run. Zero values take the defaults.
type Config struct {
	// Binary is the gl-signerd executable.
	Binary string
	// Out receives progress lines (nil: none).
	Out io.Writer
	// Rates are the paced phases, requests per second (default 100,
	// 1000); a saturation phase always follows.
	Rates []int
	// PhaseDuration is the length of each rate phase (default 10 s).
	PhaseDuration time.Duration
	// GeneratorCPUs is how many channel workers may compute at once
	// (build and check transactions between their requests; default 1).
	// The generator's work is heavier than the daemon's, and Go does not
	// preempt a goroutine for 10 ms: with every P of this process busy
	// computing, the emulated node's network goroutines would wait, and
	// the generator's load would show up as the daemon's latency. One
	// computing worker leaves the rest of this process to the node.
	GeneratorCPUs int
	// Live runs the rate phases with the generator building each request
	// as it goes, as the memory phase does. By default they replay scripts
	// instead: ScriptRequests requests of whole lifecycles recorded before
	// the phases against an in-process engine with the daemon's seed, and
	// checked by the generator then; each of the daemon's answers must be
	// byte-equal to the recorded one. The load generator then costs almost
	// nothing while the daemon is measured.
	Live bool
	// ScriptRequests is how many requests are recorded (default 50,000:
	// 10 s at 100 and 1,000 req/s and 10 s of saturation up to about
	// 3,900 req/s); each lifecycle is
	// replayed once, and a run that needs more ends with an error.
	ScriptRequests int
	// Workers is the number of concurrent channels in the rate phases
	// (default 64).
	Workers int
	// Channels is the number of channels set up for the memory phase
	// (default 1000; negative: skip the phase).
	Channels int
	// EngineSample is how many requests of the run are timed with the
	// engine alone (default 20000).
	EngineSample int
	// FastKDF makes the throw-away secret store here with a cheap
	// Argon2id instead of running gl-signerd init, whose store costs
	// 256 MiB once at start-up. The daemon's memory figures then show the
	// signer without that one-time buffer.
	FastKDF bool
	// PinCPUs runs the daemon on CPU 1 and this process (load generator
	// and emulator) on CPU 0, with taskset, so that neither steals the
	// other's CPU. Needs two CPUs and taskset(1).
	PinCPUs bool
	// KeepDir keeps the temporary directory (state, daemon.log) and
	// prints its path.
	KeepDir bool
}

// Phase is one measured phase.
type Phase struct {
	Name       string
	TargetRate int // 0: saturation, -1: not paced (memory phase)
	Requests   int
	Duration   time.Duration
	P50, P90   time.Duration
	P99        time.Duration
	// Over1ms is the share of requests slower than 1 ms.
	Over1ms float64
	Max     time.Duration
	// CPUPerRequest is the daemon's user+system CPU time per request.
	CPUPerRequest time.Duration
	// Slowest are the five slowest requests, "latency name".
	Slowest []string
}

// Achieved is the request rate of the phase.
func (p Phase) Achieved() float64 { return float64(p.Requests) / p.Duration.Seconds() }

// SparseCPURatio is the daemon's CPU time per request in the slowest paced
// phase divided by that at saturation: what sparse traffic (a user's
// device, on battery) costs per request over a busy stream, where timers,
// wake-ups and goroutine hand-offs are shared by many requests (issue 13's
// target: at most 2). It returns the phase it took and 0 when the run has
// no paced phase or no saturation figure.
func (r *Report) SparseCPURatio() (float64, Phase) {
	var sparse, sat Phase
	for _, p := range r.Phases {
		switch {
		case p.TargetRate == 0:
			sat = p
		case p.TargetRate > 0 && (sparse.TargetRate == 0 || p.TargetRate < sparse.TargetRate):
			sparse = p
		}
	}
	if sparse.TargetRate == 0 || sparse.CPUPerRequest <= 0 || sat.CPUPerRequest <= 0 {
		return 0, Phase{}
	}
	return float64(sparse.CPUPerRequest) / float64(sat.CPUPerRequest), sparse
}

// Report is the result of a run.
type Report struct {
	GoVersion, OS, Arch, CPU string
	CPUs                     int
	Phases                   []Phase
	// The engine alone, over EngineRequests requests of the run, one
	// goroutine.
	EngineRequests                int
	EngineMean, EngineP50, EngP99 time.Duration
	// The memory phase.
	Channels    int
	ChannelReqs int
	RSSPeak     uint64 // VmHWM over the phase, bytes
	RSSEnd      uint64 // VmRSS at its end
	// RSSEndAnon and RSSEndFile split RSSEnd: anonymous memory (the Go
	// heap, stacks, runtime) and file pages (the binary's code and data).
	RSSEndAnon, RSSEndFile uint64
	RSSStartupHWM          uint64 // VmHWM before the reset: start-up included (the KDF)
	// RSSIdle is VmRSS one second after the daemon attached to the node,
	// before any traffic: what an idle daemon keeps.
	RSSIdle uint64
	// RSSSampledMax is the largest VmRSS sampled every 50 ms during the
	// memory phase (VmHWM, reset at its start, starts from the RSS of
	// that moment, which may still hold start-up garbage).
	RSSSampledMax uint64
	// Pinned: daemon on CPU 1, load generator and emulator on CPU 0.
	Pinned bool
	// Verbose: Write lists the slowest requests of each phase.
	Verbose bool
	// Wrong answers or refusals seen (must be 0).
	Wrong, Refused int
}

// daemon is the running gl-signerd.
type daemon struct {
	cmd  *exec.Cmd
	done chan error
}

// Run does everything: emulator, init, register, run, the phases, and the
// shutdown. It removes what it made.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if cfg.Binary == "" {
		return nil, errors.New("bench: no gl-signerd binary")
	}
	if len(cfg.Rates) == 0 {
		cfg.Rates = []int{100, 1000}
	}
	if cfg.PhaseDuration == 0 {
		cfg.PhaseDuration = 10 * time.Second
	}
	if cfg.Workers == 0 {
		cfg.Workers = 64
	}
	if cfg.ScriptRequests == 0 {
		cfg.ScriptRequests = 50000
	}
	if cfg.GeneratorCPUs == 0 {
		cfg.GeneratorCPUs = 1
	}
	if cfg.Channels == 0 {
		cfg.Channels = 1000
	}
	if cfg.EngineSample == 0 {
		cfg.EngineSample = 20000
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	dir, err := os.MkdirTemp("", "gl-signerd-bench-")
	if err != nil {
		return nil, err
	}
	if cfg.KeepDir {
		fmt.Fprintf(out, "keeping %s (daemon.log, state)\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	gldir := filepath.Join(dir, "greenlight")
	if err := os.Mkdir(gldir, 0o700); err != nil {
		return nil, err
	}
	emu, err := glemu.Start(ctx, glemu.Options{Dir: gldir, AutoSchedule: true})
	if err != nil {
		return nil, err
	}
	defer emu.Close()

	state, pass := filepath.Join(dir, "state"), filepath.Join(dir, "passphrase")
	if err := os.WriteFile(pass, []byte("gl-signerd bench passphrase"), 0o600); err != nil {
		return nil, err
	}
	env := append(cleanEnv(), emu.Env()...)
	level := "warn"
	if cfg.KeepDir {
		level = "debug"
	}
	env = append(env, "GL_SIGNERD_LOG_LEVEL="+level, "GL_SIGNERD_LOG_FORMAT=json",
		// The load's payments and channels are the bench's own: auto-approved.
		"GL_SIGNERD_POLICY_AUTO_APPROVE_BELOW_MSAT=1000000000000", "GL_SIGNERD_POLICY_AUTO_APPROVE_CHANNELS_BELOW_SAT=2100000000000000")
	run := func(stdin io.Reader, args ...string) ([]byte, error) {
		c := exec.CommandContext(ctx, cfg.Binary, args...)
		c.Env = env
		c.Stdin = stdin
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		if err := c.Run(); err != nil {
			// The child's own "gl-signerd: " prefix would repeat the one
			// the bench command prints.
			msg := strings.ReplaceAll(strings.TrimSpace(e.String()), "gl-signerd: ", "")
			return nil, fmt.Errorf("the bench's \"gl-signerd %s\" failed (%v): %s", args[0], err, msg)
		}
		return o.Bytes(), nil
	}
	var oracle *signer.Engine
	var nodeID [33]byte
	if cfg.FastKDF {
		fmt.Fprintln(out, "setting up: a store with a cheap KDF, gl-signerd register and run against the emulator")
		oracle, nodeID, err = fastStore(state, pass)
	} else {
		fmt.Fprintln(out, "setting up: gl-signerd init, register and run against the emulator")
		var words string
		if oracle, nodeID, words, err = newSeed(); err == nil {
			_, err = run(strings.NewReader(words+"\n"), "init", "--recover", "--network", "regtest", "--state-dir", state, "--passphrase-file", pass)
		}
	}
	if err != nil {
		return nil, err
	}
	defer oracle.Wipe()
	if _, err := run(nil, "register", "--state-dir", state, "--passphrase-file", pass); err != nil {
		return nil, err
	}
	node := emu.Node(nodeID)
	if node == nil {
		return nil, errors.New("bench: the scheduler does not know the registered node")
	}
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	runArgs := []string{cfg.Binary, "run", "--state-dir", state, "--passphrase-file", pass}
	pinned := false
	if cfg.PinCPUs {
		if runtime.NumCPU() < 2 {
			return nil, errors.New("bench: pinning needs two CPUs")
		}
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("bench: pinning needs taskset: %w", err)
		}
		if out, err := exec.Command(ts, "-a", "-p", "-c", "0", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("bench: taskset: %v: %s", err, out)
		}
		runArgs = append([]string{ts, "-c", "1"}, runArgs...)
		pinned = true
	}
	d := &daemon{cmd: exec.Command(runArgs[0], runArgs[1:]...), done: make(chan error, 1)}
	d.cmd.Env, d.cmd.Stdout, d.cmd.Stderr = env, logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- d.cmd.Wait() }()
	defer func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case derr := <-d.done:
			if derr != nil && err == nil {
				err = fmt.Errorf("bench: gl-signerd run: %v", derr)
			}
		case <-time.After(15 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = node.WaitForSigner(wctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: the daemon did not attach: %w", err)
	}
	pid := d.cmd.Process.Pid
	time.Sleep(time.Second)
	idleRSS := procStatus(pid, "VmRSS")

	rep = &Report{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), CPU: cpuModel(), Pinned: pinned, Verbose: cfg.KeepDir, RSSIdle: idleRSS}
	rec := &recorder{max: cfg.EngineSample}
	// The memory phase's channels take dbids far above the replayed
	// scripts' (which forget some of theirs): a validating signer never
	// lets a dbid at or below a forgotten channel's be declared again.
	g, err := traffic.New(node.InitMsg(), rec.sender(node), traffic.Options{Seed: 42, Network: "regtest", FirstDBID: 1 << 20})
	if err != nil {
		return nil, err
	}
	if err := g.Boot(ctx); err != nil {
		return nil, err
	}

	// Rate phases and saturation, on Workers channels cycling through
	// lifecycles.
	body := liveLifecycles(g, cfg.GeneratorCPUs)
	if !cfg.Live {
		fmt.Fprintf(out, "recording: %d requests of channel lifecycles, answered by the engine in process and checked\n", cfg.ScriptRequests)
		scripts, err := recordScripts(ctx, oracle, node.InitMsg(), cfg.ScriptRequests)
		if err != nil {
			return rep, err
		}
		body = replayScripts(scripts, rec.sender(node))
	}
	pool := startWorkers(ctx, rec, cfg.Workers, body)
	defer pool.stop()
	pool.setRate(cfg.Rates[0])
	time.Sleep(time.Second) // warm-up: channels opening
	for _, rate := range append(append([]int(nil), cfg.Rates...), 0) {
		name := fmt.Sprintf("%d req/s", rate)
		if rate == 0 {
			name = "saturation"
		}
		fmt.Fprintf(out, "phase %s: %s\n", name, cfg.PhaseDuration)
		pool.setRate(rate)
		ph, err := measure(ctx, pid, rec, cfg.PhaseDuration, pool.failed)
		if err != nil {
			return rep, err
		}
		ph.Name, ph.TargetRate = name, rate
		rep.Phases = append(rep.Phases, ph)
	}
	if err := pool.stop(); err != nil {
		return rep, err
	}

	// The engine alone over the sampled requests.
	rep.EngineRequests, rep.EngineMean, rep.EngineP50, rep.EngP99 = timeEngine(ctx, oracle, rec.sampled())
	fmt.Fprintf(out, "engine alone: %d requests timed\n", rep.EngineRequests)

	// Memory with many channels.
	if cfg.Channels > 0 {
		rep.RSSStartupHWM = procStatus(pid, "VmHWM")
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			return rep, fmt.Errorf("bench: resetting the daemon's peak RSS: %w", err)
		}
		fmt.Fprintf(out, "phase memory: %d channels set up, exercised and left open\n", cfg.Channels)
		before := g.Stats().Sent
		sampled := make(chan uint64, 1)
		stopSampling := make(chan struct{})
		go func() {
			var top uint64
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				top = max(top, procStatus(pid, "VmRSS"))
				select {
				case <-t.C:
				case <-stopSampling:
					sampled <- max(top, procStatus(pid, "VmRSS"))
					return
				}
			}
		}()
		err := openChannels(ctx, g, cfg.Channels, 32)
		close(stopSampling)
		rep.RSSSampledMax = <-sampled
		if err != nil {
			return rep, err
		}
		rep.Channels = cfg.Channels
		rep.ChannelReqs = int(g.Stats().Sent - before)
		rep.RSSPeak = procStatus(pid, "VmHWM")
		rep.RSSEnd = procStatus(pid, "VmRSS")
		rep.RSSEndAnon, rep.RSSEndFile = procStatus(pid, "RssAnon"), procStatus(pid, "RssFile")
	}
	// Requests cut short when the workers stopped count as Failed; a
	// worker that failed otherwise already ended the run.
	s := g.Stats()
	rep.Wrong, rep.Refused = int(s.Wrong), int(s.Refused)
	if rep.Wrong > 0 || rep.Refused > 0 {
		return rep, fmt.Errorf("bench: %s", s)
	}
	return rep, nil
}

// fastStore writes a regtest store with a random secret and a cheap
// Argon2id (secretstore.WithKDFParams exists for tests and benchmarks) and
// returns the engine the daemon makes of it.
func fastStore(state, passFile string) (*signer.Engine, [33]byte, error) {
	var id [33]byte
	if err := secretstore.PrepareDir(state); err != nil {
		return nil, id, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, id, err
	}
	pass, err := os.ReadFile(passFile)
	if err != nil {
		return nil, id, err
	}
	seed := &secretstore.Seed{Type: secretstore.TypeGreenlight, Network: secretstore.Regtest, Secret: secret}
	defer seed.Wipe()
	if err := secretstore.Create(filepath.Join(state, secretstore.FileName), seed, pass,
		secretstore.WithKDFParams(secretstore.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})); err != nil {
		return nil, id, err
	}
	e, err := gldaemon.NewEngine(seed)
	if err != nil {
		return nil, id, err
	}
	return e, e.NodeID(), nil
}

// newSeed makes recovery words for a new regtest seed, to be given to
// gl-signerd init --recover as a user restoring a seed would, and returns
// the engine the daemon makes of that seed, as the bench's oracle.
func newSeed() (*signer.Engine, [33]byte, string, error) {
	var id [33]byte
	words, err := secretstore.NewMnemonic(12)
	if err != nil {
		return nil, id, "", err
	}
	seed, err := secretstore.GreenlightSeed(words, secretstore.Regtest)
	if err != nil {
		return nil, id, "", err
	}
	defer seed.Wipe()
	e, err := gldaemon.NewEngine(seed)
	if err != nil {
		return nil, id, "", err
	}
	return e, e.NodeID(), words, nil
}

// cleanEnv is the environment without gl-signerd or Greenlight settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GL_") && !strings.HasPrefix(kv, "STATE_DIRECTORY=") && !strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") {
			env = append(env, kv)
		}
	}
	return env
}

// recorder paces requests, measures their latency and samples them for
// the engine-only timing.
type recorder struct {
	max int

	mu      sync.Mutex
	lat     []time.Duration
	slow    []slowReq // the slowest few since the last take
	sample  []sampled
	seen    int
	pace    chan struct{} // nil: not paced
	changed chan struct{} // closed when pace changes
	counted atomic.Int64
}

type slowReq struct {
	lat  time.Duration
	at   time.Time
	name string
}

type sampled struct {
	c   signer.Client
	raw []byte
}

// computeTokens is a context value: the semaphore whose token the calling
// worker holds while it computes (see Config.GeneratorCPUs).
type computeTokens struct{}

func (r *recorder) sender(n *glemu.Node) traffic.Sender {
	return func(ctx context.Context, req traffic.Request) ([]byte, error) {
		// A worker gives its compute token back while it waits for a slot
		// and the answer. It keeps it for lightningd's own requests: the
		// generator sends those holding a lock that another worker may
		// wait for with a token in hand.
		if tokens, ok := ctx.Value(computeTokens{}).(chan struct{}); ok && req.Client != signer.MasterClient {
			<-tokens
			defer func() { tokens <- struct{}{} }()
		}
	wait:
		for {
			r.mu.Lock()
			pace, changed := r.pace, r.changed
			r.mu.Unlock()
			if pace == nil {
				break
			}
			select {
			case <-pace:
				break wait
			case <-changed: // a new rate: wait for its slots
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		t0 := time.Now()
		resp, err := n.Submit(ctx, &glpb.HsmRequest{Context: req.Context(), Raw: req.Raw})
		lat := time.Since(t0)
		r.mu.Lock()
		r.lat = append(r.lat, lat)
		if len(r.slow) < 5 || lat > r.slow[len(r.slow)-1].lat {
			r.slow = append(r.slow, slowReq{lat, t0, req.Name})
			sort.Slice(r.slow, func(i, j int) bool { return r.slow[i].lat > r.slow[j].lat })
			if len(r.slow) > 5 {
				r.slow = r.slow[:5]
			}
		}
		// Reservoir-free sampling: keep the first max requests after
		// boot, and then every 10th, replacing round-robin.
		r.seen++
		if len(r.sample) < r.max {
			r.sample = append(r.sample, sampled{req.Client, req.Raw})
		} else if r.seen%10 == 0 {
			r.sample[(r.seen/10)%r.max] = sampled{req.Client, req.Raw}
		}
		r.mu.Unlock()
		r.counted.Add(1)
		if err != nil {
			return nil, err
		}
		if resp.GetError() != "" {
			return nil, &traffic.RefusedError{Request: req.Name, Type: req.Type(), Reason: resp.GetError()}
		}
		return resp.GetRaw(), nil
	}
}

// take returns and forgets the latencies recorded since the last call,
// and the slowest requests.
func (r *recorder) take() ([]time.Duration, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lat
	r.lat = nil
	var slow []string
	for _, s := range r.slow {
		slow = append(slow, fmt.Sprintf("%s at %s: %s", us(s.lat), s.at.Format("15:04:05.000"), s.name))
	}
	r.slow = nil
	return l, slow
}

func (r *recorder) sampled() []sampled {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sampled(nil), r.sample...)
}

// workers run lifecycles on concurrent channels, paced by a shared pacer.
type workers struct {
	rec    *recorder
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	pacer  chan struct{} // closed to stop the pacer
	pwg    sync.WaitGroup
	once   sync.Once
}

// lifecycle is the i-th worker's j-th channel: workers start apart and
// their channels live for different numbers of payments, so that they do
// not open and close channels in step.
func lifecycle(i, j int) traffic.Lifecycle {
	return traffic.Lifecycle{
		Channel:  traffic.ChannelOptions{WeFund: (i+j)%2 == 0, Anchors: (i+j)%3 != 0, Announce: j%4 == 0},
		Payments: 4 + (i*7+j*3)%6, FeeUpdates: 1, Close: closes[(i+j)%len(closes)],
	}
}

// startWorkers runs n workers, the i-th calling body(ctx, i, j) for
// j = 0, 1, ... until the context ends or body fails.
func startWorkers(ctx context.Context, rec *recorder, n int, body func(ctx context.Context, i, j int) error) *workers {
	ctx, cancel := context.WithCancel(ctx)
	w := &workers{rec: rec, cancel: cancel}
	for i := 0; i < n; i++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			select {
			case <-time.After(time.Duration(i) * 15 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			for j := 0; ctx.Err() == nil; j++ {
				if err := body(ctx, i, j); err != nil {
					if ctx.Err() == nil {
						w.mu.Lock()
						if w.err == nil {
							w.err = err
						}
						w.mu.Unlock()
					}
					return
				}
			}
		}()
	}
	return w
}

// liveLifecycles is the body of live workers: whole lifecycles from the
// generator, at most computing of them building and checking at once
// (see Config.GeneratorCPUs).
func liveLifecycles(g *traffic.Generator, computing int) func(ctx context.Context, i, j int) error {
	tokens := make(chan struct{}, computing)
	return func(ctx context.Context, i, j int) error {
		ctx = context.WithValue(ctx, computeTokens{}, tokens)
		tokens <- struct{}{}
		defer func() { <-tokens }()
		_, err := g.RunLifecycle(ctx, lifecycle(i, j))
		return err
	}
}

// setRate paces the workers at rate requests per second (0: unpaced).
// Workers waiting for a slot switch to the new pacer; no burst is let
// through.
func (w *workers) setRate(rate int) {
	if w.pacer != nil {
		close(w.pacer)
		w.pwg.Wait()
		w.pacer = nil
	}
	var slots chan struct{}
	if rate > 0 {
		slots = make(chan struct{})
	}
	w.rec.mu.Lock()
	w.rec.pace = slots
	if w.rec.changed != nil {
		close(w.rec.changed)
	}
	w.rec.changed = make(chan struct{})
	w.rec.mu.Unlock()
	if rate <= 0 {
		return
	}
	stop := make(chan struct{})
	w.pacer = stop
	w.pwg.Add(1)
	go func() {
		defer w.pwg.Done()
		interval := time.Second / time.Duration(rate)
		next := time.Now()
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-stop:
				return
			case <-timer.C:
			}
			// One slot per interval; a slot nobody takes now waits
			// (a late worker does not get a burst).
			select {
			case slots <- struct{}{}:
			case <-stop:
				return
			}
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				timer.Reset(d)
			} else {
				next = time.Now()
				timer.Reset(0)
			}
		}
	}()
}

func (w *workers) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// stop ends the workers (their channels are left where they are).
func (w *workers) stop() error {
	w.once.Do(func() {
		w.setRate(0)
		w.cancel()
		w.wg.Wait()
	})
	return w.failed()
}

// measure records one phase.
func measure(ctx context.Context, pid int, rec *recorder, d time.Duration, failed func() error) (Phase, error) {
	_, _ = rec.take()
	cpu0 := procCPU(pid)
	t0 := time.Now()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return Phase{}, ctx.Err()
	}
	lat, slow := rec.take()
	took := time.Since(t0)
	cpu := procCPU(pid) - cpu0
	if err := failed(); err != nil {
		return Phase{}, err
	}
	ph := Phase{Requests: len(lat), Duration: took, Slowest: slow}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		ph.P50, ph.P90, ph.P99, ph.Max = pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1]
		over := len(lat) - sort.Search(len(lat), func(i int) bool { return lat[i] > time.Millisecond })
		ph.Over1ms = float64(over) / float64(len(lat))
		ph.CPUPerRequest = cpu / time.Duration(len(lat))
	}
	return ph, nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(p/100*float64(len(sorted))+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

// timeEngine answers the sampled requests with the engine alone.
func timeEngine(ctx context.Context, e *signer.Engine, reqs []sampled) (int, time.Duration, time.Duration, time.Duration) {
	if len(reqs) == 0 {
		return 0, 0, 0, 0
	}
	lat := make([]time.Duration, 0, len(reqs))
	var sum time.Duration
	for _, r := range reqs {
		t0 := time.Now()
		_, _ = e.Handle(ctx, r.c, r.raw)
		d := time.Since(t0)
		lat = append(lat, d)
		sum += d
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return len(reqs), sum / time.Duration(len(reqs)), pct(lat, 50), pct(lat, 99)
}

// openChannels sets up n channels, each with a payment each way, leaving
// them open, par at a time.
func openChannels(ctx context.Context, g *traffic.Generator, n, par int) error {
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			l := traffic.Lifecycle{Channel: traffic.ChannelOptions{WeFund: i%2 == 0, Anchors: i%3 != 0, Announce: i%2 == 0}, Payments: 2, Close: traffic.CloseNone}
			if _, err := g.RunLifecycle(ctx, l); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// procCPU is a process's user+system CPU time.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

// procStatus reads a "kB" field of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseUint(f[1], 10, 64)
				return v * 1024
			}
		}
	}
	return 0
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.Index(line, ":"); i > 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return "?"
}

// Write prints the report as a table.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s/%s, %s\n", r.CPUs, r.CPU, r.OS, r.Arch, r.GoVersion)
	if r.Pinned {
		fmt.Fprintln(w, "pinned: the daemon on CPU 1; the load generator and the emulator on CPU 0")
	}
	fmt.Fprintf(w, "%-12s %9s %9s %9s %9s %9s %9s %8s %12s\n", "phase", "requests", "req/s", "p50", "p90", "p99", "max", ">1ms", "daemon CPU/req")
	for _, p := range r.Phases {
		fmt.Fprintf(w, "%-12s %9d %9.0f %9s %9s %9s %9s %7.2f%% %12s\n", p.Name, p.Requests, p.Achieved(),
			us(p.P50), us(p.P90), us(p.P99), us(p.Max), 100*p.Over1ms, us(p.CPUPerRequest))
	}
	if r.Verbose {
		for _, p := range r.Phases {
			fmt.Fprintf(w, "slowest in %s:\n", p.Name)
			for _, s := range p.Slowest {
				fmt.Fprintf(w, "  %s\n", s)
			}
		}
	}
	if r.EngineRequests > 0 {
		fmt.Fprintf(w, "engine alone: %d requests of the run, mean %s, p50 %s, p99 %s\n", r.EngineRequests, us(r.EngineMean), us(r.EngineP50), us(r.EngP99))
		for _, p := range r.Phases {
			if p.P50 > 0 && r.EngineMean > 0 {
				fmt.Fprintf(w, "  %-12s p50 round trip = %.1f × engine mean; daemon CPU/request = %.1f × engine mean\n",
					p.Name, float64(p.P50)/float64(r.EngineMean), float64(p.CPUPerRequest)/float64(r.EngineMean))
			}
		}
	}
	if ratio, p := r.SparseCPURatio(); ratio > 0 {
		fmt.Fprintf(w, "sparse ÷ busy: daemon CPU/request at %s = %.1f × at saturation (target ≤ 2)\n", p.Name, ratio)
	}
	if r.RSSIdle > 0 {
		fmt.Fprintf(w, "idle: RSS %.1f MB one second after attaching, before any traffic\n", mb(r.RSSIdle))
	}
	if r.Channels > 0 {
		fmt.Fprintf(w, "memory: %d channels set up and exercised (%d requests): RSS sampled max %.1f MB, at the end %.1f MB (%.1f MB anonymous, %.1f MB file pages); VmHWM over the phase %.1f MB, since start-up (KDF included) %.1f MB\n",
			r.Channels, r.ChannelReqs, mb(r.RSSSampledMax), mb(r.RSSEnd), mb(r.RSSEndAnon), mb(r.RSSEndFile), mb(r.RSSPeak), mb(r.RSSStartupHWM))
	}
}

func us(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	}
	return fmt.Sprintf("%.2fms", float64(d)/1e6)
}

func mb(b uint64) float64 { return float64(b) / 1e6 }

// closes are the ways the load's channels end.
var closes = []traffic.CloseKind{traffic.CloseMutual, traffic.CloseForce, traffic.CloseRemote, traffic.CloseBreach}
