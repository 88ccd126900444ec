package main

// Flags and helpers shared by the subcommands: where the state directory is,
// how the passphrase is found, how the seed and the configuration are
// loaded, and how their errors map to exit codes.
//
//	addStateDirFlag(cmd, &stateDir)           --state-dir DIR
//	addPassphraseFileFlag(cmd, &passFile)     --passphrase-file FILE
//	addConfigFlags(cmd, &configFile)          --config FILE and the setting flags
//	dir, err := resolveStateDir(stateDir)
//	seed, err := openSeed(dir, passFile)      // defer seed.Wipe()
//	cfg, err := loadConfig(cmd, dir, configFile)
//
// A subcommand that handles the seed calls secretstore.DisableCoreDumps()
// first, and logs its configuration only through cfg.Flat() (redacted).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"gl-signerd/config"
	"gl-signerd/internal/daemon"
	"gl-signerd/secretstore"
)

// storeOptions are passed to secretstore.Create. Production code leaves it
// empty; the test binary lowers the Argon2id cost here (kdf_test.go).
var storeOptions []secretstore.Option

const defaultStateDirName = ".gl-signerd"

// addStateDirFlag registers --state-dir.
func addStateDirFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "state-dir", "",
		"state directory (default $STATE_DIRECTORY under systemd, else ~/"+defaultStateDirName+")")
}

// addPassphraseFileFlag registers --passphrase-file.
func addPassphraseFileFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "passphrase-file", "",
		"read the secret store passphrase from FILE (mode 0600; one trailing newline is dropped); default: $CREDENTIALS_DIRECTORY/"+
			secretstore.CredentialName+" under systemd, else ask on the terminal")
}

// addConfigFlags registers --config and one flag per setting that has one
// (--log-level, --scheduler-uri, ...).
func addConfigFlags(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "config", "", "config file (default <state-dir>/"+config.FileName+", which may be absent)")
	config.RegisterFlags(cmd.Flags())
}

// resolveStateDir returns the state directory as an absolute path: the flag,
// else the first of systemd's $STATE_DIRECTORY, else ~/.gl-signerd.
func resolveStateDir(flag string) (string, error) {
	dir := flag
	if dir == "" {
		if sd := os.Getenv("STATE_DIRECTORY"); sd != "" {
			dir, _, _ = strings.Cut(sd, ":")
		}
	}
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return "", withExitCode(ExitUsage, errors.New("cannot choose a state directory: $HOME is not set; pass --state-dir DIR"))
		}
		dir = filepath.Join(home, defaultStateDirName)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", withExitCode(ExitUsage, fmt.Errorf("cannot use state directory %s: %w", dir, err))
	}
	return abs, nil
}

// storePath is the secret store's path in a state directory.
func storePath(stateDir string) string { return daemon.StorePath(stateDir) }

// readPassphrase finds the secret store passphrase: --passphrase-file, the
// systemd credential, or the terminal (twice when confirm is set).
func readPassphrase(passFile string, confirm bool) (pass []byte, source string, err error) {
	pass, source, err = secretstore.ReadPassphrase(secretstore.PassphraseOptions{
		File:           passFile,
		CredentialsDir: os.Getenv("CREDENTIALS_DIRECTORY"),
		Terminal:       os.Stdin,
		Prompt:         os.Stderr,
		Confirm:        confirm,
		What:           "secret store passphrase",
	})
	if errors.Is(err, secretstore.ErrNoPassphraseSource) {
		err = fmt.Errorf("%w: pass --passphrase-file FILE, give systemd a credential named %q (LoadCredential=), or run on a terminal",
			err, secretstore.CredentialName)
	}
	if err != nil {
		return nil, "", withExitCode(ExitSecretStore, err)
	}
	return pass, source, nil
}

// openSeed reads the passphrase and opens the secret store of stateDir,
// showing progress on a terminal while the key is derived. Its errors carry
// ExitSecretStore and say what to do.
func openSeed(stateDir, passFile string) (*secretstore.Seed, error) {
	seed, pass, err := openSeedKeepPassphrase(stateDir, passFile)
	secretstore.Wipe(pass)
	return seed, err
}

// openSeedKeepPassphrase is openSeed that also returns the passphrase that
// opened the store; the caller wipes it.
func openSeedKeepPassphrase(stateDir, passFile string) (*secretstore.Seed, []byte, error) {
	path := storePath(stateDir)
	// Fail on a missing store before asking for a passphrase.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, withExitCode(ExitSecretStore, fmt.Errorf(
			"there is no secret store in %s: create one with gl-signerd init, or point --state-dir at the right directory", stateDir))
	}
	pass, source, err := readPassphrase(passFile, false)
	if err != nil {
		return nil, nil, err
	}
	var seed *secretstore.Seed
	err = withKDFProgress(os.Stderr, func() (err error) {
		seed, err = secretstore.Open(path, pass)
		return err
	})
	if err != nil {
		secretstore.Wipe(pass)
		if errors.Is(err, secretstore.ErrWrongPassphrase) {
			err = fmt.Errorf("%w (the passphrase came from the %s)", err, source)
		}
		return nil, nil, withExitCode(ExitSecretStore, err)
	}
	return seed, pass, nil
}

// loadConfig loads the configuration for cmd, whose flags addConfigFlags
// registered. Its errors carry ExitConfig.
func loadConfig(cmd *cobra.Command, stateDir, configFile string) (*config.Config, error) {
	c, err := config.Load(config.Options{StateDir: stateDir, File: configFile, Flags: cmd.Flags()})
	if err != nil {
		return nil, withExitCode(ExitConfig, err)
	}
	return c, nil
}
