package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/replay"
)

type replayFlags struct {
	policy  string
	verbose bool
}

func init() {
	f := &replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay [--policy off] FILE.jsonl...",
		Short: "Replay hsmd vector files against the signing engine",
		Long: `Replay hsmd vector files (JSON Lines: a request, its client and CLN ` + hsmproto.CLNVersion + `'s
hsmd reply per line, the format of shared/vectors) and check that the engine
answers byte for byte as CLN's hsmd did.

Lines are grouped into signer instances by (secret, network, hsm_versions);
each instance is a fresh engine started with its hsmd_init, and its scenarios
are replayed in seq order on the client each line's context names. A line
passes when the engine's reply equals hsmd's, or when hsmd refused the request
and the engine refuses it too. A line with "expect": "reject" (policy vectors)
passes only when the engine refuses it: with --policy off, the only setting
until a policy layer exists, those lines fail and say why.

Each failure is shown with the fields that differ (decoded with the hsmd wire
codec; bytes when a reply does not decode). The output ends with the line
"N passed, M failed"; the exit code is 1 when any line failed.`,
		Example: `  gl-signerd replay ../shared/vectors/public.jsonl
  gl-signerd replay --policy off ../shared/vectors/policy/benign.jsonl`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("%s needs at least one vector file (JSON Lines), e.g. %s ../shared/vectors/public.jsonl", cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.policy != string(replay.PolicyOff) {
				return usageErr("--policy %q is not available: the only policy for now is \"off\" (answer as CLN's hsmd does; reject lines then fail)", f.policy)
			}
			return runReplay(cmd, f, args)
		},
	}
	cmd.Flags().StringVar(&f.policy, "policy", string(replay.PolicyOff), `policy layer to replay with; only "off" (CLN's hsmd behaviour) for now`)
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "also list the lines that pass")
	rootCmd.AddCommand(cmd)
}

func runReplay(cmd *cobra.Command, f *replayFlags, files []string) error {
	out := cmd.OutOrStdout()
	opts := replay.Options{Policy: replay.Policy(f.policy)}
	var total replay.Summary
	for _, file := range files {
		lines, err := replay.ReadFile(file)
		if err != nil {
			return withExitCode(ExitFailure, fmt.Errorf("reading vectors: %w", err))
		}
		sum, err := replay.Run(cmd.Context(), lines, opts, func(r replay.Result) {
			if !r.Pass || f.verbose {
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
	}
	switch {
	case total.NeedPolicy == 1:
		fmt.Fprintln(out, `note: 1 failure is an "expect": "reject" line the engine answered because the policy is off; such lines fail until a policy layer refuses them`)
	case total.NeedPolicy > 1:
		fmt.Fprintf(out, "note: %d failures are \"expect\": \"reject\" lines the engine answered because the policy is off; such lines fail until a policy layer refuses them\n", total.NeedPolicy)
	}
	fmt.Fprintf(out, "%d passed, %d failed\n", total.Passed, total.Failed)
	if total.Failed > 0 {
		return withExitCode(ExitFailure, fmt.Errorf("%d of %d lines did not match CLN's hsmd", total.Failed, total.Passed+total.Failed))
	}
	return nil
}
