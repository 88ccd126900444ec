package policy

import (
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/input"
)

// The joint multiplication gives lnd's revocation key (BOLT 3 Appendix E's
// pair among others).
func TestRevocationPubKeyIsLnds(t *testing.T) {
	pairs := [][2]*btcec.PublicKey{{
		mustKey(t, "036d6caac248af96f6afa7f904f550253a0f3ef3f5aa2fe6838a95b216691468e2"),
		mustKey(t, "025f7117a78150fe2ef97db7cfc83bd57b2e2c0d0dd25eaf467a4a1c2a45ce1486"),
	}}
	for i := range 20 {
		h1, h2 := sha256.Sum256([]byte{byte(i), 1}), sha256.Sum256([]byte{byte(i), 2})
		k1, _ := btcec.PrivKeyFromBytes(h1[:])
		k2, _ := btcec.PrivKeyFromBytes(h2[:])
		pairs = append(pairs, [2]*btcec.PublicKey{k1.PubKey(), k2.PubKey()})
	}
	for i, p := range pairs {
		got, want := revocationPubKey(p[0], p[1]), input.DeriveRevocationPubkey(p[0], p[1])
		if got == nil || !got.IsEqual(want) {
			t.Errorf("pair %d: got %x, want %x", i, got.SerializeCompressed(), want.SerializeCompressed())
		}
	}
	// BOLT 3 Appendix E: revocation_basepoint 036d6c…, per_commitment_point 025f71….
	if got := revocationPubKey(pairs[0][0], pairs[0][1]); got == nil || !got.IsEqual(mustKey(t, "02916e326636d19c33f13e8c0c3a03dd157f332f3e99c317c141dd865eb01f8ff0")) {
		t.Errorf("Appendix E's revocationpubkey: got %x", got.SerializeCompressed())
	}
}
