package secretstore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testKDF is the cheap Argon2id cost tests use.
var testKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

var testPass = []byte("correct horse battery staple")

func testSeed(typ SecretType, network Network) *Seed {
	s := make([]byte, typ.Len())
	for i := range s {
		s[i] = byte(0xA0 + i)
	}
	return &Seed{Type: typ, Network: network, Secret: s}
}

func newStore(t *testing.T, seed *Seed) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	if err := Create(path, seed, testPass, WithKDFParams(testKDF)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return path
}

// assertNoSecrets fails if msg contains the passphrase, the secret's bytes in
// any common rendering, or a word of the mnemonic.
func assertNoSecrets(t *testing.T, msg string, secret []byte, pass []byte, mnemonic string) {
	t.Helper()
	lower := strings.ToLower(msg)
	if len(pass) > 0 && strings.Contains(msg, string(pass)) {
		t.Errorf("message contains the passphrase: %q", msg)
	}
	if len(secret) > 0 {
		if strings.Contains(lower, hex.EncodeToString(secret[:8])) || strings.Contains(msg, string(secret[:8])) ||
			strings.Contains(msg, fmt.Sprint(secret[:4])[1:8]) {
			t.Errorf("message contains secret bytes: %q", msg)
		}
	}
	for _, w := range strings.Fields(mnemonic) {
		if strings.Contains(lower, w) {
			t.Errorf("message contains mnemonic word %q: %q", w, msg)
		}
	}
}

func TestCreateOpenRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		typ     SecretType
		network Network
		size    int64
	}{
		{TypeGreenlight, Bitcoin, 110},
		{TypeHSMSecret, Testnet, 110},
		{TypeBIP39Seed, Signet, 142},
		{TypeGreenlight, Regtest, 110},
		{TypeHSMSecretEncrypted, Bitcoin, 110},
		{TypeBIP39SeedWithPassphrase, Testnet, 142},
	} {
		t.Run(fmt.Sprintf("%s-%s", tc.typ, tc.network), func(t *testing.T) {
			in := testSeed(tc.typ, tc.network)
			path := newStore(t, in)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 || fi.Size() != tc.size {
				t.Errorf("store has mode %04o and %d bytes, want 0600 and %d", fi.Mode().Perm(), fi.Size(), tc.size)
			}
			out, err := Open(path, testPass)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer out.Wipe()
			if out.Type != tc.typ || out.Network != tc.network || !bytes.Equal(out.Secret, in.Secret) {
				t.Errorf("Open = %v, want %v", out, in)
			}
			raw, _ := os.ReadFile(path)
			if bytes.Contains(raw, in.Secret[:8]) {
				t.Error("the store file contains secret bytes in the clear")
			}
		})
	}
}

func TestDefaultKDFCost(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the real Argon2id cost")
	}
	p := DefaultKDFParams()
	start := time.Now()
	argon2Key(testPass, make([]byte, saltLen), p)
	d := time.Since(start)
	t.Logf("Argon2id time=%d memory=%d KiB lanes=%d took %v", p.Time, p.MemoryKiB, p.Threads, d)
}

func TestWrongPassphrase(t *testing.T) {
	in := testSeed(TypeGreenlight, Bitcoin)
	path := newStore(t, in)
	wrong := []byte("incorrect horse")
	_, err := Open(path, wrong)
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	want := "cannot unlock secret store " + path + ": wrong passphrase, or the file was altered"
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	assertNoSecrets(t, err.Error(), in.Secret, wrong, "")
	assertNoSecrets(t, err.Error(), in.Secret, testPass, "")
}

func TestEmptyPassphrase(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if err := Create(path, testSeed(TypeGreenlight, Bitcoin), nil, WithKDFParams(testKDF)); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("Create with an empty passphrase: %v", err)
	}
	if _, err := Open(path, []byte{}); !errors.Is(err, ErrEmptyPassphrase) {
		t.Errorf("Open with an empty passphrase: %v", err)
	}
}

