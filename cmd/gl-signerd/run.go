package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"gl-signerd/internal/daemon"
	"gl-signerd/secretstore"
)

type runFlags struct {
	stateDir   string
	passFile   string
	configFile string
}

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
	// is opened waits and stops the daemon at the first point where
	// stopping is clean, instead of killing it half-started.
	ctx, stop := signalContext()
	defer stop()
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
	return daemon.Run(ctx, daemon.Options{
		StateDir: stateDir,
		Config:   cfg,
		Unlock:   func() (*secretstore.Seed, error) { return openSeed(stateDir, f.passFile) },
		Version:  versionString(),
		Log:      os.Stderr,
	})
}

// signalContext is a context that SIGINT or SIGTERM ends, with "signal
// NAME" as its cause.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			cancel(fmt.Errorf("signal %s", s))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}
