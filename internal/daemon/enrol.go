package daemon

// Enrolment: getting the device certificate Run needs from the
// scheduler, with Greenlight's developer ("nobody") identity, by proving
// control of the node key.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"gl-signerd/config"
	"gl-signerd/internal/dirlock"
	"gl-signerd/secretstore"
	"gl-signerd/signer/keys"
	"gl-signerd/streamer"
)

// EnrolOptions is what Register and Recover need from the command line.
type EnrolOptions struct {
	// StateDir is the state directory, an absolute path.
	StateDir string
	// Config is the loaded configuration.
	Config *config.Config
	// Unlock opens the secret store, once the state directory is locked
	// and the TLS settings checked; its errors are returned as they are.
	Unlock func() (*secretstore.Seed, error)
}

// Enrolled is the device identity Register or Recover stored.
type Enrolled struct {
	NodeID   [33]byte
	Network  string
	CertPath string
	Cert     streamer.CertInfo
}

// OpenEnrolment does the local checks Register and Recover need,
// cheapest first, so that a mistake is reported before a passphrase is
// asked for and before any network traffic: it locks the state directory,
// reads the TLS settings, unlocks the seed and prepares the scheduler
// client. With refuseExisting, a state directory that already holds a
// device certificate is refused. The caller closes the enrolment.
func OpenEnrolment(o EnrolOptions, refuseExisting bool) (*Enrolment, error) {
	lock, err := LockStateDir(o.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Enrolment{stateDir: o.StateDir, lock: lock, uri: o.Config.Scheduler.URI}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if refuseExisting {
		certPath := filepath.Join(o.StateDir, deviceCertFile)
		if _, err := os.Lstat(certPath); err == nil {
			return nil, withKind(Failed, fmt.Errorf(
				"%s already holds a device certificate (%s): the node is registered; start it with gl-signerd run, or get a new certificate with gl-signerd recover", o.StateDir, certPath))
		}
	}
	if s.ca, err = caPEM(o.Config, o.StateDir); err != nil {
		return nil, err
	}
	creds, err := nobodyTLS(o.Config, s.ca)
	if err != nil {
		return nil, err
	}
	if s.seed, err = o.Unlock(); err != nil {
		return nil, err
	}
	if s.network, err = seedNetwork(o.Config, s.seed); err != nil {
		return nil, err
	}
	if s.ring, err = nodeKeys(s.seed); err != nil {
		return nil, fmt.Errorf("cannot derive the node key: %w", err)
	}
	if s.sched, err = dialScheduler(s.uri, creds, "tls.nobody_cert and tls.nobody_key"); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// Register registers a new node with the scheduler (sending the engine's
// init message and start-up answers) and stores the device certificate it
// signs.
func (s *Enrolment) Register(ctx context.Context, inviteCode string) (*Enrolled, error) {
	ctx, cancel := context.WithTimeout(ctx, schedulerTimeout)
	defer cancel()
	eng, err := NewEngine(s.seed)
	if err != nil {
		return nil, err
	}
	defer eng.Wipe()
	initMsg, startup, err := startupMessages(ctx, eng, s.network)
	if err != nil {
		return nil, err
	}
	dev, err := streamer.Register(ctx, s.sched, nodeKeySigner{s.ring}, streamer.Registration{
		Network:     s.network,
		SignerProto: signerProto(),
		InitMsg:     initMsg,
		StartupMsgs: startup,
		InviteCode:  inviteCode,
	})
	if err != nil {
		return nil, schedulerError(s.uri, "Register", err)
	}
	return s.store(dev)
}

// Recover gets a new device certificate for a node the scheduler knows
// and stores it, replacing the one in the state directory.
func (s *Enrolment) Recover(ctx context.Context) (*Enrolled, error) {
	ctx, cancel := context.WithTimeout(ctx, schedulerTimeout)
	defer cancel()
	dev, err := streamer.Recover(ctx, s.sched, nodeKeySigner{s.ring})
	if err != nil {
		return nil, schedulerError(s.uri, "Recover", err)
	}
	return s.store(dev)
}

// Enrolment is what Register and Recover set up before talking to the
// scheduler: the locked state directory, the unlocked seed, the network
// and the nobody-identity scheduler client.
type Enrolment struct {
	stateDir string
	lock     *dirlock.Lock
	seed     *secretstore.Seed
	network  string
	uri      string
	ca       []byte
	sched    *streamer.SchedulerClient
	ring     *keys.Ring
}

// Close wipes the seed and keys and releases the state directory.
func (s *Enrolment) Close() {
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

// store saves a new device identity.
func (s *Enrolment) store(dev *streamer.Device) (*Enrolled, error) {
	info, err := streamer.ParseCertInfo(dev.Cert)
	if err != nil {
		return nil, withKind(Network, fmt.Errorf("the scheduler returned an unusable device certificate: %w", err))
	}
	if err := saveDevice(s.stateDir, dev, s.ca); err != nil {
		return nil, err
	}
	return &Enrolled{NodeID: dev.NodeID, Network: s.network, CertPath: filepath.Join(s.stateDir, deviceCertFile), Cert: info}, nil
}
