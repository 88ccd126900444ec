package main

import (
	"context"

	"github.com/spf13/cobra"

	"gl-signerd/internal/daemon"
)

type recoverFlags struct {
	stateDir   string
	passFile   string
	configFile string
}

func init() {
	var f recoverFlags
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Get a new device certificate for a node already registered with Greenlight",
		Long: `Get a new device certificate for a registered node, proving control of the node
key by signing the scheduler's challenge, and store it in the state directory
(device.crt, device-key.pem and ca.pem, mode 0600, replacing the ones there).
Use it on a new machine, after restoring the seed with gl-signerd init
--recover, or when the device certificate expired or was lost. Certificates
issued before stay valid.

The scheduler is reached as for gl-signerd register: scheduler.uri,
tls.nobody_cert, tls.nobody_key and tls.ca_cert (or Greenlight's environment
variables).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRecover(cmd, &f) },
	}
	addStateDirFlag(cmd, &f.stateDir)
	addPassphraseFileFlag(cmd, &f.passFile)
	addConfigFlags(cmd, &f.configFile)
	rootCmd.AddCommand(cmd)
}

func runRecover(cmd *cobra.Command, f *recoverFlags) error {
	return enrol(cmd, f.stateDir, f.configFile, f.passFile, false, "recovered",
		func(ctx context.Context, s *daemon.Enrolment) (*daemon.Enrolled, error) { return s.Recover(ctx) })
}