// Every single-byte change to a store is caught, and no error carries a secret.
func TestTamperedStore(t *testing.T) {
	in := testSeed(TypeBIP39Seed, Bitcoin)
	path := newStore(t, in)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x80
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		seed, err := Open(path, testPass)
		if err == nil {
			t.Fatalf("flipping byte %d went unnoticed: %v", i, seed)
		}
		var fe *FormatError
		if !errors.Is(err, ErrWrongPassphrase) && !errors.As(err, &fe) {
			t.Errorf("byte %d: unexpected error kind %T: %v", i, err, err)
		}
		assertNoSecrets(t, err.Error(), in.Secret, testPass, "")
	}
}

func TestFormatErrors(t *testing.T) {
	valid, err := seal(testSeed(TypeGreenlight, Bitcoin), testPass, testKDF, rand.Reader, argon2Key)
	if err != nil {
		t.Fatal(err)
	}
	version2 := bytes.Clone(valid)
	version2[8] = 2
	hugeCost := bytes.Clone(valid)
	copy(hugeCost[14:18], []byte{0xff, 0xff, 0xff, 0xff})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "it is not a gl-signerd secret store (it does not start with GLSDSEED)"},
		{"hsm_secret", make([]byte, 32), "it looks like a CLN hsm_secret, which must be imported, not opened"},
		{"text", []byte("hello, world, this is a text file"), "it is not a gl-signerd secret store"},
		{"truncated", valid[:80], "it is truncated or damaged (80 bytes, where a store has 110 or 142)"},
		{"longer", append(bytes.Clone(valid), 0), "it is truncated or damaged (111 bytes"},
		{"version", version2, "it has format version 2, and this gl-signerd reads version 1 only; upgrade gl-signerd"},
		{"cost", hugeCost, "it is damaged: its Argon2id parameters (time 1, memory 4294967295 KiB, lanes 1) are out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data, testPass)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode: %v, want a *FormatError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPermissionRefusal(t *testing.T) {
	path := newStore(t, testSeed(TypeGreenlight, Bitcoin))
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o644, 0o666} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, testPass)
		var pe *PermissionError
		if !errors.As(err, &pe) || pe.Path != path {
			t.Fatalf("mode %04o: Open = %v, want a *PermissionError for the store", mode, err)
		}
		want := fmt.Sprintf("secret store %s has mode %04o, which lets other users read it; fix it with: chmod 600 %s", path, mode, path)
		if err.Error() != want {
			t.Errorf("error = %q\nwant    %q", err, want)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, testPass); err != nil {
		t.Errorf("mode 0400 (narrower) refused: %v", err)
	} else {
		s.Wipe()
	}

	dir := filepath.Dir(path)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	_, err := Open(path, testPass)
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Path != dir || !strings.Contains(err.Error(), "chmod 700 "+dir) {
		t.Errorf("world-writable directory: Open = %v, want a directory *PermissionError", err)
	}
	if err := Create(filepath.Join(dir, "other"), testSeed(TypeGreenlight, Bitcoin), testPass, WithKDFParams(testKDF)); !errors.As(err, &pe) {
		t.Errorf("Create in a world-writable directory: %v, want a *PermissionError", err)
	}
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), FileName), testPass)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing store: %v, want fs.ErrNotExist", err)
	}
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCreateRefusesExisting(t *testing.T) {
	path := newStore(t, testSeed(TypeGreenlight, Bitcoin))
	before, _ := os.ReadFile(path)
	err := Create(path, testSeed(TypeHSMSecret, Testnet), testPass, WithKDFParams(testKDF))
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Create over a store: %v, want ErrExists naming the path", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the existing store changed")
	}
	if tmp := tempFiles(t, filepath.Dir(path)); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestAtomicWriteLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	t.Cleanup(func() { testHookBeforeRename = nil })

	// A failure after the temporary file is written.
	testHookBeforeRename = func(tmp string) error {
		if _, err := os.Stat(tmp); err != nil {
			t.Errorf("temporary file missing before rename: %v", err)
		}
		return errors.New("injected failure")
	}
	if err := Create(path, testSeed(TypeGreenlight, Bitcoin), testPass, WithKDFParams(testKDF)); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("Create = %v, want the injected failure", err)
	}
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("store exists after a failed Create: %v", err)
	}

	// Another writer wins the race between the existence check and the
	// rename: the rename must not replace its file.
	testHookBeforeRename = func(string) error {
		return os.WriteFile(path, []byte("the other writer"), 0o600)
	}
	err := Create(path, testSeed(TypeGreenlight, Bitcoin), testPass, WithKDFParams(testKDF))
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Create racing another writer = %v, want ErrExists", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "the other writer" {
		t.Errorf("the other writer's file was replaced: %q", got)
	}
	if tmp := tempFiles(t, dir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestCreateValidates(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		seed *Seed
		want string
	}{
		{nil, "no seed given"},
		{&Seed{Type: 9, Network: Bitcoin, Secret: make([]byte, 32)}, "secret type 9 is not known"},
		{&Seed{Type: TypeGreenlight, Network: Bitcoin, Secret: make([]byte, 64)}, "a greenlight secret must be 32 bytes, not 64"},
		{&Seed{Type: TypeGreenlight, Network: "mainnet", Secret: make([]byte, 32)}, `network "mainnet" is not one of bitcoin, testnet, signet, regtest`},
	} {
		err := Create(filepath.Join(dir, FileName), tc.seed, testPass, WithKDFParams(testKDF))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create(%v) = %v, want %q", tc.seed, err, tc.want)
		}
	}
	if err := Create(filepath.Join(dir, "missing", FileName), testSeed(TypeGreenlight, Bitcoin), testPass, WithKDFParams(testKDF)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Create in a missing directory: %v", err)
	}
}

