package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"gl-signerd/internal/audit"
	"gl-signerd/internal/control"
	"gl-signerd/internal/logging"
	"gl-signerd/internal/metrics"
	"gl-signerd/internal/signing"
	"gl-signerd/secretstore"
	"gl-signerd/streamer"
	schedpb "gl-signerd/streamer/pb/scheduler"
)

type runFlags struct {
	stateDir   string
	passFile   string
	configFile string
}

// Shutdown budget (systemd's TimeoutStopSec in deploy/ is 15 s; we aim
// for under 10): requests already received get drainTimeout to be
// answered, the whole stop takes at most stopTimeout.
const (
	drainTimeout = 5 * time.Second
	stopTimeout  = 8 * time.Second
)

func init() {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the signer: attach to the Greenlight node and answer its hsmd requests",
		Long: `Run the signer daemon. It unlocks the secret store (a wrong passphrase stops it
with exit code 3 before any network traffic), tells the scheduler its version
and start-up answers, waits for the node to be scheduled, and answers every
hsmd request on the node's stream, reconnecting with backoff when the stream
ends. Every decision is appended to <state-dir>/audit.log.

Only one gl-signerd may use a state directory (exit code 6 otherwise). The
control socket (control.socket, default <state-dir>/control.sock) answers
gl-signerd ctl; Prometheus metrics are served on metrics.listen if set.

SIGTERM or SIGINT (or gl-signerd ctl shutdown) stops it cleanly: no new
requests are taken, those in flight are answered, the audit log is synced, and
it exits 0. Under systemd (Type=notify) it reports READY, STOPPING and
watchdog pings.

Start-up failures give one message and an exit code: 3 secret store, 4
configuration, 5 scheduler unreachable or identity refused (wrong CA, a
device certificate of another node or expired), 6 state directory in use.
Once running, network failures are logged and retried with backoff.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDaemon(cmd, &f) },
	}
	addStateDirFlag(cmd, &f.stateDir)
	addPassphraseFileFlag(cmd, &f.passFile)
	addConfigFlags(cmd, &f.configFile)
	rootCmd.AddCommand(cmd)
}

func runDaemon(cmd *cobra.Command, f *runFlags) error {
	// Catch SIGINT/SIGTERM from the start: one that arrives while the store
	// is opened waits here and stops the daemon at the first point where
	// stopping is clean, instead of killing it half-started.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := secretstore.DisableCoreDumps(); err != nil {
		return err
	}
	stateDir, err := resolveStateDir(f.stateDir)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(cmd, stateDir, f.configFile)
	if err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return withExitCode(ExitConfig, err)
	}
	defer log.Sync()
	log.Info("gl-signerd starting", zap.String("version", versionString()), zap.Int("pid", os.Getpid()),
		zap.String("state_dir", stateDir), zap.Any("config", cfg.Flat()))

	// Local checks first, network last: nothing goes out before the
	// store is open and the identity checked.
	lock, err := lockStateDir(stateDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	seed, err := openSeed(stateDir, f.passFile)
	if err != nil {
		return err
	}
	network, err := seedNetwork(cfg, seed)
	if err != nil {
		seed.Wipe()
		return err
	}
	eng, err := newEngine(seed, network)
	seed.Wipe()
	if err != nil {
		return err
	}
	defer eng.Wipe()
	// Opening the store took a 256 MiB Argon2id buffer; hand it back to
	// the OS now rather than keep it resident for months.
	debug.FreeOSMemory()
	tuneGC(log)
	nodeID := eng.NodeID()
	streamLog := log.Named("streamer") // the streamer adds the node id itself
	log = log.With(zap.String("node_id", hex.EncodeToString(nodeID[:])))

	cert, key, device, err := loadDevice(stateDir, nodeID, time.Now())
	if err != nil {
		return err
	}
	ca, err := caPEM(cfg, stateDir)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return withExitCode(ExitConfig, errors.New("tls.ca_cert holds no PEM certificate; point it at the Greenlight CA (ca.pem)"))
	}
	tlsConf, err := streamer.ClientTLS(streamer.Credentials{CA: ca, Cert: cert, Key: key})
	if err != nil {
		return withExitCode(ExitNetwork, fmt.Errorf("the device identity in %s: %w; get a new one with gl-signerd recover", stateDir, err))
	}
	keepalive := streamer.Keepalive{Time: cfg.Streamer.Keepalive, Timeout: cfg.Streamer.KeepaliveTimeout}
	sched, err := streamer.DialScheduler(cfg.Scheduler.URI, tlsConf, keepalive)
	if err != nil {
		return withExitCode(ExitConfig, fmt.Errorf("scheduler.uri: %w", err))
	}
	defer sched.Close()

	auditLog, err := audit.Open(filepath.Join(stateDir, audit.FileName), audit.Options{
		SyncInterval: cfg.Audit.SyncInterval, MaxSize: int64(cfg.Audit.MaxSizeMB) << 20, Keep: int(cfg.Audit.Keep),
	})
	if err != nil {
		return err
	}
	auditClosed := false
	defer func() {
		if !auditClosed {
			auditLog.Close()
		}
	}()

	d := &daemon{
		log:          log,
		stateDir:     stateDir,
		nodeID:       nodeID,
		network:      network,
		device:       device,
		schedulerURI: cfg.Scheduler.URI,
		started:      time.Now(),
		audit:        auditLog,
		byType:       map[string]*TypeCounts{},
	}
	d.handler = signing.NewHandler(eng, signing.Options{Audit: auditLog, Observe: d.observe, Logger: log.Named("signing")})
	st, err := streamer.New(streamer.Config{
		NodeID:         nodeID,
		Scheduler:      sched,
		NodeTLS:        tlsConf,
		Handler:        d.handler,
		Logger:         streamLog,
		GitVersion:     "gl-signerd " + versionString(),
		BackoffInitial: cfg.Streamer.BackoffInitial,
		BackoffMax:     cfg.Streamer.BackoffMax,
		DrainTimeout:   drainTimeout,
		Keepalive:      keepalive,
	})
	if err != nil {
		return err
	}
	d.streamer = st

	// From here on, SIGINT/SIGTERM (also those caught during start-up)
	// and ctl shutdown stop the daemon cleanly.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	d.stop = func(reason string) { cancel(errors.New(reason)) }
	go func() {
		select {
		case s := <-sigs:
			d.stop("signal " + s.String())
		case <-ctx.Done():
		}
	}()

	if cfg.Metrics.Listen != "" {
		d.metrics = metrics.New(st.Stats, d.started)
		msrv, err := metrics.Listen(cfg.Metrics.Listen, d.metrics, log)
		if err != nil {
			return withExitCode(ExitConfig, fmt.Errorf("metrics.listen: %w", err))
		}
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), time.Second)
			defer scancel()
			_ = msrv.Shutdown(sctx)
		}()
		log.Info("serving metrics", zap.String("address", msrv.Addr().String()))
	}

	ln, err := control.Listen(cfg.Control.Socket)
	if err != nil {
		return err
	}
	csrv := control.NewServer(log.Named("control"))
	d.registerCommands(csrv)
	cctx, ccancel := context.WithCancel(context.Background())
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		_ = csrv.Serve(cctx, ln)
	}()
	defer func() {
		ccancel()
		csrv.Close()
		<-serveDone
	}()

	// First contact: the scheduler must be reachable and accept our
	// identity now; later failures are retried by the streamer.
	initMsg, startup, err := startupMessages(ctx, eng, network)
	if err != nil {
		return err
	}
	uctx, ucancel := context.WithTimeout(ctx, schedulerTimeout)
	res, err := sched.MaybeUpgrade(uctx, &schedpb.UpgradeRequest{
		SignerVersion: signerProto(), Initmsg: initMsg, Startupmsgs: startup,
	})
	ucancel()
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped during start-up", zap.Error(context.Cause(ctx)))
			return nil
		}
		return schedulerError(cfg.Scheduler.URI, "MaybeUpgrade", err)
	}
	log.Info("the scheduler has our signer version and start-up answers",
		zap.String("signer_version", signerProto()), zap.String("previous_version", res.GetOldVersion()))

	runCtx, runCancel := context.WithCancel(context.Background())
	defer runCancel()
	runErr := make(chan error, 1)
	go func() { runErr <- st.Run(runCtx) }()

	notify(log, sddaemon.SdNotifyReady+"\nSTATUS=waiting for the node")
	log.Info("gl-signerd is running", zap.String("network", network), zap.String("scheduler", cfg.Scheduler.URI),
		zap.String("device", device.CommonName), zap.String("control_socket", cfg.Control.Socket))

	var tick <-chan time.Time
	if wd, err := sddaemon.SdWatchdogEnabled(false); err == nil && wd > 0 {
		t := time.NewTicker(wd / 2)
		defer t.Stop()
		tick = t.C
	}
	var exitErr error
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping", zap.String("reason", context.Cause(ctx).Error()))
			break wait
		case err := <-runErr:
			runErr = nil
			var ie *streamer.IdentityError
			if errors.As(err, &ie) {
				log.Error("Greenlight refused our identity; stopping", zap.Error(err))
				exitErr = withExitCode(ExitNetwork, err)
			} else {
				log.Error("the connection to Greenlight stopped", zap.Error(err))
				exitErr = withExitCode(ExitFailure, fmt.Errorf("the connection to Greenlight stopped: %w", err))
			}
			break wait
		case <-tick:
			notify(log, "WATCHDOG=1\nSTATUS="+d.statusLine())
		}
	}

	notify(log, sddaemon.SdNotifyStopping)
	stopBy := time.Now().Add(stopTimeout)
	runCancel() // stop receiving; requests in flight are answered (drainTimeout)
	if runErr != nil {
		select {
		case <-runErr:
		case <-time.After(time.Until(stopBy)):
			log.Error("the connection to Greenlight did not stop in time; requests still in flight are abandoned (the node replays them)")
		}
	}
	auditClosed = true
	if err := auditLog.Close(); err != nil {
		log.Error("the audit log could not be completed", zap.Error(err))
		if exitErr == nil {
			exitErr = err
		}
	}
	s := d.status()
	log.Info("gl-signerd stopped", zap.Uint64("answered", s.Requests.Answered), zap.Uint64("refused", s.Requests.Refused),
		zap.Duration("uptime", time.Since(d.started).Round(time.Second)))
	return exitErr
}

// statusLine is the one-line state for systemd's STATUS=.
func (d *daemon) statusLine() string {
	s := d.status()
	line := s.Connection.State
	if s.Connection.NodeURI != "" && s.Connection.State == string(streamer.StateStreaming) {
		line += " " + s.Connection.NodeURI
	}
	if s.Signing.Paused {
		line = "PAUSED; " + line
	}
	return fmt.Sprintf("%s; %d answered, %d refused", line, s.Requests.Answered, s.Requests.Refused)
}

// The Go runtime's memory settings once the daemon has started (the
// Argon2id KDF, which needs 256 MiB, has run by then). A signer's live heap
// is small (a few MB with 1,000 channels) and it runs for months next to
// other programs, so it trades a little GC work for a small footprint:
// the heap may grow to 1.5× what is live rather than 2× (this kept the
// 1,000-channel RSS of gl-signerd bench at 32 MB instead of 36–41 MB, with
// no latency or CPU cost we could measure), and under the soft limit the
// runtime hands memory freed after a burst back to the OS at once instead
// of over minutes: at 32 MiB the same benchmark's RSS still ranged 32–43 MB
// (12–24 MB of it Go heap pages freed but kept); at 20 MiB, 31–35 MB in
// seven runs, with p99 and CPU per request unchanged. The live heap is a
// few MB and the caches are bounded (4,096 channels' keys), so the limit
// is far above what is live; an operator with other needs sets GOMEMLIMIT.
const (
	defaultGCPercent   = 50
	defaultMemoryLimit = 20 << 20
)

// tuneGC applies defaultGCPercent and defaultMemoryLimit unless GOGC or
// GOMEMLIMIT is set: an operator's own settings win.
func tuneGC(log *zap.Logger) {
	gogc, limit := os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT")
	if gogc == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if limit == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	log.Debug("Go memory settings", zap.Bool("gogc_from_environment", gogc != ""),
		zap.Bool("gomemlimit_from_environment", limit != ""), zap.Int64("memory_limit", debug.SetMemoryLimit(-1)))
}
