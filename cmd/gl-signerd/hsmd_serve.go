package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"gl-signerd/config"
	"gl-signerd/hsmproto"
	"gl-signerd/internal/clnhsmd"
	"gl-signerd/internal/daemon"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
)

// hsmdServeNames are the names under which the binary acts as `gl-signerd
// hsmd serve` (a symlink lightningd runs with its own argv).
var hsmdServeNames = map[string]bool{"gl-signerd-hsmd": true, "lightning_hsmd": true}

// commandLine returns the arguments to run: argv without the program name,
// or `hsmd serve ARGS` when the binary was started as gl-signerd-hsmd or
// lightning_hsmd.
func commandLine(argv []string) []string {
	if len(argv) > 0 && hsmdServeNames[filepath.Base(argv[0])] {
		return append([]string{"hsmd", "serve"}, argv[1:]...)
	}
	return argv[1:]
}

type hsmdServeFlags struct {
	policy     string
	clnVersion string
	version    bool
	stateDir   string
	passFile   string
	noState    bool
	developer  bool
	ignored    [3]bool // --log-io, --log-trace, --dev-debug-self
}

func init() {
	f := &hsmdServeFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Act as Core Lightning's hsmd subdaemon (a drop-in for self-hosted CLN)",
		Long: `Serve CLN ` + hsmproto.CLNVersion + `'s hsmd protocol as its hsmd subdaemon: lightningd starts
it with the status socket on fd 0 and its requests on fd 3, and every
subdaemon gets its own connection (hsmd_client_hsmfd, passed with SCM_RIGHTS).
Replies are byte for byte those of CLN's own hsmd.

lightningd runs the subdaemon path with its own arguments (--version,
--developer, --log-io, ...), so install gl-signerd under a name that makes it
act as "hsmd serve", or a wrapper script, and name that in lightningd's config:

  # a symlink: options then come from the environment of lightningd
  ln -s /usr/local/bin/gl-signerd /usr/local/libexec/gl-signerd-hsmd
  # or a wrapper script /usr/local/libexec/gl-signerd-hsmd:
  #   #!/bin/sh
  #   exec /usr/local/bin/gl-signerd hsmd serve --policy enforce "$@"

  # ~/.lightning/config
  subdaemon=hsmd:/usr/local/libexec/gl-signerd-hsmd

The secret: with no --state-dir (and no GL_SIGNERD_STATE_DIR), the hsm_secret
in the working directory (lightningd's network directory), exactly as CLN's
hsmd reads it: plain, passphrase-encrypted or mnemonic, the passphrase being
lightningd's (--hsm-passphrase); a new mnemonic hsm_secret is created when
there is none. With a state directory, its encrypted secret store, unlocked
with --passphrase-file, the systemd credential, or else lightningd's
hsm passphrase.

The state: as under Greenlight, the channel state store (state.db), the audit
log (audit.log, a line per decision, written before the answer) and the
control socket (control.sock: gl-signerd ctl status, channels, pause,
resume, shutdown) live in the state directory: --state-dir, or else
./gl-signerd beside hsm_secret (created, mode 0700). --no-state keeps none
of them (the stateless signer the benchmarks compare with CLN's hsmd).

  gl-signerd ctl --state-dir ~/.lightning/bitcoin/gl-signerd status

A refused request is handled as CLN's hsmd handles a bad one: on a
subdaemon's connection, lightningd logs "hsmd: ... client <id> <reason>
(request <hex>)" as BROKEN, that connection is closed and the subdaemon
(channeld, ...) restarts; on lightningd's own connection, the signer exits
with status 242 and lightningd stops. The policy's tag leads the reason;
ctl status shows the last refusal and audit.log every one. While paused
(gl-signerd ctl pause), requests that sign wait for ctl resume instead of
being refused. See docs/self-hosted.md.

--version prints the CLN version lightningd expects (` + hsmproto.CLNVersion + `; set
--cln-version or GL_SIGNERD_CLN_VERSION for another lightningd). SIGTERM
stops the signer cleanly (exit 0).`,
		Example: `  lightningd --subdaemon=hsmd:/usr/local/libexec/gl-signerd-hsmd
  gl-signerd hsmd serve --version`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.version {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), f.clnVersion)
				return err
			}
			return runHsmdServe(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.policy, "policy", "enforce", "what to do with a request the policy refuses: enforce (refuse it), warn (log and sign), off (answer as CLN's hsmd)")
	version := os.Getenv("GL_SIGNERD_CLN_VERSION")
	if version == "" {
		version = hsmproto.CLNVersion
	}
	fl.StringVar(&f.clnVersion, "cln-version", version, "the version string of the lightningd that runs this hsmd (status_version and --version)")
	fl.BoolVar(&f.version, "version", false, "print the CLN version lightningd expects from its hsmd, and exit")
	fl.StringVar(&f.stateDir, "state-dir", os.Getenv("GL_SIGNERD_STATE_DIR"), "a gl-signerd state directory (gl-signerd init): its secret store signs instead of ./hsm_secret, and it holds the state; default: ./"+hsmdStateDirName+" beside hsm_secret")
	fl.StringVar(&f.passFile, "passphrase-file", "",
		"with --state-dir: read the secret store passphrase from FILE (mode 0600); default: $CREDENTIALS_DIRECTORY/"+secretstore.CredentialName+" under systemd, else lightningd's hsm passphrase")
	fl.BoolVar(&f.noState, "no-state", false, "keep no state directory: no channel state, audit log or control socket (the stateless signer the benchmarks compare with CLN's hsmd)")
	fl.BoolVar(&f.developer, "developer", false, "set by a --developer lightningd: answer hsmd_dev_preinit and hsmd_dev_memleak")
	fl.BoolVar(&f.ignored[0], "log-io", false, "set by lightningd; ignored")
	fl.BoolVar(&f.ignored[1], "log-trace", false, "set by lightningd; ignored")
	fl.BoolVar(&f.ignored[2], "dev-debug-self", false, "set by lightningd; ignored")
	for _, n := range []string{"log-io", "log-trace", "dev-debug-self"} {
		fl.MarkHidden(n)
	}
	hsmdCmd.AddCommand(cmd)
}

