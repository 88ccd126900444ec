package curve

import (
	"hash/maphash"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
)

type derivation byte

const (
	kindSimple derivation = iota + 1
	kindRevocation
)

type memoKey struct {
	kind        derivation
	base, point [33]byte
}

// memo is a direct-mapped table of derived keys: a new entry replaces
// whatever held its slot, so it never grows past its size (about 200
// bytes an entry) and needs no eviction.
type memo struct {
	mu    sync.Mutex
	seed  maphash.Seed
	slots []memoSlot
}

type memoSlot struct {
	key memoKey
	pub *btcec.PublicKey
}

func newMemo(size int) *memo {
	return &memo{seed: maphash.MakeSeed(), slots: make([]memoSlot, size)}
}

func (m *memo) get(kind derivation, base, point *btcec.PublicKey, derive func(base, point []byte) (*btcec.PublicKey, error)) (*btcec.PublicKey, error) {
	if base == nil || point == nil {
		return nil, ErrInvalidKey
	}
	k := memoKey{kind: kind, base: [33]byte(base.SerializeCompressed()), point: [33]byte(point.SerializeCompressed())}
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteByte(byte(kind))
	h.Write(k.base[:])
	h.Write(k.point[:])
	i := h.Sum64() % uint64(len(m.slots))
	m.mu.Lock()
	if s := m.slots[i]; s.pub != nil && s.key == k {
		m.mu.Unlock()
		return s.pub, nil
	}
	m.mu.Unlock()
	pub, err := derive(k.base[:], k.point[:])
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.slots[i] = memoSlot{key: k, pub: pub}
	m.mu.Unlock()
	return pub, nil
}
