package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gl-signerd/internal/dirlock"
	"gl-signerd/secretstore"
	"gl-signerd/signer/keys"
	"gl-signerd/streamer"
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

// lockStateDir checks that stateDir holds a secret store and takes its
// lock, so that no other gl-signerd uses the directory meanwhile.
func lockStateDir(stateDir string) (*dirlock.Lock, error) {
	if _, err := os.Stat(storePath(stateDir)); errors.Is(err, fs.ErrNotExist) {
		return nil, withExitCode(ExitSecretStore, fmt.Errorf(
			"there is no secret store in %s: create one with gl-signerd init, or point --state-dir at the right directory", stateDir))
	}
	l, err := dirlock.Acquire(stateDir)
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return nil, withExitCode(ExitLocked, err)
	}
	if err != nil {
		return nil, withExitCode(ExitFailure, err)
	}
	return l, nil
}

// greenlightSession is what register and recover set up before talking to
// the scheduler: the locked state directory, the unlocked seed, the
// network and the nobody-identity scheduler client.
type greenlightSession struct {
	stateDir string
	lock     *dirlock.Lock
	seed     *secretstore.Seed
	network  string
	uri      string
	ca       []byte
	sched    *streamer.SchedulerClient
	ring     *keys.Ring
}

func (s *greenlightSession) Close() {
	if s.ring != nil {
		s.ring.Wipe()
	}
	if s.sched != nil {
		s.sched.Close()
	}
	if s.seed != nil {
		s.seed.Wipe()
	}
	s.lock.Release()
}

// openGreenlightSession does the local checks, cheapest first, so that a
// mistake is reported before a passphrase is asked for and before any
// network traffic.
func openGreenlightSession(cmd *cobra.Command, stateDirFlag, configFile, passFile string, refuseExisting bool) (*greenlightSession, error) {
	if err := secretstore.DisableCoreDumps(); err != nil {
		return nil, err
	}
	stateDir, err := resolveStateDir(stateDirFlag)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(cmd, stateDir, configFile)
	if err != nil {
		return nil, err
	}
	lock, err := lockStateDir(stateDir)
	if err != nil {
		return nil, err
	}
	s := &greenlightSession{stateDir: stateDir, lock: lock, uri: cfg.Scheduler.URI}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if refuseExisting {
		certPath := filepath.Join(stateDir, deviceCertFile)
		if _, err := os.Lstat(certPath); err == nil {
			return nil, withExitCode(ExitFailure, fmt.Errorf(
				"%s already holds a device certificate (%s): the node is registered; start it with gl-signerd run, or get a new certificate with gl-signerd recover", stateDir, certPath))
		}
	}
	if s.ca, err = caPEM(cfg, stateDir); err != nil {
		return nil, err
	}
	creds, err := nobodyTLS(cfg, s.ca)
	if err != nil {
		return nil, err
	}
	if s.seed, err = openSeed(stateDir, passFile); err != nil {
		return nil, err
	}
	if s.network, err = seedNetwork(cfg, s.seed); err != nil {
		return nil, err
	}
	if s.ring, err = keys.New(s.seed.Secret, keys.WithSecretType(keys.SecretType(s.seed.Type.CLNType()))); err != nil {
		return nil, fmt.Errorf("cannot derive the node key: %w", err)
	}
	if s.sched, err = dialScheduler(s.uri, creds, "tls.nobody_cert and tls.nobody_key"); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// interruptible is a context for one scheduler exchange: bounded, and
// ended by SIGINT/SIGTERM.
func interruptible() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, schedulerTimeout)
	return ctx, func() { cancel(); stop() }
}

func runRegister(cmd *cobra.Command, f *registerFlags) error {
	s, err := openGreenlightSession(cmd, f.stateDir, f.configFile, f.passFile, true)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := interruptible()
	defer cancel()

	eng, err := newEngine(s.seed, s.network)
	if err != nil {
		return err
	}
	defer eng.Wipe()
	initMsg, startup, err := startupMessages(ctx, eng, s.network)
	if err != nil {
		return err
	}
	dev, err := streamer.Register(ctx, s.sched, nodeKeySigner{s.ring}, streamer.Registration{
		Network:     s.network,
		SignerProto: signerProto(),
		InitMsg:     initMsg,
		StartupMsgs: startup,
		InviteCode:  f.inviteCode,
	})
	if err != nil {
		return schedulerError(s.uri, "Register", err)
	}
	return storeDevice(cmd, s, dev, "registered")
}

// storeDevice saves a new device identity and says what happened.
func storeDevice(cmd *cobra.Command, s *greenlightSession, dev *streamer.Device, verb string) error {
	info, err := streamer.ParseCertInfo(dev.Cert)
	if err != nil {
		return withExitCode(ExitNetwork, fmt.Errorf("the scheduler returned an unusable device certificate: %w", err))
	}
	if err := saveDevice(s.stateDir, dev, s.ca); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s node %s on %s\n", verb, hex.EncodeToString(dev.NodeID[:]), s.network)
	fmt.Fprintf(out, "device certificate: %s (%s, valid until %s)\n",
		filepath.Join(s.stateDir, deviceCertFile), info.CommonName, info.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintln(out, "start the signer with: gl-signerd run")
	return nil
}
