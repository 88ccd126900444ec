package secretstore

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"gl-signerd/internal/atomicfile"
	"gl-signerd/internal/filetrust"
)

// FileName is the store's name inside gl-signerd's state directory.
const FileName = "seed.enc"

const (
	magic         = "GLSDSEED"
	formatVersion = 1
	kdfArgon2id   = 1
	saltLen       = 16
	headerLen     = len(magic) + 1 + 1 + 4 + 4 + 1 + saltLen + chacha20poly1305.NonceSizeX // 59
	payloadFixed  = 3                                                                      // type, network, length
	tagLen        = chacha20poly1305.Overhead
	minStoreLen   = headerLen + payloadFixed + 32 + tagLen // 110
	maxStoreLen   = headerLen + payloadFixed + 64 + tagLen // 142
)

// The Argon2id costs a store may ask for. They are checked before the key
// is derived: the header is authenticated only by the key it yields, so a
// tampered header could otherwise make Open allocate and grind whatever it
// names. Every store gl-signerd has written fits (DefaultKDFParams since
// the first release: 4 passes, 256 MiB, 2 lanes; 1 pass, 64 KiB, 1 lane in
// tests and benchmarks); the bounds leave twice the default's memory and
// work for a future default, and no more: at most 512 MiB, at most 16
// passes, and passes × memory at most 8 × 256 MiB (twice the default's
// 0.5-0.65 s on the reference machine, by extrapolation).
const (
	maxArgonTime    = 16
	maxArgonMemKiB  = 512 << 10 // 512 MiB
	maxArgonLanes   = 16
	maxArgonWorkKiB = 8 * 256 << 10 // passes × KiB
)

var (
	// ErrWrongPassphrase means the store did not decrypt: the passphrase is
	// wrong, or the file was altered (the two cannot be told apart).
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrExists means Create found a store (or some other file) at the path.
	ErrExists = errors.New("a secret store already exists")
	// ErrEmptyPassphrase means an empty passphrase was given; it is refused.
	ErrEmptyPassphrase = errors.New("the passphrase is empty, and an empty passphrase is refused")
)

// KDFParams are the Argon2id costs recorded in a store's header.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory, KiB
	Threads   uint8  // lanes
}

// DefaultKDFParams returns the cost Create uses: 4 passes over 256 MiB with 2
// lanes, which takes about 0.5-0.65 s on the reference machine (2 shared
// cores, Go 1.26).
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 4, MemoryKiB: 256 * 1024, Threads: 2}
}

// check says whether p is within the bounds above (and Argon2id's own:
// at least 8 KiB per lane).
func (p KDFParams) check() error {
	var why string
	switch {
	case p.Time < 1 || p.Time > maxArgonTime:
		why = fmt.Sprintf("time must be 1 to %d", maxArgonTime)
	case p.Threads < 1 || p.Threads > maxArgonLanes:
		why = fmt.Sprintf("lanes must be 1 to %d", maxArgonLanes)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxArgonMemKiB:
		why = fmt.Sprintf("memory must be 8 KiB per lane to %d KiB", maxArgonMemKiB)
	case uint64(p.Time)*uint64(p.MemoryKiB) > maxArgonWorkKiB:
		why = fmt.Sprintf("time × memory must be at most %d KiB", maxArgonWorkKiB)
	default:
		return nil
	}
	return fmt.Errorf("its Argon2id parameters (time %d, memory %d KiB, lanes %d) are out of range: %s", p.Time, p.MemoryKiB, p.Threads, why)
}

type options struct {
	kdf KDFParams
}

// Option adjusts Create.
type Option func(*options)

// WithKDFParams sets the Argon2id cost of a new store. It exists so that
// tests can run fast; a store for real use keeps DefaultKDFParams. The cost
// is recorded in the header, so Open needs no option.
func WithKDFParams(p KDFParams) Option {
	return func(o *options) { o.kdf = p }
}

// FormatError means a file is not a usable store: not one at all, truncated,
// from a newer gl-signerd, or damaged. Reason reads as the end of a sentence.
type FormatError struct {
	Path   string // empty when decoding bytes that came from no file
	Reason string
}

func (e *FormatError) Error() string {
	name := "the secret store"
	if e.Path != "" {
		name = "secret store " + e.Path
	}
	return fmt.Sprintf("%s cannot be read: %s", name, e.Reason)
}

// PermissionError means a store, or its directory, is open to other users,
// belongs to another user, or is reached through a symlink into a
// directory others can write. Its text names the file and the command that
// fixes it.
type PermissionError = filetrust.Error

