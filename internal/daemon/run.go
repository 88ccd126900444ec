package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"gl-signerd/config"
	"gl-signerd/internal/audit"
	"gl-signerd/internal/control"
	"gl-signerd/internal/logging"
	"gl-signerd/internal/metrics"
	"gl-signerd/internal/signing"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
	"gl-signerd/signer/intent"
	"gl-signerd/streamer"
	schedpb "gl-signerd/streamer/pb/scheduler"
)

// Shutdown budget (systemd's TimeoutStopSec in deploy/ is 15 s; we aim
// for under 10): requests already received get drainTimeout to be
// answered, the whole stop takes at most stopTimeout.
const (
	drainTimeout = 5 * time.Second
	stopTimeout  = 8 * time.Second
)

// Options is what Run needs from the command line.
type Options struct {
	// StateDir is the state directory, an absolute path.
	StateDir string
	// Config is the loaded configuration.
	Config *config.Config
	// Unlock opens the secret store. Run calls it once the state
	// directory is locked; its errors are returned as they are.
	Unlock func() (*secretstore.Seed, error)
	// Version is gl-signerd's version, for the logs, the scheduler and
	// the status.
	Version string
	// Log receives the daemon's log (os.Stderr if nil).
	Log io.Writer
}

// Run is the daemon: it unlocks the secret store, checks the device
// identity, tells the scheduler its start-up answers and answers the
// node's requests until ctx ends (its cause is logged as the reason), the
// control command "shutdown" arrives, or Greenlight refuses our identity.
// Local checks come first and the network last: nothing goes out before
// the store is open and the identity checked. A clean stop returns nil;
// errors carry a Kind.
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	w := o.Log
	if w == nil {
		w = os.Stderr
	}
	log, err := logging.New(w, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return withKind(Config, err)
	}
	defer log.Sync()
	log.Info("gl-signerd starting", zap.String("version", o.Version), zap.Int("pid", os.Getpid()),
		zap.String("state_dir", o.StateDir), zap.Any("config", cfg.Flat()))

	lock, err := LockStateDir(o.StateDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	removeLeftovers(log, o.StateDir)
	stateStore, err := openState(o.StateDir)
	if err != nil {
		return err
	}
	defer stateStore.Close()
	policyOpts, err := policyOptions(cfg, log)
	if err != nil {
		return err
	}
	authLog := &authorizationLog{log: log.Named("authorization")}
	policyOpts = append(policyOpts, signer.WithAuthorizationReporter(authLog.report))
	events := &eventLog{}
	var intents *intent.Source
	withIntents := func(seed *secretstore.Seed, network string) ([]signer.Option, error) {
		var err error
		intents, err = newIntentSource(cfg, seed, network, stateStore, log, events)
		return []signer.Option{signer.WithIntentSource(intents)}, err
	}
	engineOpts, err := floorEngineOptions(append(policyOpts, signer.WithState(stateStore)))
	if err != nil {
		return withKind(Config, err)
	}
	eng, network, err := unlockEngine(cfg, o.Unlock, withIntents, engineOpts...)
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

	id, err := loadIdentity(cfg, o.StateDir, nodeID, time.Now())
	if err != nil {
		return err
	}
	keepalive := streamer.Keepalive{Time: cfg.Streamer.Keepalive, Timeout: cfg.Streamer.KeepaliveTimeout}
	sched, err := streamer.DialScheduler(cfg.Scheduler.URI, id.tls, keepalive)
	if err != nil {
		return withKind(Config, fmt.Errorf("scheduler.uri: %w", err))
	}
	defer sched.Close()
	auditLog, err := openAudit(cfg, o.StateDir)
	if err != nil {
		return err
	}
	authLog.audit.Store(auditLog)
	events.log.Store(auditLog)
	auditClosed := false
	defer func() {
		if !auditClosed {
			auditLog.Close()
		}
	}()

	// From here on, ctx's end (a signal, also one caught during start-up)
	// and ctl shutdown stop the daemon cleanly.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	d := &daemon{
		log:          log,
		version:      o.Version,
		stateDir:     o.StateDir,
		nodeID:       nodeID,
		network:      network,
		device:       id.device,
		schedulerURI: cfg.Scheduler.URI,
		started:      time.Now(),
		audit:        auditLog,
		byType:       map[string]*TypeCounts{},
		state:        stateStore,
		engine:       eng,
		intents:      intents,
		events:       events,
		stop:         func(reason string) { cancel(errors.New(reason)) },
	}
	d.handler = signing.NewHandler(eng, signing.Options{Audit: auditLog, Observe: d.observe, Logger: log.Named("signing")})
	st, err := streamer.New(streamer.Config{
		NodeID:         nodeID,
		Scheduler:      sched,
		NodeTLS:        id.tls,
		Handler:        floorHandler(d.handler, eng, stateStore),
		Logger:         streamLog,
		GitVersion:     "gl-signerd " + o.Version,
		BackoffInitial: cfg.Streamer.BackoffInitial,
		BackoffMax:     cfg.Streamer.BackoffMax,
		DrainTimeout:   drainTimeout,
		Keepalive:      keepalive,
	})
	if err != nil {
		return err
	}
	d.streamer = st

	stopMetrics, err := d.serveMetrics(cfg.Metrics.Listen)
	if err != nil {
		return err
	}
	defer stopMetrics()
	stopControl, err := d.serveControl(cfg.Control.Socket)
	if err != nil {
		return err
	}
	defer stopControl()

	if err := d.firstContact(ctx, sched, eng); err != nil {
		if ctx.Err() != nil {
			log.Info("stopped during start-up", zap.Error(context.Cause(ctx)))
			return nil
		}
		return err
	}

	exitErr := d.serve(ctx, st, cfg.Control.Socket)
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

