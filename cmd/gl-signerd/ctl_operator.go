package main

// gl-signerd ctl approvals|approve|deny|allowlist, and the velocity
// limits' lines in ctl status.

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"gl-signerd/internal/daemon"
	"gl-signerd/signer"
)

func operatorCommands(f *ctlFlags) []*cobra.Command {
	approvals := &cobra.Command{
		Use:   "approvals",
		Short: "The requests the signer asks the operator about: pending, approved, denied, timed out",
		Long: `List the approvals the signer asked for: a payment, a withdrawal to a foreign
output or a close to a foreign address that no intent of the user's, no
allowlist entry and no auto-approval authorized (or that passes a velocity
limit). Approve one with gl-signerd ctl approve ID, deny it with ctl deny ID;
the node's retry of an approved request is then signed, for
policy.approval_valid_for. A pending approval times out after
policy.approval_timeout. Denials and timeouts are final. Decided approvals are
kept for a day.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := ctlCall(cmd, f, "approvals", nil)
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			var as []signer.ApprovalInfo
			if err := json.Unmarshal(raw, &as); err != nil {
				return fmt.Errorf("the daemon's approvals do not decode: %w", err)
			}
			printApprovals(cmd.OutOrStdout(), as, time.Now())
			return nil
		},
	}
	decide := func(name, verb string) *cobra.Command {
		return &cobra.Command{
			Use:   name + " ID",
			Short: verb + " a pending approval (gl-signerd ctl approvals lists them)",
			Args: func(cmd *cobra.Command, args []string) error {
				if len(args) != 1 {
					return usageErr("%s takes one approval number, e.g. %s 3", cmd.CommandPath(), cmd.CommandPath())
				}
				if id, err := strconv.ParseUint(args[0], 10, 64); err != nil || id == 0 {
					return usageErr("%q is not an approval number (gl-signerd ctl approvals lists them)", args[0])
				}
				return nil
			},
			RunE: func(cmd *cobra.Command, args []string) error {
				id, _ := strconv.ParseUint(args[0], 10, 64)
				raw, err := ctlCall(cmd, f, name, daemon.ApprovalArgs{ID: id})
				if err != nil || f.json {
					return printRaw(cmd.OutOrStdout(), raw, err)
				}
				var a signer.ApprovalInfo
				if err := json.Unmarshal(raw, &a); err != nil {
					return fmt.Errorf("the daemon's answer does not decode: %w", err)
				}
				switch a.Status {
				case "approved":
					until := ""
					if a.Until != nil {
						until = " until " + a.Until.Format(time.RFC3339)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "approval %d approved: the node's retry of %s is signed%s\n", a.ID, a.Summary, until)
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "approval %d %s: %s\n", a.ID, a.Status, a.Summary)
				}
				return nil
			},
		}
	}
	allowlist := &cobra.Command{
		Use:   "allowlist list|add|remove [ENTRY]",
		Short: "The destinations accepted without intent or approval, at run time",
		Long: `List, add or remove allowlist entries while the daemon runs. An entry is
payee:<node id> (payments to that node), address:<addr> or xpub:<xpub>
(on-chain outputs). Entries added here are kept in the state store and merged
with the configuration file's policy.allowlist, which ctl cannot remove.`,
		Example: `  gl-signerd ctl allowlist add payee:034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa
  gl-signerd ctl allowlist list
  gl-signerd ctl allowlist remove payee:034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usageErr("%s needs list, add ENTRY or remove ENTRY", cmd.CommandPath())
			case args[0] == "list" && len(args) == 1:
			case (args[0] == "add" || args[0] == "remove") && len(args) == 2:
			default:
				return usageErr("%s takes list, add ENTRY or remove ENTRY (an entry: payee:<node id>, address:<addr> or xpub:<xpub>)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			a := daemon.AllowlistArgs{Op: args[0]}
			if len(args) == 2 {
				a.Entry = args[1]
			}
			raw, err := ctlCall(cmd, f, "allowlist", a)
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			var res daemon.AllowlistResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return fmt.Errorf("the daemon's answer does not decode: %w", err)
			}
			w := cmd.OutOrStdout()
			switch {
			case a.Op == "add" && res.Changed:
				fmt.Fprintf(w, "added %s\n", a.Entry)
			case a.Op == "add":
				fmt.Fprintf(w, "%s was listed already\n", a.Entry)
			case a.Op == "remove":
				fmt.Fprintf(w, "removed %s\n", a.Entry)
			default:
				for _, e := range res.Config {
					fmt.Fprintf(w, "%s\t(configuration file)\n", e)
				}
				for _, e := range res.Runtime {
					fmt.Fprintf(w, "%s\t(added at run time)\n", e)
				}
				if len(res.Config)+len(res.Runtime) == 0 {
					fmt.Fprintln(w, "the allowlist is empty")
				}
			}
			return nil
		},
	}
	return []*cobra.Command{approvals, decide("approve", "Approve"), decide("deny", "Deny"), allowlist}
}

func printApprovals(w io.Writer, as []signer.ApprovalInfo, now time.Time) {
	if len(as) == 0 {
		fmt.Fprintln(w, "no approvals")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tASKED\tUNTIL\tWHAT")
	for _, a := range as {
		until := "-"
		if a.Until != nil {
			until = "in " + a.Until.Sub(now).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s ago\t%s\t%s\n", a.ID, a.Kind, a.Status, now.Sub(a.Created).Round(time.Second), until, a.Summary)
	}
	tw.Flush()
}

// printVelocityStatus prints the velocity limits' use in ctl status.
func printVelocityStatus(w io.Writer, v *daemon.VelocityInfo) {
	if v == nil {
		return
	}
	limit := func(n uint64) string {
		if n == 0 {
			return "no limit"
		}
		return "limit " + strconv.FormatUint(n, 10)
	}
	fmt.Fprintf(w, "payments:     %d msat in the last hour (%s), %d msat in the last day (%s)\n",
		v.PaymentsHourMsat, limit(v.PaymentsHourLimit), v.PaymentsDayMsat, limit(v.PaymentsDayLimit))
	fmt.Fprintf(w, "withdrawals:  %d sat in the last hour (%s), %d sat in the last day (%s)\n",
		v.WithdrawalsHourSat, limit(v.WithdrawalsHourLimit), v.WithdrawalsDaySat, limit(v.WithdrawalsDayLimit))
	if v.PendingApprovals > 0 {
		fmt.Fprintf(w, "approvals:    %d pending (gl-signerd ctl approvals)\n", v.PendingApprovals)
	}
}