// Create encrypts seed under passphrase and writes it to path, which must not
// exist (ErrExists otherwise). The directory must exist and must not be
// writable by group or others. See the package documentation for the
// guarantees of the write.
func Create(path string, seed *Seed, passphrase []byte, opts ...Option) error {
	if err := seed.validate(); err != nil {
		return err
	}
	if len(passphrase) == 0 {
		return ErrEmptyPassphrase
	}
	o := options{kdf: DefaultKDFParams()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.kdf.check(); err != nil {
		return fmt.Errorf("secretstore: %s", err)
	}
	dir := filepath.Dir(path)
	if err := checkDir(dir); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return existsError(path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot check for an existing secret store at %s: %w", path, err)
	}
	data, err := seal(seed, passphrase, o.kdf, rand.Reader, argon2Key)
	if err != nil {
		return err
	}
	return writeNew(path, data)
}

func existsError(path string) error {
	return fmt.Errorf("%w at %s; gl-signerd never overwrites one (move it away first if you really mean to replace it)", ErrExists, path)
}

// Open reads and decrypts the store at path. It refuses (*PermissionError)
// a store another user owns or may access, in a directory another user owns
// or may write, or reached through a symlink into such a directory.
func Open(path string, passphrase []byte) (*Seed, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	if err := filetrust.CheckLinkTarget("secret store", path); err != nil {
		return nil, err
	}
	// Stat first, so that a FIFO or device at the path is refused rather
	// than opened (which could block).
	if fi, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("secret store %s does not exist: %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("cannot open secret store: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, &FormatError{Path: path, Reason: "it is not a regular file"}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open secret store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot open secret store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &FormatError{Path: path, Reason: "it is not a regular file"}
	}
	if err := filetrust.CheckPrivateFile("secret store", path, fi); err != nil {
		return nil, err
	}
	if err := checkDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(maxStoreLen)+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read secret store: %w", err)
	}
	defer Wipe(data)
	seed, err := decode(data, passphrase, argon2Key)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.Path = path
			return nil, fe
		}
		if errors.Is(err, ErrWrongPassphrase) {
			return nil, fmt.Errorf("cannot unlock secret store %s: %w, or the file was altered", path, ErrWrongPassphrase)
		}
		return nil, err
	}
	return seed, nil
}

// Decode decrypts a store's bytes. Open is the usual entry point; Decode
// serves tools that hold the bytes already.
func Decode(data, passphrase []byte) (*Seed, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	return decode(data, passphrase, argon2Key)
}

type kdfFunc func(passphrase, salt []byte, p KDFParams) []byte

func argon2Key(passphrase, salt []byte, p KDFParams) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, chacha20poly1305.KeySize)
}

func seal(seed *Seed, passphrase []byte, p KDFParams, rnd io.Reader, kdf kdfFunc) ([]byte, error) {
	header := make([]byte, headerLen, maxStoreLen)
	copy(header, magic)
	header[8] = formatVersion
	header[9] = kdfArgon2id
	binary.BigEndian.PutUint32(header[10:], p.Time)
	binary.BigEndian.PutUint32(header[14:], p.MemoryKiB)
	header[18] = p.Threads
	salt, nonce := header[19:19+saltLen], header[19+saltLen:headerLen]
	if _, err := io.ReadFull(rnd, header[19:headerLen]); err != nil {
		return nil, fmt.Errorf("secretstore: cannot read random bytes: %w", err)
	}

	payload := make([]byte, payloadFixed+len(seed.Secret))
	Mlock(payload)
	defer func() { Munlock(payload); Wipe(payload) }()
	payload[0] = byte(seed.Type)
	payload[1] = seed.Network.code()
	payload[2] = byte(len(seed.Secret))
	copy(payload[payloadFixed:], seed.Secret)

	key := kdf(passphrase, salt, p)
	Mlock(key)
	defer func() { Munlock(key); Wipe(key) }()
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("secretstore: %w", err)
	}
	return aead.Seal(header, nonce, payload, header), nil
}

