package keys

import (
	"crypto/sha256"
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
	v := seed
	for i := bits.Len64(index) - 1; i >= 0; i-- {
		if index>>uint(i)&1 == 1 {
			v[i/8] ^= 1 << (uint(i) % 8)
			v = sha256.Sum256(v[:])
		}
	}
	return v
}

// perCommitSecret is per_commit_secret() in common/derive_basepoints.c.
func perCommitSecret(shaseed *Secret, n uint64) (Secret, error) {
	if n > MaxCommitmentIndex {
		return Secret{}, ErrCommitmentIndex
	}
	return ShachainFromSeed(*shaseed, ShachainIndex(n)), nil
}