func runHsmdServe(cmd *cobra.Command, f *hsmdServeFlags) error {
	mode, err := policy.ParseMode(f.policy)
	if err != nil || f.policy == "" {
		return usageErr("--policy %q is not one of enforce, warn, off", f.policy)
	}
	if f.noState && f.stateDir != "" {
		return usageErr("--no-state runs without a state directory, so it cannot be given with --state-dir (or GL_SIGNERD_STATE_DIR)")
	}
	if err := secretstore.DisableCoreDumps(); err != nil {
		return withExitCode(ExitFailure, err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return withExitCode(ExitFailure, fmt.Errorf("cannot find the working directory, where hsm_secret is: %w", err))
	}
	o := daemon.HsmdOptions{
		Policy:  mode,
		Version: version,
		Serve: clnhsmd.Config{
			MasterFD:  clnhsmd.MasterFD,
			StatusFD:  clnhsmd.StatusFD,
			Version:   f.clnVersion,
			Developer: f.developer,
		},
		Log: cmd.ErrOrStderr(),
	}
	switch {
	case f.stateDir != "":
		// A gl-signerd state directory: its secret store signs.
		if o.StateDir, err = resolveStateDir(f.stateDir); err != nil {
			return err
		}
		o.Open = openStore(o.StateDir, f.passFile)
	default:
		// lightningd's hsm_secret signs; the state lives beside it.
		o.Open = func(init *hsmproto.Init, logf func(clnhsmd.LogLevel, string), opts []signer.Option) (*signer.Engine, error) {
			return clnhsmd.OpenHSMSecret(wd, init, logf, opts...)
		}
		if !f.noState {
			o.StateDir = filepath.Join(wd, hsmdStateDirName)
			if err := os.Mkdir(o.StateDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return withExitCode(ExitFailure, fmt.Errorf("cannot create the state directory %s: %w", o.StateDir, err))
			}
		}
	}
	if o.StateDir != "" {
		if o.Config, err = config.Load(config.Options{StateDir: o.StateDir, Environ: hsmdEnviron()}); err != nil {
			return withExitCode(ExitConfig, err)
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
	defer stop()
	err = daemon.ServeHsmd(ctx, o)
	var e *clnhsmd.ExitError
	if errors.As(err, &e) {
		return withExitCode(e.Code, errors.New(e.Reason))
	}
	return err
}

// hsmdStateDirName is the state directory hsmd serve keeps beside
// lightningd's hsm_secret when no --state-dir is given.
const hsmdStateDirName = "gl-signerd"

// hsmdEnviron is the environment for config.Load without the variables
// that are hsmd serve's own flags (config.Load refuses unknown
// GL_SIGNERD_ ones).
func hsmdEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GL_SIGNERD_STATE_DIR=") && !strings.HasPrefix(kv, "GL_SIGNERD_CLN_VERSION=") {
			env = append(env, kv)
		}
	}
	return env
}