// unlockEngine opens the secret store with unlock and builds the signing
// engine for it; the seed is wiped before it returns.
func unlockEngine(cfg *config.Config, unlock func() (*secretstore.Seed, error), seedOpts func(*secretstore.Seed, string) ([]signer.Option, error), opts ...signer.Option) (*signer.Engine, string, error) {
	seed, err := unlock()
	if err != nil {
		return nil, "", err
	}
	defer seed.Wipe()
	network, err := seedNetwork(cfg, seed)
	if err != nil {
		return nil, "", err
	}
	if seedOpts != nil {
		more, err := seedOpts(seed, network)
		if err != nil {
			return nil, "", err
		}
		opts = append(opts, more...)
	}
	eng, err := NewEngine(seed, opts...)
	if err != nil {
		return nil, "", err
	}
	return eng, network, nil
}

// serve answers the node's requests until ctx ends or the streamer
// stops, telling systemd READY and then STOPPING, and lets the requests in
// flight be answered (drainTimeout, within stopTimeout). It returns the
// error Run ends with.
func (d *daemon) serve(ctx context.Context, st *streamer.Streamer, controlSocket string) error {
	runCtx, runCancel := context.WithCancel(context.Background())
	defer runCancel()
	runErr := make(chan error, 1)
	go func() { runErr <- st.Run(runCtx) }()
	notify(d.log, sddaemon.SdNotifyReady+"\nSTATUS=waiting for the node")
	d.log.Info("gl-signerd is running", zap.String("network", d.network), zap.String("scheduler", d.schedulerURI),
		zap.String("device", d.device.CommonName), zap.String("control_socket", controlSocket))

	exitErr, running := d.wait(ctx, runErr)
	notify(d.log, sddaemon.SdNotifyStopping)
	runCancel() // stop receiving; requests in flight are answered (drainTimeout)
	if running {
		select {
		case <-runErr:
		case <-time.After(stopTimeout):
			d.log.Error("the connection to Greenlight did not stop in time; requests still in flight are abandoned (the node replays them)")
		}
	}
	return exitErr
}

// openAudit opens the audit log of stateDir with the configured sync
// interval and rotation.
func openAudit(cfg *config.Config, stateDir string) (*audit.Log, error) {
	return audit.Open(filepath.Join(stateDir, audit.FileName), audit.Options{
		SyncInterval: cfg.Audit.SyncInterval, MaxSize: int64(cfg.Audit.MaxSizeMB) << 20, Keep: int(cfg.Audit.Keep),
	})
}

// identity is the device identity the daemon reaches Greenlight with.
type identity struct {
	tls    *tls.Config
	device streamer.CertInfo
}

