package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"gl-signerd/config"
	"gl-signerd/hsmproto"
	"gl-signerd/internal/daemon"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/replay"
)

type replayFlags struct {
	policy  string
	config  string
	verbose bool
}

func init() {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay [--policy enforce|warn|off] [--config FILE] FILE.jsonl...",
		Short: "Replay hsmd vector files against the signing engine",
		Long: `Replay hsmd vector files (JSON Lines: a request, its client and CLN ` + hsmproto.CLNVersion + `'s
hsmd reply per line, the format of shared/vectors) and check that the engine
answers byte for byte as CLN's hsmd did.

Lines are grouped into signer instances by (secret, network, hsm_versions);
each instance is a fresh engine started with its hsmd_init, and its scenarios
are replayed in seq order on the client each line's context names. A line
passes when the engine's reply equals hsmd's, or when hsmd refused the request
and the engine refuses it too. A line with "expect": "reject" (policy vectors)
passes only when the engine refuses it.

--policy says what the engine's policy checks do (the setting policy.mode of
gl-signerd run): enforce (the default) refuses what they refuse, warn signs
anyway and lists each violation under its line, off answers exactly as CLN's
hsmd does. CLN's own vectors sign malformed announcements on purpose: replay
them with --policy off.

--config FILE replays with the policy settings of a configuration file (the
[policy] table: limits, warn list, allowlist, auto-approval, velocity limits;
its network, if set; its mode unless --policy is given). Without it the
defaults apply: every payment then needs an allowlisted payee, as the policy
vectors' README says; deploy/examples/policy-vectors.toml lists their payees.

Each failure is shown with the fields that differ (decoded with the hsmd wire
codec; bytes when a reply does not decode). The output ends with the line
"N passed, M failed"; the exit code is 1 when any line failed.`,
		Example: `  gl-signerd replay --policy off ../shared/vectors/public.jsonl
  gl-signerd replay --config deploy/examples/policy-vectors.toml ../shared/vectors/policy/benign.jsonl`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("%s needs at least one vector file (JSON Lines), e.g. %s ../shared/vectors/public.jsonl", cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := policy.ParseMode(f.policy); err != nil || f.policy == "" {
				return usageErr("--policy %q is not one of enforce, warn or off", f.policy)
			}
			var settings []signer.Option
			if f.config != "" {
				var err error
				if settings, err = replaySettings(cmd, f); err != nil {
					return err
				}
			}
			return runReplay(cmd, f, args, settings)
		},
	}
	cmd.Flags().StringVar(&f.policy, "policy", string(replay.PolicyEnforce), `policy mode: enforce (refuse), warn (sign and list violations) or off (CLN's hsmd behaviour)`)
	cmd.Flags().StringVar(&f.config, "config", "", "replay with the policy settings of this configuration file")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "also list the lines that pass")
	rootCmd.AddCommand(cmd)
}

// replaySettings reads --config: the engine options of its policy
// settings, and its mode unless --policy was given.
func replaySettings(cmd *cobra.Command, f *replayFlags) ([]signer.Option, error) {
	cfg, err := config.Load(config.Options{File: f.config, Environ: []string{}})
	if err != nil {
		return nil, withExitCode(ExitConfig, err)
	}
	if !cmd.Flags().Changed("policy") {
		f.policy = cfg.Policy.Mode
	}
	opts := daemon.PolicySettings(cfg)
	if cfg.Network != "" {
		opts = append(opts, signer.WithNetwork(cfg.Network))
	}
	return opts, nil
}

func runReplay(cmd *cobra.Command, f *replayFlags, files []string, settings []signer.Option) error {
	out := cmd.OutOrStdout()
	opts := replay.Options{Policy: replay.Policy(f.policy)}
	stateOptions, cleanup, err := stateStores()
	if err != nil {
		return withExitCode(ExitFailure, err)
	}
	defer cleanup()
	opts.EngineOptions = func() ([]signer.Option, error) {
		o, err := stateOptions()
		return append(o, settings...), err
	}
	var total replay.Summary
	for _, file := range files {
		lines, err := replay.ReadFile(file)
		if err != nil {
			return withExitCode(ExitFailure, fmt.Errorf("reading vectors: %w", err))
		}
		sum, err := replay.Run(cmd.Context(), lines, opts, func(r replay.Result) {
			if !r.Pass || f.verbose || r.Line.Expect == replay.ExpectReject {
				io.WriteString(out, r.Explain())
			}
		})
		if err != nil {
			return withExitCode(ExitFailure, fmt.Errorf("replaying %s: %w", file, err))
		}
		if len(files) > 1 {
			fmt.Fprintf(out, "%s: %d passed, %d failed\n", file, sum.Passed, sum.Failed)
		}
		total.Passed += sum.Passed
		total.Failed += sum.Failed
		total.NeedPolicy += sum.NeedPolicy
		total.Warned += sum.Warned
		total.Rejects += sum.Rejects
		total.RejectsRefused += sum.RejectsRefused
	}
	why := "the policy is off"
	if f.policy != string(replay.PolicyOff) {
		why = "the policy does not check them yet"
	}
	switch {
	case total.NeedPolicy == 1:
		fmt.Fprintf(out, "note: 1 failure is an \"expect\": \"reject\" line the engine answered: %s\n", why)
	case total.NeedPolicy > 1:
		fmt.Fprintf(out, "note: %d failures are \"expect\": \"reject\" lines the engine answered: %s\n", total.NeedPolicy, why)
	}
	if total.Warned > 0 {
		fmt.Fprintf(out, "warn: %d lines were signed despite a policy violation\n", total.Warned)
	}
	if total.Rejects > 0 {
		fmt.Fprintf(out, "%d of %d \"expect\": \"reject\" lines refused as expected\n", total.RejectsRefused, total.Rejects)
	}
	fmt.Fprintf(out, "%d passed, %d failed\n", total.Passed, total.Failed)
	if total.Failed > 0 {
		return withExitCode(ExitFailure, fmt.Errorf("%d of %d lines did not match CLN's hsmd", total.Failed, total.Passed+total.Failed))
	}
	return nil
}
