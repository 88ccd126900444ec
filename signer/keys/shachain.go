package keys

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// MaxCommitmentIndex is the largest per-commitment index (2^48 − 1).
const MaxCommitmentIndex = 1<<48 - 1

// ShachainIndex maps a commitment number n to the BOLT 3 shachain index
// 2^48 − 1 − n (CLN's shachain_index()).  n must be ≤ MaxCommitmentIndex.
func ShachainIndex(n uint64) uint64 { return MaxCommitmentIndex - n }

// ShachainFromSeed is BOLT 3's generate_from_seed (ccan's
// shachain_from_seed): for each bit of index that is set, from the highest
// down, flip that bit of the value and hash it.
func ShachainFromSeed(seed Secret, index uint64) Secret {
	return shachainDerive(0, index, seed)
}

// shachainDerive is ccan's derive(): from the value at index from, walk
// down to index to by flipping and hashing each bit set in to but not in
// from, highest first.  The caller checks shachainCanDerive.
func shachainDerive(from, to uint64, v Secret) Secret {
	branches := from ^ to
	for i := bits.Len64(branches) - 1; i >= 0; i-- {
		if branches>>uint(i)&1 == 1 {
			v[i/8] ^= 1 << (uint(i) % 8)
			v = sha256.Sum256(v[:])
		}
	}
	return v
}

// shachainTrailingZeros is ccan's count_trailing_zeroes with
// SHACHAIN_BITS = 48 (CLN's build).
func shachainTrailingZeros(index uint64) int {
	if index == 0 {
		return shachainBits
	}
	return bits.TrailingZeros64(index)
}

const shachainBits = 48

// shachainCanDerive is ccan's can_derive(): to shares from's bits above
// from's lowest set bit.
func shachainCanDerive(from, to uint64) bool {
	if from == 0 {
		return true
	}
	mask := ^(uint64(1)<<uint(shachainTrailingZeros(from)) - 1)
	return (from^to)&mask == 0
}

// Errors from ShachainStore.Add.
var (
	ErrShachainOrder    = errors.New("keys: shachain secrets must be added in order, one index below the last")
	ErrShachainMismatch = errors.New("keys: shachain secret does not derive the secrets already stored")
)

// ShachainStore keeps a counterparty's revealed per-commitment secrets in
// BOLT 3's compact form (at most 49 entries), as ccan's struct shachain
// does for channeld.  The zero value is an empty store.  Not safe for
// concurrent use.
type ShachainStore struct {
	// next is 2^48 minus the lowest index added, so the zero value is an
	// empty store expecting index 2^48 − 1.
	next     uint64
	numValid int
	known    [shachainBits + 1]struct {
		index  uint64
		secret Secret
	}
}

// NextIndex is the shachain index Add expects next (shachain_next_index).
func (s *ShachainStore) NextIndex() uint64 { return MaxCommitmentIndex - s.next }

// Add stores the secret at shachain index (shachain_add_hash).  Indexes must
// come in order, starting at 2^48 − 1 and decreasing by one; a secret that
// does not derive the stored ones is refused (ErrShachainMismatch) and the
// store is left unchanged.
func (s *ShachainStore) Add(index uint64, secret Secret) error {
	if s.next > MaxCommitmentIndex || index != s.NextIndex() {
		return ErrShachainOrder
	}
	pos := shachainTrailingZeros(index)
	for i := 0; i < pos; i++ {
		if shachainDerive(index, s.known[i].index, secret) != s.known[i].secret {
			return ErrShachainMismatch
		}
	}
	s.known[pos].index = index
	s.known[pos].secret = secret
	if pos+1 > s.numValid {
		s.numValid = pos + 1
	}
	s.next++
	return nil
}

// Get returns the secret at shachain index, if a stored entry derives it
// (shachain_get_hash).
func (s *ShachainStore) Get(index uint64) (Secret, bool) {
	for i := 0; i < s.numValid; i++ {
		k := &s.known[i]
		if shachainCanDerive(k.index, index) {
			return shachainDerive(k.index, index, k.secret), true
		}
	}
	return Secret{}, false
}

// AddCommitmentSecret stores the per-commitment secret of commitment n
// (index 2^48 − 1 − n).
func (s *ShachainStore) AddCommitmentSecret(n uint64, secret Secret) error {
	if n > MaxCommitmentIndex {
		return ErrCommitmentIndex
	}
	return s.Add(ShachainIndex(n), secret)
}

// CommitmentSecret returns the stored per-commitment secret of commitment n
// (shachain_get_secret).
func (s *ShachainStore) CommitmentSecret(n uint64) (Secret, bool) {
	if n > MaxCommitmentIndex {
		return Secret{}, false
	}
	return s.Get(ShachainIndex(n))
}

// String implements fmt.Stringer without revealing the stored secrets.
func (s ShachainStore) String() string {
	return fmt.Sprintf("keys.ShachainStore{next index %d, %d entries, %s}", s.NextIndex(), s.numValid, redacted)
}

// GoString implements fmt.GoStringer without revealing the stored secrets.
func (s ShachainStore) GoString() string { return s.String() }

// Format implements fmt.Formatter: every verb prints String.
func (s ShachainStore) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// Wipe zeroes the stored secrets and empties the store.
func (s *ShachainStore) Wipe() {
	for i := range s.known {
		s.known[i].secret.Wipe()
	}
	*s = ShachainStore{}
}