// loadIdentity reads the device certificate and key of stateDir, checks
// they belong to nodeID and are valid at now, and makes the mTLS
// configuration with the Greenlight CA.
func loadIdentity(cfg *config.Config, stateDir string, nodeID [33]byte, now time.Time) (identity, error) {
	cert, key, device, err := loadDevice(stateDir, nodeID, now)
	if err != nil {
		return identity{}, err
	}
	ca, err := caPEM(cfg, stateDir)
	if err != nil {
		return identity{}, err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return identity{}, withKind(Config, errors.New("tls.ca_cert holds no PEM certificate; point it at the Greenlight CA (ca.pem)"))
	}
	tlsConf, err := streamer.ClientTLS(streamer.Credentials{CA: ca, Cert: cert, Key: key})
	if err != nil {
		return identity{}, withKind(Network, fmt.Errorf("the device identity in %s: %w; get a new one with gl-signerd recover", stateDir, err))
	}
	return identity{tls: tlsConf, device: device}, nil
}

// serveMetrics serves Prometheus metrics on listen, if set; the function
// it returns stops serving.
func (d *daemon) serveMetrics(listen string) (stop func(), err error) {
	if listen == "" {
		return func() {}, nil
	}
	d.metrics = metrics.New(d.streamer.Stats, d.started)
	if d.state != nil {
		registerStateMetrics(d.metrics.Registry(), d.state)
	}
	msrv, err := metrics.Listen(listen, d.metrics, d.log)
	if err != nil {
		return nil, withKind(Config, fmt.Errorf("metrics.listen: %w", err))
	}
	d.log.Info("serving metrics", zap.String("address", msrv.Addr().String()))
	return func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		defer scancel()
		_ = msrv.Shutdown(sctx)
	}, nil
}

// serveControl answers gl-signerd ctl on socket; the function it returns
// stops serving.
func (d *daemon) serveControl(socket string) (stop func(), err error) {
	ln, err := control.Listen(socket)
	if err != nil {
		return nil, err
	}
	csrv := control.NewServer(d.log.Named("control"))
	d.registerCommands(csrv)
	cctx, ccancel := context.WithCancel(context.Background())
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		_ = csrv.Serve(cctx, ln)
	}()
	return func() {
		ccancel()
		csrv.Close()
		<-serveDone
	}, nil
}

// firstContact gives the scheduler our signer version and start-up
// answers: it must be reachable and accept our identity now; later
// failures are retried by the streamer.
func (d *daemon) firstContact(ctx context.Context, sched *streamer.SchedulerClient, eng *signer.Engine) error {
	initMsg, startup, err := startupMessages(ctx, eng, d.network)
	if err != nil {
		return err
	}
	uctx, ucancel := context.WithTimeout(ctx, schedulerTimeout)
	defer ucancel()
	res, err := sched.MaybeUpgrade(uctx, &schedpb.UpgradeRequest{
		SignerVersion: signerProto(), Initmsg: initMsg, Startupmsgs: startup,
	})
	if err != nil {
		return schedulerError(d.schedulerURI, "MaybeUpgrade", err)
	}
	d.log.Info("the scheduler has our signer version and start-up answers",
		zap.String("signer_version", signerProto()), zap.String("previous_version", res.GetOldVersion()))
	return nil
}

// wait runs until ctx ends or the streamer stops (runErr), pinging the
// systemd watchdog meanwhile. It returns the error Run ends with, and
// whether the streamer is still running.
func (d *daemon) wait(ctx context.Context, runErr <-chan error) (exitErr error, running bool) {
	var tick <-chan time.Time
	if wd, err := sddaemon.SdWatchdogEnabled(false); err == nil && wd > 0 {
		t := time.NewTicker(wd / 2)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping", zap.String("reason", context.Cause(ctx).Error()))
			return nil, true
		case err := <-runErr:
			var ie *streamer.IdentityError
			if errors.As(err, &ie) {
				d.log.Error("Greenlight refused our identity; stopping", zap.Error(err))
				return withKind(Network, err), false
			}
			d.log.Error("the connection to Greenlight stopped", zap.Error(err))
			return withKind(Failed, fmt.Errorf("the connection to Greenlight stopped: %w", err)), false
		case <-tick:
			notify(d.log, "WATCHDOG=1\nSTATUS="+d.statusLine())
		}
	}
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
