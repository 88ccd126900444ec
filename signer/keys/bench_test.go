package keys

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

func benchHashes() [][32]byte {
	hs := make([][32]byte, 64)
	for i := range hs {
		hs[i] = testHash(i)
	}
	return hs
}

// CLN's sign_hash: RFC6979 with 32 bytes of extra entropy, ground for low R
// (about two signatures per call on average).
func BenchmarkSignLowR(b *testing.B) {
	k, hs := testKey(b, 1), benchHashes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k.SignLowR(hs[i%len(hs)])
	}
}

// libwally's EC_FLAG_GRIND_R schedule.
func BenchmarkSignLowRWally(b *testing.B) {
	k, hs := testKey(b, 1), benchHashes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k.SignLowRWally(hs[i%len(hs)])
	}
}

// Our libsecp256k1-exact RFC6979 signer, no grinding.
func BenchmarkSignRFC6979(b *testing.B) {
	k, hs := testKey(b, 1), benchHashes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k.SignRFC6979(hs[i%len(hs)])
	}
}

// The baseline: btcec's ecdsa.Sign.
func BenchmarkBtcecSign(b *testing.B) {
	k, hs := testKey(b, 1).BTCEC(), benchHashes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := hs[i%len(hs)]
		ecdsa.Sign(k, h[:])
	}
}

func BenchmarkSignSchnorr(b *testing.B) {
	k, hs := testKey(b, 1), benchHashes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := k.SignSchnorr(hs[i%len(hs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRing(b *testing.B, opts ...Option) *Ring {
	r, err := New(bytes.Repeat([]byte{1}, 32), opts...)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// Channel keys from the cache: what a handler pays per request.
func BenchmarkChannelCached(b *testing.B) {
	r := benchRing(b)
	peer := r.NodeID()
	for d := uint64(0); d < 16; d++ {
		if _, err := r.Channel(peer, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Channel(peer, uint64(i%16)); err != nil {
			b.Fatal(err)
		}
	}
}

// Channel keys derived afresh (get_channel_seed + derive_basepoints), as
// CLN's hsmd does on every request.
func BenchmarkChannelUncached(b *testing.B) {
	r := benchRing(b)
	peer := r.NodeID()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.channelUncached(peer, uint64(i%16)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPerCommitmentPoint(b *testing.B) {
	r := benchRing(b)
	ck, err := r.Channel(r.NodeID(), 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ck.PerCommitmentPoint(uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	seed := bytes.Repeat([]byte{1}, 32)
	for i := 0; i < b.N; i++ {
		if _, err := New(seed); err != nil {
			b.Fatal(err)
		}
	}
}
