package main

// gl-signerd demo: the whole daemon against an emulated Greenlight, on this
// machine, with a throw-away seed. The daemon part runs this very binary's
// init (--recover, with recovery words the demo makes), register and run
// commands as child processes (the code path a user runs, not a copy); the
// emulator (internal/glemu) and the traffic generator
// (internal/traffic) play Greenlight and the node.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/audit"
	"gl-signerd/internal/daemon"
	"gl-signerd/internal/glemu"
	"gl-signerd/internal/traffic"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
)

type demoFlags struct {
	channels int
	payments int
	keep     bool
	verbose  bool
}

func init() {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the signer against an emulated Greenlight on this machine, with a throw-away seed",
		Long: `Show the whole signer at work without an account or a network: demo makes a
throw-away seed and state directory, starts an emulated Greenlight (scheduler and
node, mTLS gRPC on loopback), runs gl-signerd init, register and run as a user
would, and then plays the node: channels opened, payments made and received,
fees updated, channels closed cooperatively and by force, the wallet spent,
the node moved to another address mid-traffic, payments the user's app asked
for (its Pay calls, signed with its device key and a rune from ctl rune
create, travel with the requests: approved by intent), the operator's side
of payments (one to a payee allowlisted with ctl allowlist add, one to an
unknown payee, with no call of the app behind it, declined until ctl
approve, then retried), and one request the signer must refuse. The
channels' own payments are also below the demo daemon's
policy.auto_approve_below_msat. Channels end every way: cooperative close, our force close with the
to_local sweep, the peer's force close (our output spent from the wallet), and
the peer broadcasting a revoked state (the penalty sweep). Every answer is
checked: signatures by the right keys, transactions run through a script
engine, and bytes equal to those of an engine rebuilt from the recovery
words.

It prints its progress and a summary, stops the daemon with SIGTERM, removes
everything it made, and exits 0 if every answer was right (1 otherwise).
Nothing outside this binary is needed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.channels, "channels", 4, "channels to open, ending in turn by cooperative close, force close, the peer's force close and the peer's breach (at least 2)")
	fl.IntVar(&f.payments, "payments", 6, "payments per channel")
	fl.BoolVar(&f.keep, "keep", false, "keep the temporary directory (state, logs) and print where it is")
	fl.BoolVar(&f.verbose, "verbose", false, "print every request")
	rootCmd.AddCommand(cmd)
}

// demoBudget bounds the whole demo.
const demoBudget = 90 * time.Second

type demo struct {
	out   io.Writer
	flags *demoFlags
	dir   string
	self  string
	emu   *glemu.Emulator
	env   []string
	state string
	pass  string

	daemon     *exec.Cmd
	daemonDone chan error
	daemonLog  *os.File

	lat      traffic.Latencies
	mu       sync.Mutex
	failures []string
}

func runDemo(cmd *cobra.Command, f *demoFlags) (err error) {
	if f.channels < 2 {
		return usageErr("--channels must be at least 2")
	}
	if f.payments < 1 {
		return usageErr("--payments must be at least 1")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(cmd.Context(), demoBudget)
	defer cancel()
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	d := &demo{out: cmd.OutOrStdout(), flags: f}
	if d.self, err = selfPath(); err != nil {
		return err
	}
	if d.dir, err = os.MkdirTemp("", "gl-signerd-demo-"); err != nil {
		return err
	}
	defer func() {
		if f.keep {
			fmt.Fprintf(d.out, "kept %s\n", d.dir)
			return
		}
		if rerr := os.RemoveAll(d.dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	defer d.stopDaemon() // on every path: no process is left behind

	fmt.Fprintln(d.out, "gl-signerd demo: a throw-away node on an emulated Greenlight, all on this machine")
	if err := d.setup(ctx); err != nil {
		return d.fail(err)
	}
	seedWords, nodeID, err := d.initSeed(ctx)
	if err != nil {
		return d.fail(err)
	}
	if err := d.register(ctx, nodeID); err != nil {
		return d.fail(err)
	}
	node, err := d.startDaemon(ctx, nodeID)
	if err != nil {
		return d.fail(err)
	}
	oracle, err := oracleEngine(seedWords)
	if err != nil {
		return d.fail(err)
	}
	defer oracle.Wipe()
	stats, err := d.traffic(ctx, node, oracle)
	if err != nil {
		return d.fail(err)
	}
	stopTook, code, err := d.stop()
	if err != nil {
		return d.fail(err)
	}
	emuStats := node.Stats()
	if err := d.emu.Close(); err != nil {
		return d.fail(err)
	}
	d.emu = nil

	fmt.Fprintf(d.out, "[5/5] stop: SIGTERM; the daemon drained and exited %d after %s\n", code, stopTook.Round(time.Millisecond))
	fmt.Fprintln(d.out, "summary")
	fmt.Fprintf(d.out, "  requests  %d signed, %d refused (expected), %d wrong\n", stats.Answered, stats.Refused, stats.Wrong)
	fmt.Fprintf(d.out, "  latency   p50 %s, p99 %s, max %s (node → signer → node over mTLS gRPC on loopback; requests held while the node moved included)\n",
		fmtDur(d.lat.Percentile(50)), fmtDur(d.lat.Percentile(99)), fmtDur(d.lat.Percentile(100)))
	fmt.Fprintf(d.out, "  node      %d requests answered exactly once (%d duplicates), %d streams, %d preemption\n",
		emuStats.Answered, emuStats.Duplicates, emuStats.Streams, emuStats.Preemptions)
	fmt.Fprintln(d.out, "  checks    every signature verified with its key, closes and sweeps run through a script engine,")
	fmt.Fprintln(d.out, "            every answer byte-equal to an engine rebuilt from the recovery words")
	fmt.Fprintf(d.out, "  took      %s; the daemon is stopped and the temporary directory removed\n", time.Since(start).Round(100*time.Millisecond))
	if stats.Wrong > 0 || stats.Failed > 0 || stats.Refused != 1 || emuStats.Duplicates > 0 || code != 0 {
		return d.fail(errors.New("some answers were wrong or missing (see above)"))
	}
	return nil
}

// fail prints the daemon's log tail and returns err.
func (d *demo) fail(err error) error {
	d.stopDaemon()
	if d.daemonLog != nil {
		if b, rerr := os.ReadFile(d.daemonLog.Name()); rerr == nil && len(b) > 0 {
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > 20 {
				lines = lines[len(lines)-20:]
			}
			fmt.Fprintln(d.out, "the daemon's last log lines:")
			for _, l := range lines {
				fmt.Fprintln(d.out, "  "+l)
			}
		}
	}
	if d.emu != nil {
		_ = d.emu.Close()
		d.emu = nil
	}
	return fmt.Errorf("demo: %w", err)
}

// selfPath is this binary, as a shell would find it.
func selfPath() (string, error) {
	p, err := exec.LookPath(os.Args[0])
	if err != nil {
		return "", fmt.Errorf("cannot find this binary (%s) to start the daemon: %w", os.Args[0], err)
	}
	return filepath.Abs(p)
}

func (d *demo) setup(ctx context.Context) error {
	gldir := filepath.Join(d.dir, "greenlight")
	if err := os.Mkdir(gldir, 0o700); err != nil {
		return err
	}
	var err error
	d.emu, err = glemu.Start(ctx, glemu.Options{Dir: gldir, AutoSchedule: true})
	if err != nil {
		return fmt.Errorf("starting the emulator: %w", err)
	}
	d.state = filepath.Join(d.dir, "state")
	d.pass = filepath.Join(d.dir, "passphrase")
	var p [16]byte
	if _, err := rand.Read(p[:]); err != nil {
		return err
	}
	if err := os.WriteFile(d.pass, []byte(hex.EncodeToString(p[:])), 0o600); err != nil {
		return err
	}
	// The daemon reads Greenlight's variables (scheduler, CA, nobody
	// identity) and nothing from the caller's gl-signerd settings.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GL_") && !strings.HasPrefix(kv, "STATE_DIRECTORY=") && !strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") {
			d.env = append(d.env, kv)
		}
	}
	d.env = append(d.env, d.emu.Env()...)
	d.env = append(d.env, "GL_SIGNERD_STREAMER_BACKOFF_INITIAL=50ms", "GL_SIGNERD_STREAMER_BACKOFF_MAX=1s", "GL_SIGNERD_LOG_FORMAT=json",
		// The channels' own payments are small: auto-approved. The
		// payment story (paymentStory) pays more.
		fmt.Sprintf("GL_SIGNERD_POLICY_AUTO_APPROVE_BELOW_MSAT=%d", demoAutoApproveMsat),
		// The channels it funds too (the traffic's are below 5,000,000 sat).
		"GL_SIGNERD_POLICY_AUTO_APPROVE_CHANNELS_BELOW_SAT=10000000")
	fmt.Fprintf(d.out, "  state directory  %s (removed at the end)\n", d.state)
	fmt.Fprintf(d.out, "  greenlight       emulated scheduler at %s\n", d.emu.SchedulerURI())
	return nil
}

// childMessage is what a gl-signerd child process wrote to stderr, without
// its "gl-signerd: " prefixes: the parent prints its own.
func childMessage(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "gl-signerd: ")
	}
	return strings.Join(lines, "\n")
}

// command runs one gl-signerd command to completion.
func (d *demo) command(ctx context.Context, args ...string) (stdout []byte, err error) {
	return d.commandWithInput(ctx, nil, args...)
}

// commandWithInput runs one gl-signerd command to completion with stdin.
func (d *demo) commandWithInput(ctx context.Context, stdin io.Reader, args ...string) (stdout []byte, err error) {
	c := exec.CommandContext(ctx, d.self, args...)
	c.Env = d.env
	c.Stdin = stdin
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Run(); err != nil {
		return nil, fmt.Errorf("the demo's \"gl-signerd %s\" failed (%v): %s", args[0], err, childMessage(errb.String()))
	}
	return out.Bytes(), nil
}

// initSeed makes new recovery words for a regtest seed and gives them to
// gl-signerd init --recover on stdin, as a user restoring a seed would.
// The words are kept (in memory) to rebuild the engine as an oracle; the
// node id is derived from them by the code init uses.
func (d *demo) initSeed(ctx context.Context) (string, [33]byte, error) {
	var id [33]byte
	words, err := secretstore.NewMnemonic(12)
	if err != nil {
		return "", id, err
	}
	seed, err := secretstore.GreenlightSeed(words, secretstore.Regtest)
	if err != nil {
		return "", id, err
	}
	id, err = daemon.NodeID(seed)
	seed.Wipe()
	if err != nil {
		return "", id, err
	}
	if _, err := d.commandWithInput(ctx, strings.NewReader(words+"\n"),
		"init", "--recover", "--network", "regtest", "--state-dir", d.state, "--passphrase-file", d.pass); err != nil {
		return "", id, err
	}
	fmt.Fprintf(d.out, "[1/5] init: a new seed (%d recovery words, kept in memory only), node id %x\n", len(strings.Fields(words)), id)
	return words, id, nil
}

func (d *demo) register(ctx context.Context, id [33]byte) error {
	if _, err := d.command(ctx, "register", "--state-dir", d.state, "--passphrase-file", d.pass); err != nil {
		return err
	}
	n := d.emu.Node(id)
	if n == nil {
		return errors.New("register succeeded but the scheduler does not know the node")
	}
	fmt.Fprintf(d.out, "[2/5] register: the scheduler signed a device certificate for /users/%x/default\n", id)
	return nil
}

// startDaemon starts gl-signerd run and waits until it is attached to the
// node.
func (d *demo) startDaemon(ctx context.Context, id [33]byte) (*glemu.Node, error) {
	var err error
	if d.daemonLog, err = os.Create(filepath.Join(d.dir, "daemon.log")); err != nil {
		return nil, err
	}
	c := exec.Command(d.self, "run", "--state-dir", d.state, "--passphrase-file", d.pass)
	c.Env = d.env
	c.Stdout, c.Stderr = d.daemonLog, d.daemonLog
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		return nil, err
	}
	d.daemon, d.daemonDone = c, make(chan error, 1)
	go func() { d.daemonDone <- c.Wait() }()

	node := d.emu.Node(id)
	if _, err := node.Schedule(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	attached := make(chan error, 1)
	go func() { attached <- node.WaitForSigner(wctx) }()
	select {
	case err := <-attached:
		if err != nil {
			return nil, fmt.Errorf("the daemon did not attach to the node: %w", err)
		}
	case err := <-d.daemonDone:
		d.daemonDone <- err
		return nil, fmt.Errorf("gl-signerd run exited before attaching: %v", err)
	}
	fmt.Fprintf(d.out, "[3/5] run: the daemon (pid %d) unlocked the seed and attached to the node at %s (%s)\n",
		c.Process.Pid, node.URI(), time.Since(t0).Round(time.Millisecond))
	return node, nil
}

// stop sends SIGTERM and waits for the daemon to exit.
func (d *demo) stop() (time.Duration, int, error) {
	t0 := time.Now()
	if err := d.daemon.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, 0, err
	}
	select {
	case err := <-d.daemonDone:
		d.daemon = nil
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return time.Since(t0), ee.ExitCode(), fmt.Errorf("gl-signerd run exited with code %d after SIGTERM", ee.ExitCode())
		}
		return time.Since(t0), 0, err
	case <-time.After(15 * time.Second):
		return 0, 0, errors.New("gl-signerd run did not stop within 15 s of SIGTERM")
	}
}

// stopDaemon kills a daemon still running (on failure paths).
func (d *demo) stopDaemon() {
	if d.daemon == nil {
		return
	}
	_ = d.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.daemonDone:
	case <-time.After(10 * time.Second):
		_ = d.daemon.Process.Kill()
		<-d.daemonDone
	}
	d.daemon = nil
}

// oracleEngine rebuilds the engine from the recovery words given to init,
// as the daemon builds it from the store.
func oracleEngine(words string) (*signer.Engine, error) {
	network, err := secretstore.ParseNetwork("regtest")
	if err != nil {
		return nil, err
	}
	seed, err := secretstore.GreenlightSeed(words, network)
	if err != nil {
		return nil, fmt.Errorf("the recovery words do not make a seed: %w", err)
	}
	defer seed.Wipe()
	return daemon.NewEngine(seed)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return d.Round(10 * time.Millisecond).String()
}

// channelPlans are the lifecycles the demo cycles through.
var channelPlans = []struct {
	desc string
	opts traffic.ChannelOptions
	end  traffic.CloseKind
}{
	{"we fund, anchors", traffic.ChannelOptions{WeFund: true, Anchors: true, Announce: true}, traffic.CloseMutual},
	{"peer funds, static_remotekey", traffic.ChannelOptions{}, traffic.CloseForce},
	{"we fund, static_remotekey", traffic.ChannelOptions{WeFund: true}, traffic.CloseRemote},
	{"peer funds, anchors", traffic.ChannelOptions{Anchors: true, Announce: true}, traffic.CloseBreach},
}

// traffic plays the node: boot, channels in parallel (with a preemption in
// the middle), on-chain wallet, peers, invoices, and one request the
// signer must refuse.
func (d *demo) traffic(ctx context.Context, node *glemu.Node, oracle *signer.Engine) (traffic.Stats, error) {
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return traffic.Stats{}, err
	}
	var answered sync.WaitGroup
	var preemptAt = int64(40 * d.flags.channels)
	var count int64
	answered.Add(1)
	var once sync.Once
	perChan := map[string]int{}
	var mu sync.Mutex
	observe := func(ev traffic.Event) {
		d.lat.Add(ev.Latency)
		mu.Lock()
		count++
		if i := strings.Index(ev.Request.Name, ": "); strings.HasPrefix(ev.Request.Name, "chan ") && i > 0 {
			perChan[ev.Request.Name[:i]]++
		}
		reached := count >= preemptAt
		mu.Unlock()
		if reached {
			once.Do(answered.Done)
		}
		if d.flags.verbose {
			d.printf("      %-60s %s %v\n", ev.Request.Name, fmtDur(ev.Latency), errText(ev.Err))
		}
		var re *traffic.RefusedError
		if ev.Err != nil && !errors.As(ev.Err, &re) {
			d.mu.Lock()
			d.failures = append(d.failures, ev.Err.Error())
			d.mu.Unlock()
		}
	}
	fmt.Fprintln(d.out, "[4/5] traffic: lightningd, its subdaemons and the channel peers")
	app, err := d.userApp(ctx)
	if err != nil {
		return traffic.Stats{}, err
	}
	g, err := traffic.New(node.InitMsg(), traffic.NodeSender(node), traffic.Options{
		Seed:   uint64(seed[0]) | uint64(seed[1])<<8 | uint64(seed[2])<<16 | uint64(seed[3])<<24,
		Oracle: traffic.EngineSender(oracle), Observe: observe, Network: "regtest",
		UserCall: app.Caller(node),
	})
	if err != nil {
		return traffic.Stats{}, err
	}
	if err := g.Boot(ctx); err != nil {
		return g.Stats(), err
	}
	d.printf("      boot: derived secrets and the node announcement (%d requests)\n", g.Stats().Sent)

	// The node is preempted and moved while the channels are busy.
	preempted := make(chan string, 1)
	go func() {
		defer close(preempted)
		wait := make(chan struct{})
		go func() { answered.Wait(); close(wait) }()
		select {
		case <-wait:
		case <-ctx.Done():
			once.Do(answered.Done)
			return
		}
		t0 := time.Now()
		streams := node.Stats().Streams
		uri, err := node.Reschedule()
		if err != nil {
			preempted <- "preemption failed: " + err.Error()
			return
		}
		// The signer has followed when it opens a new stream; checked
		// every 10 ms.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for node.Stats().Streams == streams {
			select {
			case <-tick.C:
			case <-ctx.Done():
				preempted <- "the signer did not follow the node: " + ctx.Err().Error()
				return
			}
		}
		d.printf("      the node was preempted and moved to %s; the signer followed in %s, pending requests replayed\n",
			uri, time.Since(t0).Round(time.Millisecond))
	}()

	var wg sync.WaitGroup
	errs := make(chan error, d.flags.channels)
	for i := 0; i < d.flags.channels; i++ {
		plan := channelPlans[i%len(channelPlans)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: plan.opts, Payments: d.flags.payments, FeeUpdates: 1, Close: plan.end})
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			n := perChan[fmt.Sprintf("chan %d", ch.DBID())]
			mu.Unlock()
			l, r := ch.Commitments()
			d.printf("      channel %d (%s): opened, %d payments, %d commitments each side, %s (%d requests)\n",
				ch.DBID(), plan.desc, ch.Payments(), max(l, r), plan.end, n)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return g.Stats(), err
		}
	}
	once.Do(answered.Done)
	if msg, ok := <-preempted; ok {
		return g.Stats(), errors.New(msg)
	}

	for i := 0; i < 3; i++ {
		if err := g.ECDH(ctx); err != nil {
			return g.Stats(), err
		}
	}
	if err := g.Invoice(ctx, 25_000_000); err != nil {
		return g.Stats(), err
	}
	n, err := g.Withdraw(ctx, 20)
	if err != nil {
		return g.Stats(), err
	}
	d.printf("      wallet: %d outputs (funding change, closes, sweeps) spent to a new address; 3 peer handshakes; 1 invoice\n", n)

	if err := d.paymentStory(ctx, g); err != nil {
		return g.Stats(), err
	}

	_, err = g.Send(ctx, "hsmd_sign_message from the node", signer.MasterClient,
		(&hsmproto.SignMessage{Msg: []byte("sign this scheduler challenge")}).Encode())
	var re *traffic.RefusedError
	if !errors.As(err, &re) {
		return g.Stats(), fmt.Errorf("hsmd_sign_message from the node was not refused (%v)", err)
	}
	d.printf("      hsmd_sign_message from the node: refused, as it must be (%s)\n", firstClause(re.Reason))
	s := g.Stats()
	if len(d.failures) > 0 {
		for _, f := range d.failures {
			d.printf("      WRONG: %s\n", f)
		}
	}
	return s, nil
}

func (d *demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// firstClause shortens a refusal to its first clause.
func firstClause(s string) string {
	if i := strings.Index(s, ":"); i > 0 {
		return s[:i]
	}
	return s
}

// demoAutoApproveMsat is the demo daemon's policy.auto_approve_below_msat:
// above every payment of the channels' traffic (at most 210,000 sat),
// below the payment story's.
const demoAutoApproveMsat = 250_000_000

// storyPaymentMsat is the amount of the payment story's payments.
const storyPaymentMsat = 500_000_000

// paymentsByIntent counts the payments the daemon's audit log says the
// user's own calls authorized.
func (d *demo) paymentsByIntent() (int, error) {
	log, err := os.ReadFile(filepath.Join(d.state, "audit.log"))
	if err != nil {
		return 0, fmt.Errorf("reading the daemon's audit log: %w", err)
	}
	n := 0
	for _, line := range bytes.Split(log, []byte("\n")) {
		var ev audit.Event
		if json.Unmarshal(line, &ev) == nil && ev.Event == "authorized" && ev.Kind == "payment" && ev.By == "intent" {
			n++
		}
	}
	return n, nil
}

// paymentStory shows the operator's side of payments: one to a payee the
// operator allowlisted (ctl allowlist add) is approved; one to an unknown
// payee is declined (approved=false, as hsmd declines a payment) and
// becomes a pending approval; the operator approves it (ctl approve) and
// the node's retry of the same payment is approved.
func (d *demo) paymentStory(ctx context.Context, g *traffic.Generator) error {
	byIntent, err := d.paymentsByIntent()
	if err != nil {
		return err
	}
	if byIntent == 0 {
		return errors.New("no payment of the traffic was authorized by the app's own Pay calls (intents), says the audit log")
	}
	d.printf("      %d payments the app asked for (its signed Pay calls): approved by intent (audit log: \"by\":\"intent\")\n", byIntent)

	known := g.NewPayee()
	id := known.ID()
	entry := "payee:" + hex.EncodeToString(id[:])
	if _, err := d.command(ctx, "ctl", "--state-dir", d.state, "allowlist", "add", entry); err != nil {
		return fmt.Errorf("ctl allowlist add: %w", err)
	}
	if err := g.PreapproveInvoice(ctx, "preapprove_invoice to an allowlisted payee", g.PayeeInvoice(known, storyPaymentMsat)); err != nil {
		return fmt.Errorf("a payment to an allowlisted payee: %w", err)
	}
	d.printf("      payment of %d sat to a payee the operator allowlisted (ctl allowlist add payee:%x…): approved\n", storyPaymentMsat/1000, id[:4])

	inv := g.PayeeInvoice(g.NewPayee(), storyPaymentMsat)
	if err := g.PreapproveInvoice(ctx, "preapprove_invoice to an unknown payee", inv); !errors.Is(err, traffic.ErrDeclined) {
		return fmt.Errorf("a payment to an unknown payee was not declined (%v)", err)
	}
	raw, err := d.command(ctx, "ctl", "--state-dir", d.state, "approvals", "--json")
	if err != nil {
		return fmt.Errorf("ctl approvals: %w", err)
	}
	var approvals []signer.ApprovalInfo
	if err := json.Unmarshal(raw, &approvals); err != nil || len(approvals) != 1 || approvals[0].Status != "pending" {
		return fmt.Errorf("ctl approvals --json after a declined payment: %s (%v)", raw, err)
	}
	num := strconv.FormatUint(approvals[0].ID, 10)
	d.printf("      payment of %d sat to an unknown payee: declined (%s), approval %s pending (ctl approvals)\n", storyPaymentMsat/1000, policy.TagPaymentApproved, num)
	out, err := d.command(ctx, "ctl", "--state-dir", d.state, "approve", num)
	if err != nil {
		return fmt.Errorf("ctl approve %s: %w", num, err)
	}
	if !strings.Contains(string(out), "approved") {
		return fmt.Errorf("ctl approve %s said %q", num, out)
	}
	if err := g.PreapproveInvoice(ctx, "preapprove_invoice to an unknown payee, retried", inv); err != nil {
		return fmt.Errorf("the retry of an approved payment: %w", err)
	}
	d.printf("      the operator approved it (ctl approve %s); the node's retry of the same payment: approved\n", num)
	return nil
}

// userApp is the user's application on the emulated Greenlight: a device
// key, and a rune for it from gl-signerd ctl rune create; the payments and
// invoices of the traffic carry its signed calls.
func (d *demo) userApp(ctx context.Context) (*glemu.Device, error) {
	app, err := glemu.NewDevice()
	if err != nil {
		return nil, err
	}
	out, err := d.command(ctx, "ctl", "rune", "create", "--json", "--state-dir", d.state, "--restriction", app.PubkeyRestriction())
	if err != nil {
		return nil, err
	}
	var r daemon.RuneInfo
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("ctl rune create printed %q: %w", out, err)
	}
	if err := app.SetRune(r.Rune); err != nil {
		return nil, err
	}
	d.printf("      app: a device key and rune %d (ctl rune create); its Pay, Invoice and FundChannel calls travel with the requests\n", r.ID)
	return app, nil
}