func TestSeedPrintsNoSecret(t *testing.T) {
	s := testSeed(TypeGreenlight, Bitcoin)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, v := range []any{s, *s, []*Seed{s}, struct{ S Seed }{*s}} {
			out := fmt.Sprintf(verb, v)
			assertNoSecrets(t, out, s.Secret, nil, "")
			if strings.Contains(out, "160") { // 0xA0, as %d would print it
				t.Errorf("%s printed secret bytes: %q", verb, out)
			}
		}
	}
	var nilSeed *Seed
	if got := fmt.Sprint(nilSeed); got != "<nil>" {
		t.Errorf("nil seed prints %q", got)
	}
	if got := fmt.Sprint(s); got != "greenlight secret (32 bytes) for bitcoin" {
		t.Errorf("String() = %q", got)
	}
}

func TestCLNType(t *testing.T) {
	for typ, want := range map[SecretType]uint8{
		TypeGreenlight: 0, TypeHSMSecret: 0, TypeHSMSecretEncrypted: 1, TypeBIP39Seed: 2, TypeBIP39SeedWithPassphrase: 3,
	} {
		if got := typ.CLNType(); got != want {
			t.Errorf("%s.CLNType() = %d, want %d", typ, got, want)
		}
	}
}

func TestWipe(t *testing.T) {
	s := testSeed(TypeBIP39Seed, Bitcoin)
	s.Wipe()
	if !bytes.Equal(s.Secret, make([]byte, 64)) {
		t.Error("Wipe left secret bytes")
	}
	var nilSeed *Seed
	nilSeed.Wipe()
}

func TestPrepareDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := PrepareDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("new state directory has mode %04o, want 0700", fi.Mode().Perm())
	}
	os.Chmod(dir, 0o755)
	if err := PrepareDir(dir); err != nil {
		t.Errorf("mode 0755 (systemd's default) refused: %v", err)
	}
	os.Chmod(dir, 0o775)
	var pe *PermissionError
	if err := PrepareDir(dir); !errors.As(err, &pe) {
		t.Errorf("group-writable directory: %v", err)
	}
}
