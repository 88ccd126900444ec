package keys

import (
	"crypto/sha256"
	"testing"
)

// setPublicKeys gives each key the same public key as a multiplication of
// its own, for one key and for many.
func TestSetPublicKeys(t *testing.T) {
	for _, n := range []int{1, 2, 5, 17} {
		ks := make([]*PrivateKey, n)
		for i := range ks {
			seed := sha256.Sum256([]byte{byte(n), byte(i)})
			k, err := privKeyFromArray(&seed)
			if err != nil {
				t.Fatal(err)
			}
			ks[i] = k
		}
		setPublicKeys(ks...)
		for i, k := range ks {
			want := k.k.PubKey().SerializeCompressed()
			if k.pub == nil || string(k.pub.SerializeCompressed()) != string(want) {
				t.Fatalf("n=%d key %d: public key %x, want %x", n, i, k.pub.SerializeCompressed(), want)
			}
		}
	}
}