// openStore is the Opener for a gl-signerd state directory: its secret
// store, unlocked with the passphrase file or systemd credential, else with
// the hsm passphrase lightningd sent in hsmd_init.
func openStore(dir, passFile string) func(*hsmproto.Init, func(clnhsmd.LogLevel, string), []signer.Option) (*signer.Engine, error) {
	return func(init *hsmproto.Init, logf func(clnhsmd.LogLevel, string), extra []signer.Option) (*signer.Engine, error) {
		pass, _, err := secretstore.ReadPassphrase(secretstore.PassphraseOptions{
			File:           passFile,
			CredentialsDir: os.Getenv("CREDENTIALS_DIRECTORY"),
			What:           "secret store passphrase",
		})
		if errors.Is(err, secretstore.ErrNoPassphraseSource) && init.Tlvs.HsmPassphrase != nil {
			pass, err = []byte(*init.Tlvs.HsmPassphrase), nil
		}
		if err != nil {
			return nil, &clnhsmd.InitError{Code: clnhsmd.ErrCodePassphraseRequired,
				Message: "gl-signerd cannot unlock its secret store: " + err.Error() + " (give --passphrase-file, a systemd credential, or lightningd's --hsm-passphrase)"}
		}
		defer secretstore.Wipe(pass)
		seed, err := secretstore.Open(storePath(dir), pass)
		if errors.Is(err, secretstore.ErrWrongPassphrase) {
			return nil, &clnhsmd.InitError{Code: clnhsmd.ErrCodeWrongPassphrase, Message: "Failed to load hsm_secret: Wrong passphrase (gl-signerd's secret store)"}
		}
		if err != nil {
			return nil, &clnhsmd.InitError{Code: clnhsmd.ErrCodeInvalidFormat, Message: "gl-signerd cannot open its secret store: " + err.Error()}
		}
		defer seed.Wipe()
		if net := init.Chainparams.Network(); net != string(seed.Network) {
			return nil, &clnhsmd.InitError{Code: clnhsmd.ErrCodeInvalidFormat,
				Message: fmt.Sprintf("gl-signerd's secret store is for %s, but lightningd runs on %s", seed.Network, net)}
		}
		// Not daemon.NewEngine: that fixes the network and refuses
		// hsmd_init, which is lightningd's to send here.
		opts := append([]signer.Option{
			signer.WithSecretType(daemon.SecretType(seed)),
			signer.WithNetwork(string(seed.Network)),
		}, extra...)
		return signer.NewEngine(seed.Secret, opts...)
	}
}