func decode(data, passphrase []byte, kdf kdfFunc) (*Seed, error) {
	if len(data) < len(magic) || string(data[:len(magic)]) != magic {
		reason := "it is not a gl-signerd secret store (it does not start with " + magic + ")"
		switch len(data) {
		case 32, 73:
			reason += "; it looks like a CLN hsm_secret, which must be imported, not opened"
		}
		return nil, &FormatError{Reason: reason}
	}
	if len(data) < 10 {
		return nil, &FormatError{Reason: fmt.Sprintf("it is truncated (%d bytes)", len(data))}
	}
	if v := data[8]; v != formatVersion {
		return nil, &FormatError{Reason: fmt.Sprintf("it has format version %d, and this gl-signerd reads version %d only; upgrade gl-signerd", v, formatVersion)}
	}
	if k := data[9]; k != kdfArgon2id {
		return nil, &FormatError{Reason: fmt.Sprintf("it names key derivation function %d, which is not known", k)}
	}
	if len(data) != minStoreLen && len(data) != maxStoreLen {
		return nil, &FormatError{Reason: fmt.Sprintf("it is truncated or damaged (%d bytes, where a store has %d or %d)", len(data), minStoreLen, maxStoreLen)}
	}
	header := data[:headerLen]
	p := KDFParams{
		Time:      binary.BigEndian.Uint32(header[10:]),
		MemoryKiB: binary.BigEndian.Uint32(header[14:]),
		Threads:   header[18],
	}
	if err := p.check(); err != nil {
		return nil, &FormatError{Reason: "it is damaged: " + err.Error()}
	}
	salt, nonce := header[19:19+saltLen], header[19+saltLen:headerLen]

	key := kdf(passphrase, salt, p)
	Mlock(key)
	defer func() { Munlock(key); Wipe(key) }()
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("secretstore: %w", err)
	}
	payload := make([]byte, len(data)-headerLen-tagLen)
	Mlock(payload)
	defer func() { Munlock(payload); Wipe(payload) }()
	if _, err := aead.Open(payload[:0], nonce, data[headerLen:], header); err != nil {
		return nil, ErrWrongPassphrase
	}

	// The payload is authenticated, so the checks below fail only for a file
	// written by a faulty writer.
	typ, netCode, n := SecretType(payload[0]), payload[1], int(payload[2])
	if typ.Len() == 0 || typ.Len() != n || payloadFixed+n != len(payload) {
		return nil, &FormatError{Reason: fmt.Sprintf("it is damaged: the decrypted payload holds a secret of type %d and length %d, which do not fit", uint8(typ), n)}
	}
	if int(netCode) >= len(networkCodes) || netCode == 0 {
		return nil, &FormatError{Reason: fmt.Sprintf("it is damaged: network code %d is not known", netCode)}
	}
	secret := make([]byte, n)
	Mlock(secret)
	copy(secret, payload[payloadFixed:])
	return &Seed{Type: typ, Network: networkCodes[netCode], Secret: secret}, nil
}

// checkDir refuses a directory that another user owns or that group or
// others may write to.
func checkDir(dir string) error {
	return filetrust.CheckOwnDir("directory", dir)
}

// PrepareDir creates dir with mode 0700 if it does not exist, and checks that
// it is ours and that group and others cannot write to it (a directory
// systemd created with mode 0755 is accepted; the store itself is always
// 0600).
func PrepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create directory %s: %w", dir, err)
	}
	return checkDir(dir)
}

// testHookBeforeRename, when set by a test, runs after the temporary file is
// written and synced, and its error aborts the write.
var testHookBeforeRename func(tmp string) error

// writeNew writes data to a new file at path atomically
// (internal/atomicfile, without replacing a file there). After an error no
// temporary file remains.
func writeNew(path string, data []byte) error {
	err := atomicfile.Write(path, data, atomicfile.Options{NoReplace: true, BeforeRename: testHookBeforeRename,
		// Locked until it is the store, so that RemoveLeftovers in another
		// process tells a write in progress from a leftover.
		OnCreate: lockTemp})
	var unsynced *atomicfile.DirSyncError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &unsynced):
		// The store is in place; only its durability across a crash is in
		// doubt. Report it, but leave the file: removing it could lose the
		// only copy of a new seed whose words the user has not written down.
		return fmt.Errorf("secret store written to %s, but syncing directory %s failed: %w", path, unsynced.Dir, unsynced.Err)
	case errors.Is(err, fs.ErrExist):
		return existsError(path)
	}
	return fmt.Errorf("cannot write the secret store: %w", err)
}

// RemoveLeftovers removes what an interrupted atomic write of path left
// next to it (temporary files named .NAME.tmp-*, NAME being path's base:
// for the store, an encrypted store or part of one that never became the
// store) and returns their paths, for the caller to log. A temporary file
// whose writer still holds an flock on it is left alone: Create's does; a
// writer that does not lock (the daemon's device files) must hold the
// state directory's lock while it writes, as the caller does. The store's
// temporary files hold nothing readable without the passphrase; they are
// removed so that they do not pile up or get copied into backups as if
// they were the store.
func RemoveLeftovers(path string) (removed []string, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot look for leftovers of an interrupted init in %s: %w", dir, err)
	}
	prefix := "." + base + ".tmp-"
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		tmp := filepath.Join(dir, e.Name())
		f, gone, err := openLeftover(tmp)
		if err == nil && gone {
			err = os.Remove(tmp)
			if err == nil {
				removed = append(removed, tmp)
			}
		}
		if f != nil {
			f.Close()
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("cannot remove %s, left by an interrupted init: %w", tmp, err))
		}
	}
	return removed, errors.Join(errs...)
}
