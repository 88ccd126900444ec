package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

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

A refused request is handled as CLN's hsmd handles a bad one: on a
subdaemon's connection, lightningd logs "hsmd: ... client <id> <reason>
(request <hex>)" as BROKEN, that connection is closed and the subdaemon
(channeld, ...) restarts; on lightningd's own connection, the signer exits
with status 242 and lightningd stops. See docs/self-hosted.md.

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
	fl.StringVar(&f.stateDir, "state-dir", os.Getenv("GL_SIGNERD_STATE_DIR"), "use this gl-signerd state directory's secret store instead of ./hsm_secret")
	fl.StringVar(&f.passFile, "passphrase-file", "",
		"with --state-dir: read the secret store passphrase from FILE (mode 0600); default: $CREDENTIALS_DIRECTORY/"+secretstore.CredentialName+" under systemd, else lightningd's hsm passphrase")
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
	if err := secretstore.DisableCoreDumps(); err != nil {
		return withExitCode(ExitFailure, err)
	}
	var open clnhsmd.Opener
	if f.stateDir != "" {
		dir, err := resolveStateDir(f.stateDir)
		if err != nil {
			return err
		}
		lock, err := daemon.LockStateDir(dir)
		if err != nil {
			return err
		}
		defer lock.Release()
		open = openStore(dir, f.passFile, mode)
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return withExitCode(ExitFailure, fmt.Errorf("cannot find the working directory, where hsm_secret is: %w", err))
		}
		open = func(init *hsmproto.Init, logf func(clnhsmd.LogLevel, string)) (clnhsmd.Handler, error) {
			return clnhsmd.OpenHSMSecret(wd, policyEngineOptions(mode, logf)...)(init, logf)
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
	defer stop()
	e := clnhsmd.Serve(ctx, clnhsmd.Config{
		MasterFD:  clnhsmd.MasterFD,
		StatusFD:  clnhsmd.StatusFD,
		Version:   f.clnVersion,
		Developer: f.developer,
		Open:      open,
	})
	if e.Code == 0 {
		return nil
	}
	return withExitCode(e.Code, errors.New(e.Reason))
}

// policyEngineOptions are the engine's policy options for --policy: under
// warn, each violation signed anyway is logged UNUSUAL to lightningd.
func policyEngineOptions(mode policy.Mode, logf func(clnhsmd.LogLevel, string)) []signer.Option {
	opts := []signer.Option{signer.WithPolicyMode(mode)}
	if mode == policy.ModeWarn {
		opts = append(opts, signer.WithPolicyReporter(func(c signer.Client, t uint16, v *policy.Violation) {
			logf(clnhsmd.LogUnusual, fmt.Sprintf("answered despite a policy violation (--policy warn): %s from %x (dbid %d): %s: %s",
				hsmproto.MessageName(t), c.PeerID[:], c.DBID, v.Tag, v.Reason))
		}))
	}
	return opts
}

// openStore is the Opener for a gl-signerd state directory: its secret
// store, unlocked with the passphrase file or systemd credential, else with
// the hsm passphrase lightningd sent in hsmd_init.
func openStore(dir, passFile string, mode policy.Mode) clnhsmd.Opener {
	return func(init *hsmproto.Init, logf func(clnhsmd.LogLevel, string)) (clnhsmd.Handler, error) {
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
		}, policyEngineOptions(mode, logf)...)
		return signer.NewEngine(seed.Secret, opts...)
	}
}
