package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/replay"
)

type replayFlags struct {
	policy  string
	verbose bool
}

func init() {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay [--policy enforce|warn|off] FILE.jsonl...",
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

Each failure is shown with the fields that differ (decoded with the hsmd wire
codec; bytes when a reply does not decode). The output ends with the line
"N passed, M failed"; the exit code is 1 when any line failed.`,
		Example: `  gl-signerd replay --policy off ../shared/vectors/public.jsonl
  gl-signerd replay ../shared/vectors/policy/benign.jsonl`,
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
			return runReplay(cmd, f, args)
		},
	}
	cmd.Flags().StringVar(&f.policy, "policy", string(replay.PolicyEnforce), `policy mode: enforce (refuse), warn (sign and list violations) or off (CLN's hsmd behaviour)`)
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "also list the lines that pass")
	rootCmd.AddCommand(cmd)
}

func runReplay(cmd *cobra.Command, f *replayFlags, files []string) error {
	out := cmd.OutOrStdout()
	opts := replay.Options{Policy: replay.Policy(f.policy)}
	stateOptions, cleanup, err := stateStores()
	if err != nil {
		return withExitCode(ExitFailure, err)
	}
	defer cleanup()
	opts.EngineOptions = stateOptions
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
