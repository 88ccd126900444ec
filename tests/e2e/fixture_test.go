package e2e

// The fault tests' fixture: the gl-signerd binary built once (TestMain,
// internal/testbin), a
// registered node on the emulator with a fast-KDF store, daemons started
// and killed as subprocesses, and traffic from internal/traffic checked
// against an in-process engine with the same seed.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gl-signerd/internal/glemu"
	"gl-signerd/internal/testbin"
	"gl-signerd/internal/traffic"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
	"gl-signerd/signer/keys"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// sharedBin is the real binary, built once for every package that runs
// it (internal/testbin).
var sharedBin string

func TestMain(m *testing.M) {
	bin, err := testbin.Path()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedBin = bin
	os.Exit(m.Run())
}

// fixture is one registered node and its state directory.
type fixture struct {
	t      *testing.T
	emu    *glemu.Emulator
	dir    string
	state  string
	passF  string
	env    []string
	secret []byte
	nodeID [33]byte
	node   *glemu.Node
	oracle *signer.Engine
}

// fastKDF: the store is made here with a cheap Argon2id, recorded in its
// header, so that the many daemon starts of these tests take milliseconds
// (secretstore.WithKDFParams exists for this). Everything else is the
// real binary's code path.
var fastKDF = secretstore.WithKDFParams(secretstore.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})

// newFixture starts an emulator, makes a seed and registers the node with
// the real binary. env adds settings (GL_SIGNERD_...) for every command.
func newFixture(t *testing.T, opts glemu.Options, env ...string) *fixture {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	return newFixtureSeed(t, secret, "regtest", opts, env...)
}

// newFixtureSeed is newFixture for a given 32-byte secret and network.
func newFixtureSeed(t *testing.T, secret []byte, network string, opts glemu.Options, env ...string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir()}
	gldir := filepath.Join(f.dir, "greenlight")
	if err := os.Mkdir(gldir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts.Dir = gldir
	opts.AutoSchedule = true
	emu, err := glemu.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	f.emu = emu
	t.Cleanup(func() { emu.Close() })

	f.state = filepath.Join(f.dir, "state")
	if err := secretstore.PrepareDir(f.state); err != nil {
		t.Fatal(err)
	}
	f.secret = append([]byte(nil), secret...)
	pass := make([]byte, 16)
	rand.Read(pass)
	f.passF = filepath.Join(f.dir, "passphrase")
	if err := os.WriteFile(f.passF, []byte(hex.EncodeToString(pass)), 0o600); err != nil {
		t.Fatal(err)
	}
	nw, err := secretstore.ParseNetwork(network)
	if err != nil {
		t.Fatal(err)
	}
	seed := &secretstore.Seed{Type: secretstore.TypeGreenlight, Network: nw, Secret: append([]byte(nil), f.secret...)}
	if err := secretstore.Create(filepath.Join(f.state, secretstore.FileName), seed, []byte(hex.EncodeToString(pass)), fastKDF); err != nil {
		t.Fatal(err)
	}
	version, _ := signer.BIP32VersionFor(network)
	f.oracle, err = signer.NewEngine(f.secret, signer.WithSecretType(keys.SecretType(secretstore.TypeGreenlight.CLNType())),
		signer.WithBIP32Version(version), signer.WithNetwork(network))
	if err != nil {
		t.Fatal(err)
	}
	f.nodeID = f.oracle.NodeID()
	home := filepath.Join(f.dir, "home")
	os.Mkdir(home, 0o700)
	f.env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + os.TempDir(), "GL_SIGNERD_LOG_FORMAT=json",
		// The generated payments and channels (and the policy vectors')
		// are the test's own: auto-approved.
		"GL_SIGNERD_POLICY_AUTO_APPROVE_BELOW_MSAT=1000000000000", "GL_SIGNERD_POLICY_AUTO_APPROVE_CHANNELS_BELOW_SAT=2100000000000000"}, emu.Env()...)
	f.env = append(f.env, env...)
	if out, code := f.runCmd("register", "--state-dir", f.state, "--passphrase-file", f.passF); code != 0 {
		t.Fatalf("register: exit %d\n%s", code, out)
	}
	if f.node = emu.Node(f.nodeID); f.node == nil {
		t.Fatal("the emulator does not know the registered node")
	}
	return f
}

// runCmd runs the binary to completion; it returns the combined output
// and the exit code.
func (f *fixture) runCmd(args ...string) (string, int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sharedBin, args...)
	cmd.Env = f.env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	f.t.Fatalf("gl-signerd %s: %v", args[0], err)
	return "", 0
}

// proc is a running `gl-signerd run`.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	code int
	log  string
}

