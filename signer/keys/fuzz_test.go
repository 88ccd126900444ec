package keys

import (
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// Private and public sides of every tweak agree, signatures verify and
// recover, and nothing panics, whatever the key, point and digest.
func FuzzKeyOps(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 32), make([]byte, 32))
	f.Add([]byte{1}, []byte{2}, []byte{3})
	f.Fuzz(func(t *testing.T, keyIn, pointIn, hashIn []byte) {
		kb := sha256.Sum256(keyIn)
		k, err := PrivKeyFromBytes(kb[:])
		if err != nil {
			return
		}
		pb := sha256.Sum256(pointIn)
		pk, err := PrivKeyFromBytes(pb[:])
		if err != nil {
			return
		}
		point := pk.PubKey()

		sp, err1 := DeriveSimplePubKey(k.PubKey(), point)
		sk, err2 := DeriveSimplePrivKey(k, point)
		if (err1 == nil) != (err2 == nil) || (err1 == nil && !sk.PubKey().IsEqual(sp)) {
			t.Fatalf("simple tweak: private and public sides disagree (%v, %v)", err1, err2)
		}
		rp, err1 := DeriveRevocationPubKey(k.PubKey(), point)
		rk, err2 := DeriveRevocationPrivKey(k, Secret(pb))
		if (err1 == nil) != (err2 == nil) || (err1 == nil && !rk.PubKey().IsEqual(rp)) {
			t.Fatalf("revocation: private and public sides disagree (%v, %v)", err1, err2)
		}

		var h [32]byte
		copy(h[:], hashIn) // any 32 bytes, including values ≥ n
		for _, sig := range []*ecdsa.Signature{k.SignLowR(h), k.SignLowRWally(h), k.SignRFC6979(h)} {
			if !sig.Verify(h[:], k.PubKey()) {
				t.Fatalf("signature does not verify")
			}
		}
		rs := k.SignRecoverable(h)
		pub, _, err := ecdsa.RecoverCompact(append([]byte{27 + 4 + rs[64]}, rs[:64]...), h[:])
		if err != nil || !pub.IsEqual(k.PubKey()) {
			t.Fatalf("recoverable signature does not recover: %v", err)
		}
		if a, b := ecdhOf(k, point), ecdhOf(pk, k.PubKey()); a != b {
			t.Fatalf("ECDH not symmetric")
		}
		if _, err := btcec.ParsePubKey(point.SerializeCompressed()); err != nil {
			t.Fatal(err)
		}
	})
}

// InvoiceHash packs 5-bit groups exactly like a plain bit stream.
func FuzzInvoiceHash(f *testing.F) {
	f.Add([]byte("lnbc"), []byte{1, 2, 3})
	f.Add([]byte(""), []byte{})
	f.Fuzz(func(t *testing.T, hrp, data []byte) {
		for i := range data {
			data[i] &= 31
		}
		var bitsOut []byte
		var acc, n uint
		for _, d := range data {
			acc = acc<<5 | uint(d)
			n += 5
			for n >= 8 {
				bitsOut = append(bitsOut, byte(acc>>(n-8)))
				n -= 8
			}
		}
		if n > 0 {
			bitsOut = append(bitsOut, byte(acc<<(8-n)))
		}
		h := hrp
		for i, c := range hrp {
			if c == 0 {
				h = hrp[:i]
				break
			}
		}
		want := sha256.Sum256(append(append([]byte{}, h...), bitsOut...))
		if got := InvoiceHash(hrp, data); got != want {
			t.Fatalf("InvoiceHash(%x, %x) = %x, want %x", hrp, data, got, want)
		}
	})
}
