package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gl-signerd/internal/daemon"
	"gl-signerd/secretstore"
)

type registerFlags struct {
	stateDir   string
	passFile   string
	configFile string
	inviteCode string
}

func init() {
	var f registerFlags
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register the node with Greenlight and store its device certificate",
		Long: `Register a new node with the Greenlight scheduler: prove control of the node
key by signing the scheduler's challenge, send the signer's init message and
start-up answers, and store the device certificate the scheduler signs for a key
made here (device.crt, device-key.pem and ca.pem in the state directory, mode
0600). Then start the signer with gl-signerd run.

The scheduler is found with scheduler.uri and reached with Greenlight's
developer ("nobody") certificate: tls.nobody_cert and tls.nobody_key, checked
against tls.ca_cert (Greenlight's GL_SCHEDULER_GRPC_URI, GL_NOBODY_CRT,
GL_NOBODY_KEY and GL_CA_CRT work too). The network is the secret store's;
--network may repeat it, not change it.

A node that is already registered gets a new device certificate with
gl-signerd recover instead.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRegister(cmd, &f) },
	}
	addStateDirFlag(cmd, &f.stateDir)
	addPassphraseFileFlag(cmd, &f.passFile)
	addConfigFlags(cmd, &f.configFile)
	cmd.Flags().StringVar(&f.inviteCode, "invite-code", "", "Greenlight invite code, if your account needs one")
	rootCmd.AddCommand(cmd)
}

// enrol opens the enrolment register and recover share (local checks
// first, the passphrase last), runs do with a context that SIGINT and
// SIGTERM end, and prints what was stored.
func enrol(cmd *cobra.Command, stateDirFlag, configFile, passFile string, refuseExisting bool, verb string,
	do func(context.Context, *daemon.Enrolment) (*daemon.Enrolled, error)) error {
	if err := secretstore.DisableCoreDumps(); err != nil {
		return err
	}
	stateDir, err := resolveStateDir(stateDirFlag)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(cmd, stateDir, configFile)
	if err != nil {
		return err
	}
	s, err := daemon.OpenEnrolment(daemon.EnrolOptions{
		StateDir: stateDir,
		Config:   cfg,
		Unlock:   func() (*secretstore.Seed, error) { return openSeed(stateDir, passFile) },
	}, refuseExisting)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := do(ctx, s)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s node %s on %s\n", verb, hex.EncodeToString(e.NodeID[:]), e.Network)
	fmt.Fprintf(out, "device certificate: %s (%s, valid until %s)\n",
		e.CertPath, e.Cert.CommonName, e.Cert.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintln(out, "start the signer with: gl-signerd run")
	return nil
}

func runRegister(cmd *cobra.Command, f *registerFlags) error {
	return enrol(cmd, f.stateDir, f.configFile, f.passFile, true, "registered",
		func(ctx context.Context, s *daemon.Enrolment) (*daemon.Enrolled, error) {
			return s.Register(ctx, f.inviteCode)
		})
}
