package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/shachain"
)

// Secrets are the per-commitment secrets a counterparty revealed, in BOLT
// 3's compact storage: any revealed secret can be derived again from at
// most 48 stored hashes. Secrets arrive in commitment order (0, 1, 2, …);
// the zero value holds none.
type Secrets struct {
	// raw is lnd's shachain.RevocationStore encoding (u8 bucket count,
	// that many (u64 index, 32-byte hash), u64 next index), nil when empty.
	raw []byte
}

// maxShachainIndex is 2^48−1: the shachain index of commitment 0.
const maxShachainIndex = 1<<48 - 1

// maxBuckets is the most hashes compact storage ever keeps.
const maxBuckets = 48

// Count is the number of secrets revealed: the next one expected is that
// of commitment Count.
func (s Secrets) Count() uint64 {
	if len(s.raw) < 9 {
		return 0
	}
	next := binary.BigEndian.Uint64(s.raw[len(s.raw)-8:])
	return maxShachainIndex - next
}

// Buckets is the number of hashes stored.
func (s Secrets) Buckets() int {
	if len(s.raw) == 0 {
		return 0
	}
	return int(s.raw[0])
}

// clone shares raw: it is never changed in place (Add replaces it).
func (s Secrets) clone() Secrets { return s }

// HashChecked reports whether Add checks the secret of commitment n
// against the secrets held already, so that a forged one is refused
// without knowing its point: in compact storage a secret whose shachain
// index has trailing zeros (an odd commitment number) derives those stored
// below it, and a different secret that derives them is a SHA-256
// preimage. An even commitment's secret derives none and needs another
// check (its per-commitment point).
func (s Secrets) HashChecked(n uint64) bool { return n%2 == 1 && n == s.Count() }

func (s Secrets) store() (*shachain.RevocationStore, error) {
	if len(s.raw) == 0 {
		return shachain.NewRevocationStore(), nil
	}
	return shachain.NewRevocationStoreFromBytes(bytes.NewReader(s.raw))
}

// Lookup returns the secret of commitment n, if it was revealed.
func (s Secrets) Lookup(n uint64) ([32]byte, bool) {
	if n >= s.Count() {
		return [32]byte{}, false
	}
	st, err := s.store()
	if err != nil {
		return [32]byte{}, false
	}
	h, err := st.LookUp(n)
	if err != nil {
		return [32]byte{}, false
	}
	return *h, true
}

// Errors of Secrets.Add.
var (
	ErrSecretOutOfOrder = errors.New("secrets must be revealed in commitment order")
	ErrSecretMismatch   = errors.New("the secret does not match the secrets revealed before")
)

// Add records the secret of commitment n. Adding a secret already held
// (the same n and value) changes nothing and reports false.
func (s *Secrets) Add(n uint64, secret [32]byte) (bool, error) {
	count := s.Count()
	if n < count {
		old, ok := s.Lookup(n)
		if ok && old == secret {
			return false, nil
		}
		return false, fmt.Errorf("secret %d: %w", n, ErrSecretMismatch)
	}
	if n != count {
		return false, fmt.Errorf("secret %d arrived while %d was expected: %w", n, count, ErrSecretOutOfOrder)
	}
	if n >= maxShachainIndex {
		return false, fmt.Errorf("secret %d is beyond the shachain: %w", n, ErrSecretOutOfOrder)
	}
	st, err := s.store()
	if err != nil {
		return false, err
	}
	h := chainhash.Hash(secret)
	if err := st.AddNextEntry(&h); err != nil {
		return false, fmt.Errorf("secret %d: %w", n, ErrSecretMismatch)
	}
	var buf bytes.Buffer
	if err := st.Encode(&buf); err != nil {
		return false, err
	}
	s.raw = buf.Bytes()
	return true, nil
}

// secretsFromRaw checks an encoding of compact storage read from disk or
// from the node before anything parses it.
func secretsFromRaw(raw []byte) (Secrets, error) {
	if len(raw) == 0 {
		return Secrets{}, nil
	}
	n := int(raw[0])
	if n > maxBuckets {
		return Secrets{}, fmt.Errorf("%d shachain buckets, at most %d", n, maxBuckets)
	}
	if len(raw) != 1+n*40+8 {
		return Secrets{}, fmt.Errorf("shachain storage of %d bytes for %d buckets", len(raw), n)
	}
	for i := 0; i < n; i++ {
		if idx := binary.BigEndian.Uint64(raw[1+i*40:]); idx > maxShachainIndex {
			return Secrets{}, fmt.Errorf("shachain bucket %d has index %d beyond 2^48", i, idx)
		}
	}
	if next := binary.BigEndian.Uint64(raw[len(raw)-8:]); next > maxShachainIndex {
		return Secrets{}, fmt.Errorf("shachain next index %d beyond 2^48", next)
	}
	return Secrets{raw: slices.Clone(raw)}, nil
}
