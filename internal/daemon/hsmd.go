package daemon

// gl-signerd hsmd serve: the daemon in front of a self-hosted lightningd
// (package clnhsmd) instead of Greenlight's stream. It keeps what Run
// keeps: the state directory's lock, the channel state store, the policy,
// the audit log (written before each answer) and the control socket (ctl
// status, channels, pause, resume, shutdown).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"gl-signerd/config"
	"gl-signerd/hsmproto"
	"gl-signerd/internal/clnhsmd"
	"gl-signerd/internal/logging"
	"gl-signerd/internal/signing"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
)

// HsmdOptions is what ServeHsmd needs from the command line.
type HsmdOptions struct {
	// StateDir is the state directory, an absolute path: state.db,
	// audit.log, the control socket and the lock. "" serves without them
	// (hsmd serve --no-state): a stateless engine, nothing written.
	StateDir string
	// Config is StateDir's configuration (audit, control socket, log,
	// policy limits); nil is config.Default(StateDir).
	Config *config.Config
	// Policy is --policy; it takes the place of policy.mode.
	Policy policy.Mode
	// Serve says how to speak to lightningd; ServeHsmd sets its Open.
	Serve clnhsmd.Config
	// Open makes the engine when lightningd's hsmd_init arrives, with
	// opts (policy, state) after its own. Its *clnhsmd.InitError goes to
	// lightningd as hsmd_init_reply_failure.
	Open func(init *hsmproto.Init, logf func(clnhsmd.LogLevel, string), opts []signer.Option) (*signer.Engine, error)
	// Version is gl-signerd's version, for ctl status.
	Version string
	// Log receives the daemon's own log (os.Stderr if nil); lightningd's
	// log gets the status messages.
	Log io.Writer
}

// lateEngine is the engine made at hsmd_init, before which the control
// socket already answers.
type lateEngine struct{ atomic.Pointer[signer.Engine] }

func (l *lateEngine) Handle(ctx context.Context, c signer.Client, raw []byte) ([]byte, error) {
	return l.Load().Handle(ctx, c, raw)
}

// ServeHsmd answers lightningd as its hsmd until lightningd's connection
// closes, a fatal request, ctl shutdown, or ctx ends. It returns nil for a
// clean stop, a *clnhsmd.ExitError carrying the status CLN's hsmd would
// exit with, or an error with a Kind when the state directory cannot be
// used.
func ServeHsmd(ctx context.Context, o HsmdOptions) error {
	cfg := o.Config
	if cfg == nil {
		cfg = config.Default(o.StateDir)
	}
	cfg.Policy.Mode = string(o.Policy)
	w := o.Log
	if w == nil {
		w = os.Stderr
	}
	log, err := logging.New(w, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return withKind(Config, err)
	}
	defer log.Sync()
	log = log.Named("hsmd")

	var status func(clnhsmd.LogLevel, string) // lightningd's log, set at init
	policyOpts, err := policyOptions(cfg, log)
	if err != nil {
		return err
	}
	authLog := &authorizationLog{log: log.Named("authorization")} // to the audit log once open
	policyOpts = append(policyOpts, signer.WithAuthorizationReporter(authLog.report))
	if o.Policy == policy.ModeWarn || len(cfg.Policy.Warn) > 0 {
		// After policyOptions' reporter: the last one set is used.
		policyOpts = append(policyOpts, signer.WithPolicyReporter(func(c signer.Client, t uint16, v *policy.Violation) {
			status(clnhsmd.LogUnusual, fmt.Sprintf("answered despite a policy violation (--policy warn): %s from %x (dbid %d): %s: %s",
				hsmproto.MessageName(t), c.PeerID[:], c.DBID, v.Tag, v.Reason))
		}))
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	engine := &lateEngine{}
	defer func() {
		if e := engine.Load(); e != nil {
			e.Wipe()
		}
	}()
	serve := o.Serve
	var d *daemon
	if o.StateDir == "" {
		log.Warn("hsmd serve --no-state: no channel state, audit log or control socket; the policy's checks are the stateless ones")
		// A stateless engine never waits (nothing is committed), so one
		// thread serves every connection, as CLN's hsmd does. With state,
		// a request can wait for its commit to disk; then each client
		// has its own goroutine and commits of different channels are
		// grouped.
		serve.OneThread = true
	} else {
		lock, err := acquireStateDir(o.StateDir)
		if err != nil {
			return err
		}
		defer lock.Release()
		st, err := openState(o.StateDir)
		if err != nil {
			return err
		}
		defer st.Close()
		auditLog, err := openAudit(cfg, o.StateDir)
		if err != nil {
			return withKind(Failed, err)
		}
		authLog.audit.Store(auditLog)
		defer func() {
			if err := auditLog.Close(); err != nil {
				log.Error("the audit log could not be completed", zap.Error(err))
			}
		}()
		d = &daemon{
			log:      log,
			version:  o.Version,
			stateDir: o.StateDir,
			started:  time.Now(),
			audit:    auditLog,
			byType:   map[string]*TypeCounts{},
			state:    st,
			hsmd:     engine,
			stop:     func(reason string) { cancel(errors.New(reason)) },
		}
		d.handler = signing.NewHandler(engine, signing.Options{Audit: auditLog, Observe: d.observe, Logger: log.Named("signing")})
		stopControl, err := d.serveControl(cfg.Control.Socket)
		if err != nil {
			return err
		}
		defer stopControl()
		policyOpts = append(policyOpts, signer.WithState(st))
	}
	serve.Open = func(init *hsmproto.Init, logf func(clnhsmd.LogLevel, string)) (clnhsmd.Handler, error) {
		status = logf
		eng, err := o.Open(init, logf, policyOpts)
		if err != nil {
			return nil, err
		}
		engine.Store(eng)
		if d == nil {
			return eng, nil
		}
		id := eng.NodeID()
		d.log.Info("serving lightningd", zap.String("node_id", fmt.Sprintf("%x", id[:])), zap.String("network", eng.Network()),
			zap.String("policy", string(o.Policy)), zap.String("state", d.state.Path()), zap.String("control_socket", cfg.Control.Socket))
		return d.handler, nil
	}
	e := clnhsmd.Serve(ctx, serve)
	if d != nil {
		s := d.status()
		d.log.Info("hsmd stopped", zap.Uint64("answered", s.Requests.Answered), zap.Uint64("refused", s.Requests.Refused),
			zap.Duration("uptime", time.Since(d.started).Round(time.Second)))
	}
	if e.Code == 0 {
		return nil
	}
	return e
}
