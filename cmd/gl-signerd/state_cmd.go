package main

// gl-signerd ctl channels and ctl unfreeze, and the state store's lines in
// ctl status.

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"gl-signerd/internal/daemon"
)

func printStateStatus(w io.Writer, s *daemon.StateInfo, now time.Time) {
	if s == nil {
		return
	}
	last := "never"
	if s.LastCommit != nil {
		last = now.Sub(*s.LastCommit).Round(time.Second).String() + " ago"
	}
	fmt.Fprintf(w, "state:        %s (%d bytes, %d channels; last commit %s; %d changes in %d commits since start)\n",
		s.Path, s.SizeBytes, s.Channels, last, s.Changes, s.Commits)
	if s.Restored > 0 {
		fmt.Fprintf(w, "restored:     %d records rebuilt from the node's signed copy of the state\n", s.Restored)
	}
	keys := make([]string, 0, len(s.Frozen))
	for k := range s.Frozen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "FROZEN:       %s: %s\n", k, s.Frozen[k])
	}
}

func printChannels(w io.Writer, chs []daemon.ChannelInfo) {
	if len(chs) == 0 {
		fmt.Fprintln(w, "no channels")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tDBID\tSTATE\tCAPACITY\tOURS\tTHEIRS\tHTLCS\tCOMMITMENTS (OURS/THEIRS)\tSECRETS")
	sat := func(v *uint64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(*v)
	}
	for _, c := range chs {
		capacity := "-"
		if c.CapacitySat != 0 {
			capacity = fmt.Sprint(c.CapacitySat)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d/%d\t%d\n", c.Peer, c.DBID, c.Status, capacity,
			sat(c.HolderSat), sat(c.CounterpartySat), c.HTLCs, c.HolderCommitment, c.CounterpartyCommitment, c.SecretsRevealed)
	}
	tw.Flush()
}

func channelsCommand(f *ctlFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "channels",
		Short: "Every channel the signer remembers: peer, dbid, state, capacity, balances, commitments",
		Long: `List every channel in the signer's state store (<state-dir>/state.db): peer,
dbid, state (declared, open, closing, forgotten), capacity, both sides' balances
on the last commitment signed (on-chain satoshi), HTLCs, the commitment numbers
on both sides and how many of the peer's per-commitment secrets are held.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := ctlCall(cmd, f, "channels", nil)
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			var chs []daemon.ChannelInfo
			if err := json.Unmarshal(raw, &chs); err != nil {
				return fmt.Errorf("the daemon's channel list does not decode: %w", err)
			}
			printChannels(cmd.OutOrStdout(), chs)
			return nil
		},
	}
}

func unfreezeCommand(f *ctlFlags) *cobra.Command {
	var adopt string
	cmd := &cobra.Command{
		Use:   "unfreeze RECORD --adopt ours|node",
		Short: "Resolve a state record frozen by a conflict with the node's copy",
		Long: `A record (a channel, PEER/DBID, or the node record, node) is frozen when the
node's signed copy of it has our version with another value: its signing is
refused until an operator decides which side is right. --adopt ours keeps the
signer's record, --adopt node takes the node's copy (which this signer signed
once). The chosen record gets a version above both and is sent to the node;
the decision goes to the audit log. ctl status lists frozen records.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("%s takes the frozen record: node, or a channel as PEER/DBID (ctl status lists them)", cmd.CommandPath())
			}
			if adopt != "ours" && adopt != "node" {
				return usageErr("%s needs --adopt ours (keep the signer's record) or --adopt node (take the node's signed copy)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := ctlCall(cmd, f, "unfreeze", daemon.UnfreezeArgs{Record: args[0], Adopt: adopt})
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			var res daemon.UnfreezeResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return fmt.Errorf("the daemon's answer does not decode: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s unfrozen: adopted %s, now version %d\n", res.Record, res.Adopted, res.Version)
			return nil
		},
	}
	cmd.Flags().StringVar(&adopt, "adopt", "", "which side to keep: ours or node")
	return cmd
}