// start runs the daemon with env added. It does not wait for it to attach.
func (f *fixture) start(env ...string) *proc {
	f.t.Helper()
	cmd := exec.Command(sharedBin, "run", "--state-dir", f.state, "--passphrase-file", f.passF)
	cmd.Env = append(append([]string(nil), f.env...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.CreateTemp(f.dir, "run-*.log")
	if err != nil {
		f.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: logf.Name()}
	go func() {
		err := cmd.Wait()
		logf.Close()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = -int(ws.Signal())
			}
		} else if err != nil {
			p.code = -1000
		}
		close(p.done)
	}()
	f.t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and returns the exit code (-1 after within).
func (p *proc) stop(within time.Duration) int {
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(within)
}

func (p *proc) wait(within time.Duration) int {
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		return -1
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// attached waits until the node has more than after streams.
func (f *fixture) attached(p *proc, after int, within time.Duration) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- f.node.WaitForStream(ctx, after) }()
	select {
	case err := <-errc:
		if err != nil {
			f.t.Fatalf("the daemon did not attach within %s:\n%s", within, p.logTail())
		}
	case <-p.done:
		f.t.Fatalf("the daemon exited (%d) before attaching:\n%s", p.code, p.logTail())
	}
}

// acked records the request ids the node received an answer for.
type acked struct {
	mu  sync.Mutex
	ids map[uint32]bool
}

// sender is NodeSender, remembering the ids of answered requests.
func (f *fixture) sender(a *acked) traffic.Sender {
	return func(ctx context.Context, r traffic.Request) ([]byte, error) {
		resp, err := f.node.Submit(ctx, &glpb.HsmRequest{Context: r.Context(), Raw: r.Raw})
		if err != nil {
			return nil, err
		}
		if a != nil {
			a.mu.Lock()
			if a.ids == nil {
				a.ids = make(map[uint32]bool)
			}
			a.ids[resp.GetRequestId()] = resp.GetError() == ""
			a.mu.Unlock()
		}
		if resp.GetError() != "" {
			return nil, &traffic.RefusedError{Request: r.Name, Type: r.Type(), Reason: resp.GetError()}
		}
		return resp.GetRaw(), nil
	}
}

// generator is a traffic generator for the fixture's node, with the
// in-process engine as oracle.
func (f *fixture) generator(seed uint64, a *acked) *traffic.Generator {
	f.t.Helper()
	g, err := traffic.New(f.node.InitMsg(), f.sender(a), traffic.Options{
		Seed: seed, Oracle: traffic.EngineSender(f.oracle), Network: "regtest",
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

// load runs channel lifecycles on workers goroutines until stop is
// closed; each worker finishes its current lifecycle first.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
	done atomic.Int64 // lifecycles completed
}

func startLoad(ctx context.Context, g *traffic.Generator, workers, payments int) *load {
	l := &load{stop: make(chan struct{})}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				lc := traffic.Lifecycle{
					Channel:  traffic.ChannelOptions{WeFund: (w+i)%2 == 0, Anchors: (w+i)%3 != 0, Announce: i%4 == 0},
					Payments: payments, FeeUpdates: i % 2, Close: closes[(w+i)%len(closes)],
				}
				if _, err := g.RunLifecycle(ctx, lc); err != nil {
					l.mu.Lock()
					if l.err == nil {
						l.err = err
					}
					l.mu.Unlock()
					return
				}
				l.done.Add(1)
			}
		}()
	}
	return l
}

// finish stops the load and returns its first error.
func (l *load) finish() error {
	close(l.stop)
	l.wg.Wait()
	return l.err
}

func (l *load) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// waitProgress waits until the generator has sent n more requests than
// from, or the load failed.
func waitProgress(t *testing.T, g *traffic.Generator, l *load, from uint64, n uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for g.Stats().Sent < from+n {
		if err := l.failed(); err != nil {
			t.Fatalf("traffic failed: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no traffic progress within %s (%d requests sent)", within, g.Stats().Sent)
		}
		<-tick.C
	}
}

// checkClean fails unless every request was answered, once, correctly.
func checkClean(t *testing.T, g *traffic.Generator, ns glemu.NodeStats) {
	t.Helper()
	s := g.Stats()
	if s.Wrong != 0 || s.Refused != 0 || s.Failed != 0 || s.Answered != s.Sent {
		t.Errorf("generator: %v", s)
	}
	if ns.Pending != 0 || ns.Abandoned != 0 || ns.Unknown != 0 || ns.DuplicatesDiffering != 0 ||
		ns.Answered != ns.Submitted {
		t.Errorf("node: %+v", ns)
	}
}

// tcpProxy relays TCP connections to target; while down it accepts and
// closes them at once (a scheduler whose process is gone behind a load
// balancer), counting the attempts.
type tcpProxy struct {
	ln       net.Listener
	target   string
	down     atomic.Bool
	attempts atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

func newProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.attempts.Add(1)
		if p.down.Load() {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(c, up)
		go pipe(up, c)
	}
}

// setDown switches the proxy; going down drops every relayed connection.
func (p *tcpProxy) setDown(down bool) {
	p.down.Store(down)
	if !down {
		return
	}
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// closes are the ways the load's channels end.
var closes = []traffic.CloseKind{traffic.CloseMutual, traffic.CloseForce, traffic.CloseRemote, traffic.CloseBreach}
