package main

// gl-signerd emulator: a local Greenlight (internal/glemu) in the
// foreground, so that init, register, run and ctl can be tried by hand
// exactly as against Greenlight, from a second terminal that sources the
// exports printed here.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"gl-signerd/internal/glemu"
	"gl-signerd/internal/logging"
)

type emulatorFlags struct {
	listen string
	dir    string
}

// emulatorEnvFile is the file in the emulator's directory that holds the
// exports, for `. DIR/env`.
const emulatorEnvFile = "env"

func init() {
	var f emulatorFlags
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run a local Greenlight (scheduler and node) to try init, register, run and ctl by hand",
		Long: `Run the Greenlight emulator in the foreground: a scheduler and the nodes it
schedules, speaking Greenlight's gRPC API over mTLS on loopback, with their own
CA and developer ("nobody") identity written to --dir (ca.pem, nobody.crt,
nobody-key.pem).

It prints the exports a second terminal needs (GL_SCHEDULER_GRPC_URI,
GL_CA_CRT, GL_NOBODY_CRT, GL_NOBODY_KEY, and STATE_DIRECTORY pointing at a
signer state directory under --dir) and writes them to DIR/env too, so that

  . DIR/env
  gl-signerd init --network regtest
  gl-signerd register
  gl-signerd run
  gl-signerd ctl status        # from a third terminal, after . DIR/env

work as against Greenlight. A node is scheduled as soon as it registers. The
node runs no Lightning: it only holds the signer's stream, as Greenlight's
does while lightningd is idle (gl-signerd demo plays the node's traffic).

The emulator keeps nothing: each start makes a new CA and knows no node, so
after a restart start the signer over (remove DIR/signer). SIGINT or SIGTERM
stops it (exit 0). Without --dir, a temporary directory is used and removed
on exit, signer state included.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEmulator(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:0", "the scheduler's address, HOST:PORT on loopback (port 0: any free port)")
	fl.StringVar(&f.dir, "dir", "", "directory for the CA, the developer identity, the exports (env) and the signer's state (default: a temporary directory, removed on exit)")
	rootCmd.AddCommand(cmd)
}

func runEmulator(cmd *cobra.Command, f *emulatorFlags) error {
	if _, err := glemu.ListenAddr(f.listen); err != nil {
		return withExitCode(ExitUsage, err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, removeDir := f.dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "gl-signerd-emulator-")
		if err != nil {
			return fmt.Errorf("cannot make a directory for the emulator: %w", err)
		}
		dir, removeDir = d, true
		defer os.RemoveAll(d)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return withExitCode(ExitUsage, fmt.Errorf("--dir %s: %w", f.dir, err))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot make the emulator's directory: %w", err)
	}
	log, err := logging.New(os.Stderr, "info", "auto")
	if err != nil {
		return err
	}
	emu, err := glemu.Start(context.Background(), glemu.Options{Dir: dir, Listen: f.listen, Logger: log, AutoSchedule: true})
	if err != nil {
		return fmt.Errorf("cannot start the emulator: %w", err)
	}
	defer emu.Close()

	exports := emulatorExports(emu, filepath.Join(dir, "signer"))
	envPath := filepath.Join(dir, emulatorEnvFile)
	// Written whole, then renamed: whoever waits for the file reads all of it.
	if err := os.WriteFile(envPath+".tmp", []byte(exports), 0o600); err != nil {
		return fmt.Errorf("cannot write the exports to %s: %w", envPath, err)
	}
	if err := os.Rename(envPath+".tmp", envPath); err != nil {
		return fmt.Errorf("cannot write the exports to %s: %w", envPath, err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "# A local Greenlight: scheduler %s, files in %s.\n", emu.SchedulerURI(), dir)
	fmt.Fprintf(out, "# In another terminal, paste these lines or run: . %s\n", shellQuote(envPath))
	io.WriteString(out, exports)
	fmt.Fprintln(out, "# then: gl-signerd init --network regtest; gl-signerd register; gl-signerd run")
	fmt.Fprintln(out, "# and from a third terminal (after the same exports): gl-signerd ctl status")
	if removeDir {
		fmt.Fprintln(out, "# Ctrl-C stops the emulator and removes that directory, signer state included.")
	} else {
		fmt.Fprintln(out, "# Ctrl-C stops the emulator. It keeps nothing: after a restart, remove the signer's state and start over.")
	}
	if fl, ok := out.(interface{ Sync() error }); ok {
		_ = fl.Sync()
	}

	<-ctx.Done()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopping the emulator")
	return nil
}

// emulatorExports are the shell lines that point gl-signerd (and any
// Greenlight client) at emu, with the signer's state in stateDir.
func emulatorExports(emu *glemu.Emulator, stateDir string) string {
	var b strings.Builder
	for _, kv := range append(emu.Env(), "STATE_DIRECTORY="+stateDir) {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
