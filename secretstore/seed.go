package secretstore

import (
	"fmt"
	"strings"
)

// SecretType says where a secret came from and how long it is. The signer
// treats every 32-byte secret alike (CLN's hsmd does too), but hsmd reports
// the kind of hsm_secret it loaded in its init reply, so the store keeps it
// (CLNType).
type SecretType uint8

const (
	// TypeGreenlight is the first 32 bytes of the BIP39 seed of a mnemonic
	// with an empty BIP39 passphrase: what Greenlight clients store as
	// hsm_secret.
	TypeGreenlight SecretType = 1
	// TypeHSMSecret is a 32-byte CLN hsm_secret from the plain layout.
	TypeHSMSecret SecretType = 2
	// TypeHSMSecretEncrypted is a 32-byte CLN hsm_secret that was stored in
	// CLN's passphrase-encrypted (73-byte) layout.
	TypeHSMSecretEncrypted SecretType = 3
	// TypeBIP39Seed is a 64-byte BIP39 seed from CLN's mnemonic layout
	// without a passphrase (CLN v25.09 and later).
	TypeBIP39Seed SecretType = 4
	// TypeBIP39SeedWithPassphrase is a 64-byte BIP39 seed from CLN's
	// mnemonic layout with a BIP39 passphrase.
	TypeBIP39SeedWithPassphrase SecretType = 5
)

// Len returns the secret length the type requires, or 0 for an unknown type.
func (t SecretType) Len() int {
	switch t {
	case TypeGreenlight, TypeHSMSecret, TypeHSMSecretEncrypted:
		return 32
	case TypeBIP39Seed, TypeBIP39SeedWithPassphrase:
		return 64
	}
	return 0
}

// CLNType returns CLN's enum hsm_secret_type (common/hsm_secret.h) for the
// secret, the value hsmd puts in its init reply: 0 plain, 1 encrypted,
// 2 mnemonic without passphrase, 3 mnemonic with passphrase. A Greenlight
// secret is a plain 32-byte hsm_secret to CLN.
func (t SecretType) CLNType() uint8 {
	switch t {
	case TypeHSMSecretEncrypted:
		return 1
	case TypeBIP39Seed:
		return 2
	case TypeBIP39SeedWithPassphrase:
		return 3
	}
	return 0
}

func (t SecretType) String() string {
	switch t {
	case TypeGreenlight:
		return "greenlight"
	case TypeHSMSecret:
		return "hsm_secret"
	case TypeHSMSecretEncrypted:
		return "hsm_secret (was encrypted)"
	case TypeBIP39Seed:
		return "bip39-seed"
	case TypeBIP39SeedWithPassphrase:
		return "bip39-seed (with passphrase)"
	}
	return fmt.Sprintf("unknown(%d)", uint8(t))
}

// Network is a Bitcoin network name as CLN spells it.
type Network string

// The networks a store can be bound to.
const (
	Bitcoin Network = "bitcoin"
	Testnet Network = "testnet"
	Signet  Network = "signet"
	Regtest Network = "regtest"
)

var networkCodes = []Network{1: Bitcoin, 2: Testnet, 3: Signet, 4: Regtest}

// Networks lists the valid network names, in their on-disk order.
func Networks() []Network { return append([]Network(nil), networkCodes[1:]...) }

func networkNames() string {
	names := make([]string, 0, len(networkCodes)-1)
	for _, n := range networkCodes[1:] {
		names = append(names, string(n))
	}
	return strings.Join(names, ", ")
}

// ParseNetwork checks a network name.
func ParseNetwork(s string) (Network, error) {
	for _, n := range networkCodes[1:] {
		if string(n) == s {
			return n, nil
		}
	}
	return "", fmt.Errorf("network %q is not one of %s", s, networkNames())
}

func (n Network) code() byte {
	for i, m := range networkCodes {
		if i > 0 && m == n {
			return byte(i)
		}
	}
	return 0
}

// Seed is the content of a store: the secret and what it is for.
//
// Its String and GoString methods describe the seed without its bytes, so a
// Seed printed by mistake leaks nothing.
type Seed struct {
	Type    SecretType
	Network Network
	// Secret is 32 or 64 bytes (as Type says). Call Wipe when done.
	Secret []byte
}

// Wipe zeroes the secret and unlocks its memory.
func (s *Seed) Wipe() {
	if s == nil {
		return
	}
	Munlock(s.Secret)
	Wipe(s.Secret)
}

// String describes the seed without revealing it. (String, GoString and
// Format have value receivers so that a Seed printed by value is covered
// too.)
func (s Seed) String() string {
	return fmt.Sprintf("%s secret (%d bytes) for %s", s.Type, len(s.Secret), s.Network)
}

// GoString keeps %#v from printing the secret.
func (s Seed) GoString() string { return "secretstore.Seed{" + s.String() + "}" }

// Format keeps every verb (%x, %v, %+v, ...) from printing the secret.
func (s Seed) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

func (s *Seed) validate() error {
	if s == nil {
		return fmt.Errorf("secretstore: no seed given")
	}
	if s.Type.Len() == 0 {
		return fmt.Errorf("secretstore: secret type %d is not known", uint8(s.Type))
	}
	if len(s.Secret) != s.Type.Len() {
		return fmt.Errorf("secretstore: a %s secret must be %d bytes, not %d", s.Type, s.Type.Len(), len(s.Secret))
	}
	if s.Network.code() == 0 {
		return fmt.Errorf("secretstore: network %q is not one of %s", s.Network, networkNames())
	}
	return nil
}
