package main

// The secret store passphrase: how long a new one must be, the progress
// shown while Argon2id stretches it (seconds on a slow machine), and
// gl-signerd passphrase change.

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"gl-signerd/secretstore"
)

// minPassphraseChars is the shortest new passphrase accepted without
// --weak-passphrase. The store is only as strong as its passphrase against
// anyone who copies the file.
const minPassphraseChars = 8

// addWeakPassphraseFlag registers --weak-passphrase.
func addWeakPassphraseFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "weak-passphrase", false,
		fmt.Sprintf("accept a new passphrase shorter than %d characters", minPassphraseChars))
}

// checkNewPassphrase refuses a new passphrase shorter than
// minPassphraseChars unless weakOK. The error names the length, never the
// passphrase.
func checkNewPassphrase(pass []byte, source string, weakOK bool) error {
	if n := utf8.RuneCount(pass); n < minPassphraseChars && !weakOK {
		return withExitCode(ExitSecretStore, fmt.Errorf(
			"the new passphrase (from the %s) has %d characters, and a secret store passphrase needs at least %d: "+
				"anyone with a copy of the store can try short ones quickly; choose a longer one (a few random words are best), "+
				"or pass --weak-passphrase to accept it", source, n, minPassphraseChars))
	}
	return nil
}

// readNewPassphrase reads a new store passphrase (asked twice on a
// terminal) and checks its length.
func readNewPassphrase(passFile string, weakOK bool) ([]byte, error) {
	pass, source, err := readPassphrase(passFile, true)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassphrase(pass, source, weakOK); err != nil {
		secretstore.Wipe(pass)
		return nil, err
	}
	return pass, nil
}

const kdfProgressText = "deriving the key from the passphrase…"

// kdfProgressEvery is how often the progress line's seconds are updated.
var kdfProgressEvery = time.Second

// withKDFProgress runs work, which stretches a passphrase into a key, and
// meanwhile, if tty is a terminal, shows that it does and for how long;
// the line is cleared at the end. Elsewhere (a log, a pipe) it writes
// nothing.
func withKDFProgress(tty *os.File, work func() error) error {
	if !term.IsTerminal(int(tty.Fd())) {
		return work()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		tick := time.NewTicker(kdfProgressEvery)
		defer tick.Stop()
		fmt.Fprint(tty, kdfProgressText)
		for {
			select {
			case <-done:
				fmt.Fprint(tty, "\r\x1b[K")
				return
			case <-tick.C:
				fmt.Fprintf(tty, "\r%s %ds", kdfProgressText, int(time.Since(start).Seconds()))
			}
		}
	}()
	err := work()
	close(done)
	wg.Wait()
	return err
}

type passphraseChangeFlags struct {
	stateDir    string
	passFile    string
	newPassFile string
	weakOK      bool
}

func init() {
	group := &cobra.Command{
		Use:   "passphrase",
		Short: "Change the secret store passphrase",
	}
	var f passphraseChangeFlags
	change := &cobra.Command{
		Use:   "change",
		Short: "Re-encrypt the secret store under a new passphrase",
		Long: `Re-encrypt the secret store under a new passphrase. The old passphrase is
required (--passphrase-file, the systemd credential, or the terminal); the new
one comes from --new-passphrase-file or the terminal (asked twice). The seed
does not change, nor does the node.

The change is atomic: the new store is written and synced beside the old one,
then renamed over it. If the change is interrupted, the old store still opens
with the old passphrase. Stop gl-signerd run first if it reads its passphrase
from a file or credential, and update that file afterwards.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPassphraseChange(cmd, &f) },
	}
	addStateDirFlag(change, &f.stateDir)
	addPassphraseFileFlag(change, &f.passFile)
	change.Flags().StringVar(&f.newPassFile, "new-passphrase-file", "", "read the new passphrase from FILE (mode 0600; one trailing newline is dropped); default: ask on the terminal")
	addWeakPassphraseFlag(change, &f.weakOK)
	group.AddCommand(change)
	rootCmd.AddCommand(group)
}

func runPassphraseChange(cmd *cobra.Command, f *passphraseChangeFlags) error {
	if err := secretstore.DisableCoreDumps(); err != nil {
		return err
	}
	if f.newPassFile != "" && f.newPassFile == f.passFile {
		return usageErr("--passphrase-file and --new-passphrase-file name the same file; the new passphrase must differ from the old one")
	}
	dir, err := resolveStateDir(f.stateDir)
	if err != nil {
		return err
	}
	// The old passphrase first: a wrong one fails before the new is asked.
	seed, oldPass, err := openSeedKeepPassphrase(dir, f.passFile)
	if err != nil {
		return err
	}
	seed.Wipe()
	defer secretstore.Wipe(oldPass)

	newPass, source, err := secretstore.ReadPassphrase(secretstore.PassphraseOptions{
		File:     f.newPassFile,
		Terminal: os.Stdin,
		Prompt:   os.Stderr,
		Confirm:  true,
		What:     "new secret store passphrase",
	})
	if errors.Is(err, secretstore.ErrNoPassphraseSource) {
		err = fmt.Errorf("no new passphrase was given and there is no terminal to ask for one: pass --new-passphrase-file FILE, or run on a terminal")
	}
	if err != nil {
		return withExitCode(ExitSecretStore, err)
	}
	defer secretstore.Wipe(newPass)
	if err := checkNewPassphrase(newPass, source, f.weakOK); err != nil {
		return err
	}
	path := storePath(dir)
	err = withKDFProgress(os.Stderr, func() error {
		return secretstore.ChangePassphrase(path, oldPass, newPass, storeOptions...)
	})
	if err != nil {
		return withExitCode(ExitSecretStore, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "secret store %s re-encrypted under the new passphrase\n", path)
	return nil
}
