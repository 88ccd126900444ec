package main

// gl-signerd ctl channels, and the state store's lines in ctl status.

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
