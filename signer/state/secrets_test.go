package state

import (
	"errors"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/shachain"
)

// peerChain is a counterparty's shachain: the secret of commitment n is
// its element n.
type peerChain struct{ p shachain.Producer }

func newPeerChain(t testing.TB) peerChain {
	root := chainhash.Hash{7, 7, 7}
	return peerChain{p: shachain.NewRevocationProducer(root)}
}

func (c peerChain) secret(t testing.TB, n uint64) [32]byte {
	h, err := c.p.AtIndex(n)
	if err != nil {
		t.Fatal(err)
	}
	return *h
}

func TestSecrets(t *testing.T) {
	p := newPeerChain(t)
	var s Secrets
	const n = 1001 // the secret of 1001 is checked against earlier ones (its index has a trailing zero)
	for i := uint64(0); i < n; i++ {
		added, err := s.Add(i, p.secret(t, i))
		if err != nil || !added {
			t.Fatalf("Add(%d) = %v, %v", i, added, err)
		}
	}
	if s.Count() != n || s.Buckets() > maxBuckets {
		t.Fatalf("count %d buckets %d", s.Count(), s.Buckets())
	}
	for _, i := range []uint64{0, 1, 511, 999, 1000} {
		got, ok := s.Lookup(i)
		if !ok || got != p.secret(t, i) {
			t.Fatalf("Lookup(%d) = %x, %v", i, got, ok)
		}
	}
	if _, ok := s.Lookup(n); ok {
		t.Fatal("Lookup of a secret not revealed succeeded")
	}
	cases := []struct {
		name    string
		n       uint64
		secret  [32]byte
		added   bool
		wantErr error
	}{
		{"same secret again", 5, p.secret(t, 5), false, nil},
		{"different secret for a past commitment", 5, p.secret(t, 6), false, ErrSecretMismatch},
		{"skipping ahead", n + 1, p.secret(t, n+1), false, ErrSecretOutOfOrder},
		{"not derivable from the earlier ones", n, [32]byte{1}, false, ErrSecretMismatch},
		{"the next one", n, p.secret(t, n), true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.clone()
			added, err := s.Add(c.n, c.secret)
			if added != c.added || !errors.Is(err, c.wantErr) {
				t.Fatalf("Add = %v, %v; want %v, %v", added, err, c.added, c.wantErr)
			}
			if err != nil && string(before.raw) != string(s.raw) {
				t.Fatal("a refused secret changed the storage")
			}
		})
	}
}
