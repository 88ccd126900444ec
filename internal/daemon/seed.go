package daemon

// The secret store as the daemon uses it: the state directory's lock, the
// network a seed is bound to, and the one place a seed becomes keys (the
// node key ring, the signing engine).

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"gl-signerd/config"
	"gl-signerd/internal/dirlock"
	"gl-signerd/internal/filetrust"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
	"gl-signerd/signer/keys"
)

// StorePath is the secret store's path in a state directory.
func StorePath(stateDir string) string { return filepath.Join(stateDir, secretstore.FileName) }

// LockStateDir checks that stateDir holds a secret store and takes its
// lock, so that no other gl-signerd uses the directory meanwhile. Its
// errors are of Kind SecretStore (no store, or a directory not ours alone)
// or Locked.
func LockStateDir(stateDir string) (*dirlock.Lock, error) {
	if _, err := os.Stat(StorePath(stateDir)); errors.Is(err, fs.ErrNotExist) {
		return nil, withKind(SecretStore, fmt.Errorf(
			"there is no secret store in %s: create one with gl-signerd init, or point --state-dir at the right directory", stateDir))
	}
	return acquireStateDir(stateDir)
}

// acquireStateDir takes stateDir's lock, with LockStateDir's error kinds.
func acquireStateDir(stateDir string) (*dirlock.Lock, error) {
	l, err := dirlock.Acquire(stateDir)
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return nil, withKind(Locked, err)
	}
	var untrusted *filetrust.Error
	if errors.As(err, &untrusted) {
		return nil, withKind(SecretStore, err)
	}
	if err != nil {
		return nil, withKind(Failed, err)
	}
	return l, nil
}

// seedNetwork returns the network to use: the seed's, which a network
// setting may repeat but not contradict.
func seedNetwork(cfg *config.Config, seed *secretstore.Seed) (string, error) {
	if cfg.Network != "" && cfg.Network != string(seed.Network) {
		return "", withKind(Config, fmt.Errorf(
			"the secret store is for %s, but the configuration says network %s; a seed is bound to its network: fix the setting, or use a store made for %s",
			seed.Network, cfg.Network, cfg.Network))
	}
	return string(seed.Network), nil
}

// SecretType is how CLN's key derivation reads seed's secret: the one
// place a seed's type becomes keys' (hsmd serve builds its engine with it).
func SecretType(seed *secretstore.Seed) keys.SecretType {
	return keys.SecretType(seed.Type.CLNType())
}

// nodeKeys derives the node's key ring from seed, as CLN's hsmd does.
// The caller wipes it.
func nodeKeys(seed *secretstore.Seed) (*keys.Ring, error) {
	return keys.New(seed.Secret, keys.WithSecretType(SecretType(seed)))
}

// NodeID is the node id CLN's hsmd would announce for seed.
func NodeID(seed *secretstore.Seed) ([33]byte, error) {
	ring, err := nodeKeys(seed)
	if err != nil {
		return [33]byte{}, fmt.Errorf("cannot derive the node id: %w", err)
	}
	defer ring.Wipe()
	return ring.NodeID(), nil
}

// NewEngine builds the signing engine for seed on its network, with extra
// options (policyOptions). The network and wire version are ours to fix:
// the engine refuses hsmd_init, and the policy checks hold requests to that
// network. The caller wipes it.
func NewEngine(seed *secretstore.Seed, extra ...signer.Option) (*signer.Engine, error) {
	if _, ok := signer.BIP32VersionFor(string(seed.Network)); !ok {
		return nil, fmt.Errorf("cannot start the signing engine: the secret store's network %q is not one CLN knows", seed.Network)
	}
	opts := append([]signer.Option{
		signer.WithSecretType(SecretType(seed)),
		signer.WithFixedNetwork(string(seed.Network)),
	}, extra...)
	eng, err := signer.NewEngine(seed.Secret, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot start the signing engine: %w", err)
	}
	return eng, nil
}
