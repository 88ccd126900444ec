package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gl-signerd/config"
	"gl-signerd/internal/control"
	"gl-signerd/internal/daemon"
)

type ctlFlags struct {
	stateDir   string
	configFile string
	socket     string
	json       bool
	timeout    time.Duration
	reason     string
}

func init() {
	f := &ctlFlags{}
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Talk to the running daemon: status, pause, resume, shutdown",
		Long: `Talk to a running gl-signerd over its control socket (control.socket, default
<state-dir>/control.sock; only the user the daemon runs as may use it).

Output is for people by default; --json prints the daemon's answer as JSON
for scripts. The protocol is line-delimited JSON ({"cmd":"status","args":{}}
answered by {"ok":true,"result":{...}} or {"ok":false,"error":"..."}), so
any client can speak it; "gl-signerd ctl call CMD [ARGS-JSON]" sends any
command as is.

Exit codes: 0 ok, 1 the daemon is not running or refused the command, 2
usage, 4 invalid configuration.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("unknown ctl command %q: use status, pause, resume, shutdown, or call for any other", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr("ctl needs a command: status, pause, resume, shutdown, or call for any other")
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.stateDir, "state-dir", "", "state directory (default $STATE_DIRECTORY under systemd, else ~/"+defaultStateDirName+")")
	pf.StringVar(&f.configFile, "config", "", "config file (default <state-dir>/"+config.FileName+"), read for control.socket")
	pf.StringVar(&f.socket, "socket", "", "control socket path (default: control.socket from the configuration)")
	pf.BoolVar(&f.json, "json", false, "print the daemon's answer as JSON")
	pf.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the daemon")

	status := &cobra.Command{
		Use:   "status",
		Short: "Node id, network, connection to Greenlight, uptime, requests by type, last refusal",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := ctlCall(cmd, f, "status", nil)
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			var s daemon.Status
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("the daemon's status does not decode: %w", err)
			}
			printStatus(cmd.OutOrStdout(), &s, time.Now())
			return nil
		},
	}
	pause := &cobra.Command{
		Use:   "pause [--reason TEXT]",
		Short: "Refuse every signing request, with a clear error, until resume",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := ctlCall(cmd, f, "pause", daemon.PauseArgs{Reason: f.reason})
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "signing paused: requests are refused until gl-signerd ctl resume")
			return nil
		},
	}
	pause.Flags().StringVar(&f.reason, "reason", "", "why, sent to the node with each refusal (at most 200 characters)")
	resume := &cobra.Command{
		Use:   "resume",
		Short: "Answer signing requests again",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := ctlCall(cmd, f, "resume", nil)
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "signing resumed")
			return nil
		},
	}
	shutdown := &cobra.Command{
		Use:   "shutdown",
		Short: "Stop the daemon cleanly (as SIGTERM does)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := ctlCall(cmd, f, "shutdown", nil)
			if err != nil || f.json {
				return printRaw(cmd.OutOrStdout(), raw, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "gl-signerd is stopping")
			return nil
		},
	}
	call := &cobra.Command{
		Use:   "call CMD [ARGS-JSON]",
		Short: "Send any control command and print its JSON result",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErr(`%s takes a command and optional JSON arguments, e.g. %s pause '{"reason":"maintenance"}'`, cmd.CommandPath(), cmd.CommandPath())
			}
			if len(args) == 2 && !json.Valid([]byte(args[1])) {
				return usageErr("the arguments %q are not valid JSON", args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var a any
			if len(args) == 2 {
				a = json.RawMessage(args[1])
			}
			raw, err := ctlCall(cmd, f, args[0], a)
			return printRaw(cmd.OutOrStdout(), raw, err)
		},
	}
	cmd.AddCommand(status, pause, resume, shutdown, call, channelsCommand(f), unfreezeCommand(f), runeCommand(f))
	cmd.AddCommand(operatorCommands(f)...)
	rootCmd.AddCommand(cmd)
}

// ctlSocket finds the control socket: --socket, else control.socket from
// the configuration of the state directory.
func ctlSocket(f *ctlFlags) (string, error) {
	if f.socket != "" {
		return f.socket, nil
	}
	stateDir, err := resolveStateDir(f.stateDir)
	if err != nil {
		return "", err
	}
	cfg, err := config.Load(config.Options{StateDir: stateDir, File: f.configFile})
	if err != nil {
		return "", withExitCode(ExitConfig, err)
	}
	return cfg.Control.Socket, nil
}

func ctlCall(cmd *cobra.Command, f *ctlFlags, name string, args any) (json.RawMessage, error) {
	path, err := ctlSocket(f)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	raw, err := control.Call(ctx, path, name, args)
	var re *control.RemoteError
	switch {
	case errors.Is(err, control.ErrNotRunning):
		return nil, fmt.Errorf("%w: nothing answers on %s; start it with gl-signerd run (or check --state-dir)", control.ErrNotRunning, path)
	case errors.As(err, &re):
		return nil, fmt.Errorf("the daemon refused %q: %s", name, re.Msg)
	case err != nil:
		return nil, err
	}
	return raw, nil
}

func printRaw(w io.Writer, raw json.RawMessage, err error) error {
	if err != nil {
		return err
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		if b, err := json.MarshalIndent(v, "", "  "); err == nil {
			raw = b
		}
	}
	fmt.Fprintf(w, "%s\n", raw)
	return nil
}

func printStatus(w io.Writer, s *daemon.Status, now time.Time) {
	ago := func(t time.Time) string { return now.Sub(t).Round(time.Second).String() }
	fmt.Fprintf(w, "node id:      %s\n", s.NodeID)
	fmt.Fprintf(w, "network:      %s\n", s.Network)
	signing := "active"
	if s.Signing.Paused {
		signing = "PAUSED"
		if s.Signing.PausedSince != nil {
			signing += " for " + ago(*s.Signing.PausedSince)
		}
		if s.Signing.PauseReason != "" {
			signing += ": " + s.Signing.PauseReason
		}
	}
	fmt.Fprintf(w, "signing:      %s\n", signing)
	c := s.Connection
	conn := fmt.Sprintf("%s for %s", c.State, ago(c.Since))
	switch {
	case c.State == "streaming":
		conn = fmt.Sprintf("streaming from %s for %s", c.NodeURI, ago(c.Since))
	case c.NextAttempt != nil:
		conn += fmt.Sprintf(", next attempt in %s", c.NextAttempt.Sub(now).Round(100*time.Millisecond))
	}
	fmt.Fprintf(w, "connection:   %s (scheduler %s; streams opened: %d)\n", conn, c.SchedulerURI, c.Connects)
	if c.LastError != "" && c.LastErrorAt != nil {
		fmt.Fprintf(w, "last error:   %s ago: %s\n", ago(*c.LastErrorAt), c.LastError)
	}
	fmt.Fprintf(w, "uptime:       %s (pid %d, version %s)\n", (time.Duration(s.UptimeSeconds * float64(time.Second))).Round(time.Second), s.PID, s.Version)
	fmt.Fprintf(w, "device:       %s, valid until %s\n", s.Device.CommonName, s.Device.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(w, "requests:     %d answered, %d refused\n", s.Requests.Answered, s.Requests.Refused)
	names := sortedTypes(s.Requests.ByType)
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		tc := s.Requests.ByType[n]
		line := fmt.Sprintf("  %-*s  %d answered", width, n, tc.Answered)
		if tc.Refused > 0 {
			line += fmt.Sprintf(", %d refused", tc.Refused)
		}
		fmt.Fprintln(w, line)
	}
	if r := s.LastRefusal; r != nil {
		who := "lightningd"
		if r.Peer != "" {
			who = fmt.Sprintf("peer %s dbid %d", r.Peer, r.DBID)
		}
		fmt.Fprintf(w, "last refusal: %s ago, %s from %s [%s]: %s\n", ago(r.Time), r.Type, who, r.Tag, strings.TrimSpace(r.Reason))
	}
	fmt.Fprintf(w, "audit log:    %s (%d lines written)\n", s.Audit.Path, s.Audit.Lines)
	printStateStatus(w, s.State, now)
	printVelocityStatus(w, s.Velocity)
}

// sortedTypes returns the message names of counts in order.
func sortedTypes(m map[string]*daemon.TypeCounts) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
