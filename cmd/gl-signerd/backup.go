package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"gl-signerd/internal/daemon"
	"gl-signerd/secretstore"
)

type backupCheckFlags struct {
	stateDir      string
	passFile      string
	bip39PassFile string
}

func init() {
	group := &cobra.Command{
		Use:   "backup",
		Short: "Check the backup of the seed: the recovery words",
	}
	var f backupCheckFlags
	check := &cobra.Command{
		Use:   "check",
		Short: "Type the recovery words and check that they are this store's seed",
		Long: `Check a written copy of the recovery words against the secret store, as
lightning-hsmtool's checkhsm does for CLN: unlock the store (its passphrase
from --passphrase-file, the systemd credential, or the terminal), then read
the words from the terminal (not echoed) or from stdin, and say whether they
give the stored seed.

A seed imported from CLN's mnemonic layout with a BIP39 passphrase needs that
passphrase too: --bip39-passphrase-file FILE, or the terminal.

Exit code 0: the words are this node's backup. 1: they are not (or are not
valid BIP39 words), or the store holds a CLN hsm_secret imported from a file,
which has no words. 3: the store cannot be unlocked (or a BIP39 passphrase it
needs was not given).

Neither the words nor the seed is ever printed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBackupCheck(cmd, &f) },
	}
	addStateDirFlag(check, &f.stateDir)
	addPassphraseFileFlag(check, &f.passFile)
	check.Flags().StringVar(&f.bip39PassFile, "bip39-passphrase-file", "", "read the seed's BIP39 passphrase from FILE (mode 0600), for a seed made with one; default: ask on the terminal")
	group.AddCommand(check)
	rootCmd.AddCommand(group)
}

func runBackupCheck(cmd *cobra.Command, f *backupCheckFlags) error {
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
	// Say so before asking for words that cannot be checked.
	if err := seed.CanCheckWords(); err != nil {
		return withExitCode(ExitFailure, err)
	}
	nodeID, err := daemon.NodeID(seed)
	if err != nil {
		return err
	}
	var bip39Pass []byte
	if seed.NeedsBIP39Passphrase() {
		bip39Pass, _, err = secretstore.ReadPassphrase(secretstore.PassphraseOptions{
			File:     f.bip39PassFile,
			Terminal: os.Stdin,
			Prompt:   os.Stderr,
			What:     "BIP39 passphrase of the seed",
		})
		if errors.Is(err, secretstore.ErrNoPassphraseSource) {
			err = errors.New("this secret store's seed was made with a BIP39 passphrase, and there is no terminal to ask for it: pass --bip39-passphrase-file FILE")
		}
		if err != nil {
			return withExitCode(ExitSecretStore, err)
		}
		defer secretstore.Wipe(bip39Pass)
	} else if f.bip39PassFile != "" {
		return usageErr("this secret store's seed was made without a BIP39 passphrase; drop --bip39-passphrase-file")
	}
	m, err := readMnemonic(term.IsTerminal(int(os.Stdin.Fd())), "backup check")
	if err != nil {
		return err
	}
	ok, err := seed.MatchesMnemonic(m, bip39Pass)
	if err != nil {
		return withExitCode(ExitFailure, err)
	}
	if !ok {
		return withExitCode(ExitFailure, fmt.Errorf(
			"the recovery words are valid, but they are not the backup of the seed in %s (node id %x): check your written copy, word by word",
			storePath(dir), nodeID[:]))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "the recovery words match the secret store %s (node id %s)\n", storePath(dir), hex.EncodeToString(nodeID[:]))
	return nil
}
