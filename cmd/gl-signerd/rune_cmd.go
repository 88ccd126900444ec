package main

// gl-signerd ctl rune create|list: runes for applications, issued by the
// running daemon from its master rune.

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"gl-signerd/internal/daemon"
)

func runeCommand(f *ctlFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rune",
		Short: "Issue and list runes for applications (create, list)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("unknown rune command %q: use create or list", args[0])
			}
			return nil
		},
		RunE: func(*cobra.Command, []string) error { return usageErr("rune needs a command: create or list") },
	}
	var restrictions []string
	create := &cobra.Command{
		Use:   "create --restriction pubkey=<device key> [--restriction …]",
		Short: "Issue a rune from the signer's master rune, bound to a device key",
		Long: `Issue a rune from the signer's master rune, as Greenlight's signer does: an
application signs its calls with its device key and sends the rune with them;
the signer accepts a call as the user's intent only with a rune it issued whose
restrictions hold.

Each --restriction is one restriction: alternatives joined by '|', each a
field, an operator and a value (= equal, / not equal, ^ starts with, $ ends
with, ~ contains, < and > integers, { and } sort order, ! absent, # comment).
One must be pubkey=<the device's P-256 public key, uncompressed, 130 hex
digits>. The fields are method (the gRPC method, lower case: pay, keysend,
withdraw, fundchannel, close, invoice, …), pubkey and time (Unix seconds).

  gl-signerd ctl rune create --restriction pubkey=04… --restriction 'method=pay|method=keysend'

The rune is printed once and kept in the state store (ctl rune list).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := ctlCall(cmd, f, "rune_create", daemon.RuneCreateArgs{Restrictions: restrictions})
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			var r daemon.RuneInfo
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("the daemon's answer does not decode: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rune %d: %s\nrestrictions: %s\n", r.ID, r.Rune, r.Restrictions)
			return nil
		},
	}
	create.Flags().StringArrayVar(&restrictions, "restriction", nil, "a restriction (alternatives joined by '|'); repeat for more")
	list := &cobra.Command{
		Use:   "list",
		Short: "The runes issued: number, date, restrictions, rune",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := ctlCall(cmd, f, "rune_list", nil)
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			var rs []daemon.RuneInfo
			if err := json.Unmarshal(raw, &rs); err != nil {
				return fmt.Errorf("the daemon's answer does not decode: %w", err)
			}
			printRunes(cmd.OutOrStdout(), rs)
			return nil
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}

func printRunes(w io.Writer, rs []daemon.RuneInfo) {
	if len(rs) == 0 {
		fmt.Fprintln(w, "no runes issued")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tRESTRICTIONS\tRUNE")
	for _, r := range rs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.ID, r.Created.Format("2006-01-02 15:04:05Z"), r.Restrictions, r.Rune)
	}
	tw.Flush()
}
