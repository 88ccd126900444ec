package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"gl-signerd/secretstore"
	"gl-signerd/signer"
	"gl-signerd/signer/keys"
)

type exportFlags struct {
	stateDir string
	passFile string
}

func init() {
	group := &cobra.Command{
		Use:   "export",
		Short: "Export public data derived from the seed",
	}
	var f exportFlags
	descriptors := &cobra.Command{
		Use:   "descriptors",
		Short: "Print the on-chain wallet's output descriptors, to watch it from another wallet",
		Long: `Print the output descriptors of the node's on-chain wallet, one per line, as
Core Lightning's lightning-hsmtool dumponchaindescriptors prints them: wpkh
(bech32 addresses), sh(wpkh) (p2sh-segwit) and tr (taproot), each with its
checksum. Import them into a watch-only wallet (Bitcoin Core's
importdescriptors, Sparrow, ...) to follow the node's on-chain funds.

They hold extended public keys only (xpub on bitcoin, tpub elsewhere): they
let anyone who has them see the wallet's addresses and balance, but not spend.
For a 32-byte secret (Greenlight's, or a CLN hsm_secret) the key is the BIP32
master key CLN derives from it, with the path 0/0/*; for a BIP39 seed (CLN's
mnemonic layout) it is m/86'/0'/0', with the path 0/*.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := secretstore.DisableCoreDumps(); err != nil {
				return err
			}
			dir, err := resolveStateDir(f.stateDir)
			if err != nil {
				return err
			}
			seed, err := openSeed(dir, f.passFile)
			if err != nil {
				return err
			}
			defer seed.Wipe()
			version, ok := signer.BIP32VersionFor(string(seed.Network))
			if !ok {
				return fmt.Errorf("cannot derive the wallet's descriptors: the secret store's network %q is not one CLN knows", seed.Network)
			}
			ds, err := keys.WalletDescriptors(seed.Secret, version)
			if err != nil {
				return fmt.Errorf("cannot derive the wallet's descriptors: %w", err)
			}
			out := cmd.OutOrStdout()
			for _, d := range ds {
				fmt.Fprintln(out, d)
			}
			return nil
		},
	}
	addStateDirFlag(descriptors, &f.stateDir)
	addPassphraseFileFlag(descriptors, &f.passFile)
	group.AddCommand(descriptors)
	rootCmd.AddCommand(group)
}
