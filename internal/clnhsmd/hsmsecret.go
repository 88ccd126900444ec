package clnhsmd

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tyler-smith/go-bip39"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/atomicfile"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
	"gl-signerd/signer/keys"
)

// HSMSecretFile is the file CLN's hsmd keeps its secret in, in lightningd's
// network directory (hsmd's working directory).
const HSMSecretFile = "hsm_secret"

// maxHSMSecretLen bounds what is read: the largest layout is a hash and 24
// words.
const maxHSMSecretLen = 4096

// OpenHSMSecret makes the engine of a drop-in hsmd at hsmd_init: it reads
// dir/hsm_secret in every layout CLN v26.06.6 reads (plain 32 bytes,
// passphrase-encrypted, mnemonic with or without passphrase), with the
// passphrase lightningd sent in init, and creates a new mnemonic one when
// there is none, as hsmd.c's maybe_create_new_hsm does. opts go to
// signer.NewEngine; failures are *InitError.
func OpenHSMSecret(dir string, init *hsmproto.Init, logf func(LogLevel, string), opts ...signer.Option) (*signer.Engine, error) {
	var pass []byte
	if init.Tlvs.HsmPassphrase != nil {
		pass = []byte(*init.Tlvs.HsmPassphrase)
		defer secretstore.Wipe(pass)
	}
	path := filepath.Join(dir, HSMSecretFile)
	created, err := createHSMSecret(path, pass)
	if err != nil {
		return nil, err
	}
	if created {
		logf(LogUnusual, "HSM: created new hsm_secret file")
	}
	seed, err := loadHSMSecret(path, pass)
	if err != nil {
		return nil, err
	}
	defer seed.Wipe()
	e, err := signer.NewEngine(seed.Secret, append([]signer.Option{
		signer.WithSecretType(keys.SecretType(seed.Type.CLNType()))}, opts...)...)
	if err != nil {
		return nil, &InitError{Code: ErrCodeSeedDerivation, Message: "Failed to load hsm_secret: " + err.Error()}
	}
	return e, nil
}

// createHSMSecret writes a new mnemonic hsm_secret at path unless one
// exists, as hsmd.c's create_hsm does: the SHA-256 of the BIP39 seed (zeros
// without a passphrase), then twelve words; synced with its directory,
// mode 0400.
func createHSMSecret(path string, pass []byte) (created bool, err error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	mnemonic, err := secretstore.NewMnemonic(12)
	if err != nil {
		return false, &InitError{Code: ErrCodeSeedDerivation, Message: "Failed to generate mnemonic from entropy: " + err.Error()}
	}
	data := make([]byte, 32, 32+len(mnemonic))
	if len(pass) > 0 {
		seed := bip39.NewSeed(mnemonic, string(pass))
		h := sha256.Sum256(seed)
		copy(data, h[:])
		secretstore.Wipe(seed)
	}
	data = append(data, mnemonic...)
	defer secretstore.Wipe(data)
	err = atomicfile.Write(path, data, atomicfile.Options{NoReplace: true})
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err == nil {
		err = os.Chmod(path, 0o400)
	}
	if err != nil {
		return false, &InitError{Code: ErrCodeInvalidFormat, Message: "creating hsm_secret: " + err.Error()}
	}
	return true, nil
}

// loadHSMSecret reads path as hsmd.c's load_hsm does, with CLN's error
// codes and texts ("Failed to load hsm_secret: Wrong passphrase").
func loadHSMSecret(path string, pass []byte) (*secretstore.Seed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InitError{Code: ErrCodeInvalidFormat, Message: "Could not read hsm_secret: " + err.Error()}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxHSMSecretLen+1))
	f.Close()
	if err != nil {
		return nil, &InitError{Code: ErrCodeInvalidFormat, Message: "Could not read hsm_secret: " + err.Error()}
	}
	defer secretstore.Wipe(data)
	failed := func(code uint32, text string) error {
		return &InitError{Code: code, Message: "Failed to load hsm_secret: " + text}
	}
	format, err := secretstore.DetectHSMSecret(data)
	if err != nil {
		return nil, failed(ErrCodeInvalidFormat, "Invalid hsm_secret format")
	}
	switch {
	case format == secretstore.HSMSecretPlain:
		// CLN ignores a passphrase given for a plain secret.
		pass = nil
	case format.NeedsPassphrase() && len(pass) == 0:
		return nil, failed(ErrCodePassphraseRequired, "Passphrase required but not provided")
	case !format.NeedsPassphrase() && pass != nil:
		return nil, failed(ErrCodePassphraseNotNeeded, "Passphrase provided but not needed")
	}
	// The network only labels the Seed; the engine takes it from hsmd_init.
	seed, err := secretstore.ImportHSMSecret(data, pass, secretstore.Bitcoin)
	var me *secretstore.MnemonicError
	switch {
	case err == nil:
		return seed, nil
	case errors.Is(err, secretstore.ErrWrongPassphrase):
		return nil, failed(ErrCodeWrongPassphrase, "Wrong passphrase")
	case errors.As(err, &me):
		return nil, failed(ErrCodeInvalidMnemonic, "Invalid mnemonic")
	default:
		return nil, failed(ErrCodeInvalidFormat, fmt.Sprintf("Invalid hsm_secret format (%v)", err))
	}
}
