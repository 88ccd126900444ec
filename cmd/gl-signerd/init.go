package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"gl-signerd/internal/daemon"
	"gl-signerd/secretstore"
)

type initFlags struct {
	stateDir    string
	passFile    string
	network     string
	words       int
	recover     bool
	importFile  string
	hsmPassFile string
	noConfirm   bool
	weakOK      bool
}

func init() {
	var f initFlags
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the secret store: a new seed, recovery words, or a CLN hsm_secret",
		Long: `Create the secret store in the state directory, encrypted under a passphrase.

With no mode flag, init makes a new seed from fresh BIP39 recovery words (12, or
24 with --words 24), shows the words once and asks for three of them back to
check your copy. On a terminal nothing else is needed; without one (a script,
CI), pass --no-confirm: the words are then printed to stdout unchecked, and
keeping them safe is up to you.

--recover restores a seed from its recovery words, read from the terminal (not
echoed) or from stdin; they are never accepted as a flag.

--import-hsm-secret FILE takes over an existing CLN node's hsm_secret, in any
of CLN's layouts: plain (32 bytes), passphrase-encrypted (73 bytes), or the
mnemonic layout of CLN v25.09 and later. Its passphrase, if it has one, comes
from --hsm-secret-passphrase-file or the terminal.

The secret is Greenlight-compatible: the first 32 bytes of the BIP39 seed with
an empty BIP39 passphrase. The words themselves are not stored. init prints the
node id. An existing secret store is never overwritten.

The store's passphrase must have at least 8 characters (--weak-passphrase
accepts a shorter one). On a terminal, init says so while the key is derived
from it (Argon2id: seconds on a slow machine).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInit(cmd, &f) },
	}
	addStateDirFlag(cmd, &f.stateDir)
	addPassphraseFileFlag(cmd, &f.passFile)
	fl := cmd.Flags()
	fl.StringVar(&f.network, "network", "bitcoin", "network the seed is for: bitcoin, testnet, signet or regtest (stored with the seed)")
	fl.IntVar(&f.words, "words", 12, "number of recovery words of a new seed: 12 or 24 (15, 18 and 21 work too)")
	fl.BoolVar(&f.recover, "recover", false, "restore from recovery words read from the terminal or stdin")
	fl.StringVar(&f.importFile, "import-hsm-secret", "", "import CLN's hsm_secret FILE (plain, encrypted or mnemonic layout)")
	fl.StringVar(&f.hsmPassFile, "hsm-secret-passphrase-file", "", "read the passphrase of an encrypted hsm_secret from FILE (mode 0600)")
	fl.BoolVar(&f.noConfirm, "no-confirm", false, "print new recovery words to stdout without asking for them back (for scripts; no terminal needed)")
	addWeakPassphraseFlag(cmd, &f.weakOK)
	rootCmd.AddCommand(cmd)
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return withExitCode(ExitUsage, fmt.Errorf("%s takes no arguments, but was given %q", cmd.CommandPath(), args))
	}
	return nil
}

func usageErr(format string, a ...any) error {
	return withExitCode(ExitUsage, fmt.Errorf(format, a...))
}

func runInit(cmd *cobra.Command, f *initFlags) error {
	if err := secretstore.DisableCoreDumps(); err != nil {
		return err
	}
	fl := cmd.Flags()
	importing := f.importFile != ""
	switch {
	case f.recover && importing:
		return usageErr("--recover and --import-hsm-secret are two ways to give the secret; use one")
	case fl.Changed("words") && (f.recover || importing):
		return usageErr("--words applies to a new seed only; recovered and imported secrets keep their own length")
	case f.noConfirm && (f.recover || importing):
		return usageErr("--no-confirm applies to a new seed only: there are no new words to check")
	case f.hsmPassFile != "" && !importing:
		return usageErr("--hsm-secret-passphrase-file goes with --import-hsm-secret")
	case f.words < 12 || f.words > 24 || f.words%3 != 0:
		return usageErr("--words must be 12 or 24 (or 15, 18, 21), not %d", f.words)
	}
	network, err := secretstore.ParseNetwork(f.network)
	if err != nil {
		return usageErr("--network: %v", err)
	}
	stdinTTY := term.IsTerminal(int(os.Stdin.Fd()))
	if !f.recover && !importing && !f.noConfirm && !stdinTTY {
		return usageErr("cannot check that you wrote the new recovery words down: stdin is not a terminal; " +
			"run init on a terminal, or pass --no-confirm to print the words to stdout unchecked (then keep them safe yourself)")
	}

	stateDir, err := resolveStateDir(f.stateDir)
	if err != nil {
		return err
	}
	if err := secretstore.PrepareDir(stateDir); err != nil {
		return withExitCode(ExitSecretStore, err)
	}
	path := storePath(stateDir)
	removed, err := secretstore.RemoveLeftovers(path)
	for _, p := range removed {
		fmt.Fprintf(os.Stderr, "gl-signerd: removed %s, a temporary file left by an interrupted init\n", p)
	}
	if err != nil {
		return withExitCode(ExitSecretStore, err)
	}
	if _, err := os.Lstat(path); err == nil {
		return withExitCode(ExitSecretStore, fmt.Errorf(
			"%w at %s; gl-signerd never overwrites one (move it away first if you really mean to replace it)", secretstore.ErrExists, path))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return withExitCode(ExitSecretStore, fmt.Errorf("cannot check for an existing secret store: %w", err))
	}

	out := cmd.OutOrStdout()
	var seed *secretstore.Seed
	var pass []byte
	defer func() { secretstore.Wipe(pass) }()
	switch {
	case f.recover:
		m, err := readMnemonic(stdinTTY, "--recover")
		if err != nil {
			return err
		}
		if seed, err = secretstore.GreenlightSeed(m, network); err != nil {
			return withExitCode(ExitFailure, err)
		}
		if pass, err = readNewPassphrase(f.passFile, f.weakOK); err != nil {
			seed.Wipe()
			return err
		}
	case importing:
		if seed, err = importHSMSecret(f, network); err != nil {
			return err
		}
		if pass, err = readNewPassphrase(f.passFile, f.weakOK); err != nil {
			seed.Wipe()
			return err
		}
	default:
		// The passphrase first, so that no words are shown for a store that
		// will not be written.
		if pass, err = readNewPassphrase(f.passFile, f.weakOK); err != nil {
			return err
		}
		m, err := secretstore.NewMnemonic(f.words)
		if err != nil {
			return err
		}
		words := strings.Fields(m)
		showWords(out, words)
		if !f.noConfirm {
			positions, err := pickPositions(len(words), 3)
			if err != nil {
				return err
			}
			if err := confirmWords(bufio.NewReader(os.Stdin), os.Stderr, words, positions); err != nil {
				return withExitCode(ExitFailure, err)
			}
			if term.IsTerminal(int(os.Stdout.Fd())) {
				// Take the words off the screen and out of the scrollback.
				fmt.Fprint(out, "\x1b[H\x1b[2J\x1b[3J")
			}
		}
		if seed, err = secretstore.GreenlightSeed(m, network); err != nil {
			return err
		}
	}
	defer seed.Wipe()

	nodeID, err := daemon.NodeID(seed)
	if err != nil {
		return err
	}
	if err := withKDFProgress(os.Stderr, func() error { return secretstore.Create(path, seed, pass, storeOptions...) }); err != nil {
		return withExitCode(ExitSecretStore, err)
	}
	fmt.Fprintf(out, "node id: %s\n", hex.EncodeToString(nodeID[:]))
	fmt.Fprintf(out, "secret store: %s (%s secret, network %s)\n", path, seed.Type, seed.Network)
	if importing {
		fmt.Fprintf(out, "%s was not changed: once the node id above is your node's, keep that file as safe as the store, or destroy it.\n", f.importFile)
	}
	return nil
}

const maxMnemonicInput = 4096

// readMnemonic reads recovery words from the terminal (not echoed) or from
// stdin, and returns them normalized and checked. who names the command or
// flag that reads them, for the error when there are none.
func readMnemonic(stdinTTY bool, who string) (string, error) {
	var raw []byte
	if stdinTTY {
		fmt.Fprint(os.Stderr, "Enter the recovery words, separated by spaces (not shown): ")
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", fmt.Errorf("cannot read the recovery words from the terminal: %w", err)
		}
		raw = b
	} else {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, maxMnemonicInput+1))
		if err != nil {
			return "", fmt.Errorf("cannot read the recovery words from stdin: %w", err)
		}
		if len(b) > maxMnemonicInput {
			secretstore.Wipe(b)
			return "", usageErr("stdin holds more than %d bytes, which is not a list of recovery words", maxMnemonicInput)
		}
		raw = b
	}
	defer secretstore.Wipe(raw)
	m := secretstore.NormalizeMnemonic(string(raw))
	if m == "" {
		return "", usageErr("%s reads the recovery words from stdin or the terminal, and got none; pipe them in, or run on a terminal", who)
	}
	if err := secretstore.CheckMnemonic(m); err != nil {
		return "", withExitCode(ExitFailure, err)
	}
	return m, nil
}

const maxHSMSecretFile = 4096

func importHSMSecret(f *initFlags, network secretstore.Network) (*secretstore.Seed, error) {
	file, err := os.Open(f.importFile)
	if err != nil {
		return nil, withExitCode(ExitFailure, fmt.Errorf("cannot read the hsm_secret to import: %w", err))
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxHSMSecretFile+1))
	if err != nil {
		return nil, withExitCode(ExitFailure, fmt.Errorf("cannot read the hsm_secret to import: %w", err))
	}
	secretstore.Mlock(data)
	defer secretstore.Wipe(data)
	format, err := secretstore.DetectHSMSecret(data)
	if err != nil {
		return nil, withExitCode(ExitFailure, fmt.Errorf("%s: %w", f.importFile, err))
	}
	var hsmPass []byte
	if format.NeedsPassphrase() {
		var err error
		hsmPass, _, err = secretstore.ReadPassphrase(secretstore.PassphraseOptions{
			File:     f.hsmPassFile,
			Terminal: os.Stdin,
			Prompt:   os.Stderr,
			What:     "passphrase of the hsm_secret",
		})
		if errors.Is(err, secretstore.ErrNoPassphraseSource) {
			err = fmt.Errorf("%s is %s, and %w: pass --hsm-secret-passphrase-file FILE, or run on a terminal", f.importFile, format, err)
		}
		if err != nil {
			return nil, withExitCode(ExitSecretStore, err)
		}
		defer secretstore.Wipe(hsmPass)
	} else if f.hsmPassFile != "" {
		return nil, usageErr("%s is %s and has no passphrase; drop --hsm-secret-passphrase-file", f.importFile, format)
	}
	seed, err := secretstore.ImportHSMSecret(data, hsmPass, network)
	if err != nil {
		code := ExitFailure
		if errors.Is(err, secretstore.ErrWrongPassphrase) {
			code = ExitSecretStore
		}
		return nil, withExitCode(code, fmt.Errorf("%s: %w", f.importFile, err))
	}
	return seed, nil
}

// showWords prints the recovery words, numbered, four to a line.
func showWords(w io.Writer, words []string) {
	fmt.Fprintf(w, "Write down these %d recovery words, in order. They are the only backup of this\n", len(words))
	fmt.Fprintln(w, "node's funds: gl-signerd does not store them and will not show them again.")
	fmt.Fprintln(w)
	var line strings.Builder
	for i, word := range words {
		fmt.Fprintf(&line, "%4d %-10s", i+1, word)
		if i%4 == 3 || i == len(words)-1 {
			fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
			line.Reset()
		}
	}
	fmt.Fprintln(w)
}

// pickPositions returns k distinct word positions (0-based, ascending),
// chosen with crypto/rand.
func pickPositions(n, k int) ([]int, error) {
	chosen := map[int]bool{}
	for len(chosen) < k && len(chosen) < n {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
		if err != nil {
			return nil, err
		}
		chosen[int(v.Int64())] = true
	}
	out := make([]int, 0, k)
	for p := range chosen {
		out = append(out, p)
	}
	sort.Ints(out)
	return out, nil
}

const confirmAttempts = 3

// confirmWords asks for the words at positions and compares the answers,
// allowing a few attempts per word. Its error says nothing of the words.
func confirmWords(in *bufio.Reader, out io.Writer, words []string, positions []int) error {
	fmt.Fprintln(out, "To check your copy, type the words asked for.")
	for _, p := range positions {
		ok := false
		for attempt := 1; attempt <= confirmAttempts && !ok; attempt++ {
			fmt.Fprintf(out, "Word %d: ", p+1)
			line, err := in.ReadString('\n')
			answer := secretstore.NormalizeMnemonic(line)
			if answer == words[p] {
				ok = true
				break
			}
			if err != nil {
				return errors.New("the recovery words were not confirmed (input ended); nothing was written")
			}
			if attempt < confirmAttempts {
				fmt.Fprintf(out, "That is not word %d. Check your written copy and try again.\n", p+1)
			}
		}
		if !ok {
			return fmt.Errorf("word %d did not match your copy %d times; nothing was written: run init again for new words, and copy them carefully", p+1, confirmAttempts)
		}
	}
	return nil
}
