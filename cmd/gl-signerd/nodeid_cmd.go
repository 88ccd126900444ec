package main

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"gl-signerd/internal/daemon"
	"gl-signerd/secretstore"
)

func init() {
	var stateDir, passFile string
	cmd := &cobra.Command{
		Use:   "nodeid",
		Short: "Unlock the secret store and print its node id and network",
		Long: `Unlock the secret store with its passphrase and print the node id, the network
and the kind of secret. Use it to check a passphrase, or which node a state
directory belongs to, without starting the signer.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := secretstore.DisableCoreDumps(); err != nil {
				return err
			}
			dir, err := resolveStateDir(stateDir)
			if err != nil {
				return err
			}
			seed, err := openSeed(dir, passFile)
			if err != nil {
				return err
			}
			defer seed.Wipe()
			id, err := daemon.NodeID(seed)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "node id: %s\n", hex.EncodeToString(id[:]))
			fmt.Fprintf(out, "network: %s\n", seed.Network)
			fmt.Fprintf(out, "secret: %s (%d bytes)\n", seed.Type, len(seed.Secret))
			return nil
		},
	}
	addStateDirFlag(cmd, &stateDir)
	addPassphraseFileFlag(cmd, &passFile)
	rootCmd.AddCommand(cmd)
}
