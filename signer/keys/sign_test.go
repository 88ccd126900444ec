package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"pgregory.net/rapid"
)

// testKey returns a deterministic valid key for case i.
func testKey(t testing.TB, i int) *PrivateKey {
	t.Helper()
	b := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("key"), uint64(i)))
	k, err := PrivKeyFromBytes(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testHash(i int) [32]byte {
	return sha256.Sum256(binary.BigEndian.AppendUint64([]byte("msg"), uint64(i)))
}

// Without extra data, our nonce derivation is btcec's (both RFC6979), as long
// as the hash is below n.
func TestSignRFC6979MatchesBtcec(t *testing.T) {
	for i := 0; i < 200; i++ {
		k, h := testKey(t, i), testHash(i)
		got := k.SignRFC6979(h)
		want := ecdsa.Sign(k.BTCEC(), h[:])
		if !got.IsEqual(want) {
			t.Fatalf("case %d: got %x, want %x", i, got.Serialize(), want.Serialize())
		}
	}
}

// libsecp256k1 reduces the message modulo n before feeding it to the nonce
// function, so h and h−n give the same signature (btcec's Sign does not).
func TestSignReducesHashModN(t *testing.T) {
	n := btcec.S256().N
	for i := 0; i < 20; i++ {
		k := testKey(t, i)
		small := new(big.Int).SetUint64(uint64(i) + 1)
		var lo, hi [32]byte
		small.FillBytes(lo[:])
		new(big.Int).Add(n, small).FillBytes(hi[:])
		for name, sign := range map[string]func([32]byte) *ecdsa.Signature{
			"RFC6979": k.SignRFC6979, "LowR": k.SignLowR, "LowRWally": k.SignLowRWally,
		} {
			if a, b := sign(lo), sign(hi); !a.IsEqual(b) {
				t.Errorf("%s case %d: signature of h and h+n differ", name, i)
			}
		}
		if a, b := k.SignRecoverable(lo), k.SignRecoverable(hi); a != b {
			t.Errorf("recoverable case %d: signature of h and h+n differ", i)
		}
	}
}

func TestSignRecoverable(t *testing.T) {
	for i := 0; i < 100; i++ {
		k, h := testKey(t, i), testHash(i)
		rs := k.SignRecoverable(h)
		if c := CompactSig(k.SignRFC6979(h)); !bytes.Equal(rs[:64], c[:]) {
			t.Fatalf("case %d: r‖s differs from SignRFC6979", i)
		}
		if rs[64] > 3 {
			t.Fatalf("case %d: recid %d", i, rs[64])
		}
		pub, _, err := ecdsa.RecoverCompact(append([]byte{27 + 4 + rs[64]}, rs[:64]...), h[:])
		if err != nil {
			t.Fatal(err)
		}
		if !pub.IsEqual(k.PubKey()) {
			t.Fatalf("case %d: recovered the wrong key", i)
		}
		// btcec's own compact signature agrees (it uses 27+4+recid).
		bc, err := ecdsa.SignCompact(k.BTCEC(), h[:], true)
		if err != nil {
			t.Fatal(err)
		}
		if bc[0] != 27+4+rs[64] || !bytes.Equal(bc[1:], rs[:64]) {
			t.Fatalf("case %d: btcec SignCompact disagrees", i)
		}
	}
}

func TestSignLowR(t *testing.T) {
	sawGrind, sawWallyDiff := false, false
	for i := 0; i < 200; i++ {
		k, h := testKey(t, i), testHash(i)
		plain := k.SignRFC6979(h)
		for name, sig := range map[string]*ecdsa.Signature{"cln": k.SignLowR(h), "wally": k.SignLowRWally(h)} {
			if !hasLowR(sig) {
				t.Fatalf("%s case %d: high R", name, i)
			}
			if len(sig.Serialize()) > 70 {
				t.Fatalf("%s case %d: DER length %d", name, i, len(sig.Serialize()))
			}
			if !sig.Verify(h[:], k.PubKey()) {
				t.Fatalf("%s case %d: does not verify", name, i)
			}
			s := sig.S()
			if s.IsOverHalfOrder() {
				t.Fatalf("%s case %d: high S", name, i)
			}
		}
		// libwally tries plain RFC6979 first; CLN's sign_hash never
		// signs without extra entropy.
		wally := k.SignLowRWally(h)
		if hasLowR(plain) != wally.IsEqual(plain) {
			t.Fatalf("case %d: wally grinding should return the plain signature iff it is low-R", i)
		}
		if k.SignLowR(h).IsEqual(plain) {
			t.Fatalf("case %d: sign_hash returned the plain RFC6979 signature", i)
		}
		if !hasLowR(plain) {
			sawGrind = true
		}
		if !k.SignLowR(h).IsEqual(wally) {
			sawWallyDiff = true
		}
	}
	if !sawGrind || !sawWallyDiff {
		t.Errorf("test cases never exercised grinding (%v) or a difference between schedules (%v)", sawGrind, sawWallyDiff)
	}
}

func TestCompactSig(t *testing.T) {
	k, h := testKey(t, 1), testHash(1)
	sig := k.SignLowR(h)
	c := CompactSig(sig)
	back, err := ParseCompactSig(c[:])
	if err != nil || !back.IsEqual(sig) {
		t.Fatalf("round trip: %v", err)
	}
	over := bytes.Repeat([]byte{0xff}, 64)
	if _, err := ParseCompactSig(over); err == nil {
		t.Errorf("accepted r, s ≥ n")
	}
	if _, err := ParseCompactSig(c[:63]); err == nil {
		t.Errorf("accepted 63 bytes")
	}
}

func TestPrivKeyFromBytes(t *testing.T) {
	n := btcec.S256().N
	var nb, n1 [32]byte
	n.FillBytes(nb[:])
	new(big.Int).Sub(n, big.NewInt(1)).FillBytes(n1[:])
	for name, tc := range map[string]struct {
		b  []byte
		ok bool
	}{
		"zero": {make([]byte, 32), false},
		"n":    {nb[:], false},
		"max":  {bytes.Repeat([]byte{0xff}, 32), false},
		"n-1":  {n1[:], true},
		"one":  {append(make([]byte, 31), 1), true},
		"31":   {make([]byte, 31), false},
		"33":   {append(make([]byte, 32), 1), false},
	} {
		_, err := PrivKeyFromBytes(tc.b)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestTweakFailures(t *testing.T) {
	k := testKey(t, 5)
	// t = n − k makes the sum zero.
	var kb, tb [32]byte
	kb = k.k.Key.Bytes()
	new(big.Int).Sub(btcec.S256().N, new(big.Int).SetBytes(kb[:])).FillBytes(tb[:])
	if _, err := k.TweakAdd(tb); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("TweakAdd to zero: %v", err)
	}
	if _, err := PubKeyTweakAdd(k.PubKey(), tb); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("PubKeyTweakAdd to infinity: %v", err)
	}
	var big32 [32]byte
	btcec.S256().N.FillBytes(big32[:])
	if _, err := k.TweakAdd(big32); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("TweakAdd with t = n: %v", err)
	}
	if _, err := PubKeyTweakAdd(k.PubKey(), big32); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("PubKeyTweakAdd with t = n: %v", err)
	}
	// A valid tweak agrees between the private and public side.
	tw := testHash(9)
	pk, err := k.TweakAdd(tw)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := PubKeyTweakAdd(k.PubKey(), tw)
	if err != nil || !pp.IsEqual(pk.PubKey()) {
		t.Errorf("private and public tweaks disagree: %v", err)
	}
	// An invalid per-commitment secret is refused.
	if _, err := DeriveRevocationPrivKey(k, Secret{}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("DeriveRevocationPrivKey with a zero secret: %v", err)
	}
}

func TestECDH(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	if ecdhOf(a, b.PubKey()) != ecdhOf(b, a.PubKey()) {
		t.Errorf("ECDH is not symmetric")
	}
}

// BOLT 12's signature test: the invoice_request signed by the payer key
// 0x4242…, with no aux randomness.
func TestSchnorrBOLT12(t *testing.T) {
	raw, err := os.ReadFile(sharedPath(t, "reference/bolts/bolt12-signature-test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []map[string]any
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	payer, _ := PrivKeyFromBytes(bytes.Repeat([]byte{0x42}, 32))
	n := 0
	for _, c := range cases {
		sigHex, ok := c["signature"].(string)
		if !ok {
			continue
		}
		n++
		merkle := unhex32(t, c["merkle"].(string))
		tag := c["signature_tag"].(string)
		if tag != "lightning"+c["tlv"].(string)+"signature" {
			t.Fatalf("unexpected tag %q", tag)
		}
		h := Bolt12Sighash(c["tlv"].(string), "signature", merkle)
		if want := unhex32(t, c["H(signature_tag,merkle)"].(string)); h != want {
			t.Errorf("sighash %x, want %x", h, want)
		}
		sig, err := payer.SignSchnorr(h)
		if err != nil {
			t.Fatal(err)
		}
		if want := unhex(t, sigHex); !bytes.Equal(sig[:], want) {
			t.Errorf("signature\n got %x\nwant %x", sig, want)
		}
		parsed, err := schnorr.ParseSignature(sig[:])
		if err != nil || !parsed.Verify(h[:], payer.PubKey()) {
			t.Errorf("signature does not verify: %v", err)
		}
	}
	if n == 0 {
		t.Fatal("no signature vectors in bolt12-signature-test.json")
	}
}

func TestInvoiceHashQuirks(t *testing.T) {
	// The hrp stops at a NUL, as with strlen.
	d := []byte{1, 2, 3, 4, 5, 6, 7}
	if InvoiceHash([]byte("lnbc\x00junk"), d) != InvoiceHash([]byte("lnbc"), d) {
		t.Errorf("hrp not cut at NUL")
	}
	// 8 five-bit groups = 40 bits = 5 bytes, no padding byte.
	want := sha256.Sum256([]byte{'x', 0x08, 0x86, 0x42, 0x98, 0xe8})
	if got := InvoiceHash([]byte("x"), []byte{1, 2, 3, 4, 5, 6, 7, 8}); got != want {
		t.Errorf("packing: got %x want %x", got, want)
	}
	// 3 groups = 15 bits, padded to 2 bytes.
	want = sha256.Sum256([]byte{'x', 0b00001000, 0b10000110})
	if got := InvoiceHash([]byte("x"), []byte{1, 2, 3}); got != want {
		t.Errorf("padding: got %x want %x", got, want)
	}
}

func TestCompactSize(t *testing.T) {
	for v, want := range map[uint64]string{
		0: "00", 0xfc: "fc", 0xfd: "fdfd00", 0xffff: "fdffff", 0x10000: "fe00000100", 0x100000000: "ff0000000001000000",
	} {
		if got := compactSize(v); !bytes.Equal(got, unhex(t, want)) {
			t.Errorf("%#x: %x, want %s", v, got, want)
		}
	}
}

// SignSchnorr no longer has btcec check its own signature (FastSign), so
// this test does: BIP340's vector with a zero aux_rand (the only one, as
// CLN signs), and schnorr.Verify over many keys and digests.
func TestSignSchnorrVerifies(t *testing.T) {
	vector := []struct{ key, msg, sig string }{
		{"0000000000000000000000000000000000000000000000000000000000000003",
			"0000000000000000000000000000000000000000000000000000000000000000",
			"e907831f80848d1069a5371b402410364bdf1c5f8307b0084c55f1ce2dca821525f66a4a85ea8b71e482a74f382d2ce5ebeee8fdb2172f477df4900d310536c0"},
	}
	for _, v := range vector {
		k, err := PrivKeyFromBytes(mustHexBytes(t, v.key))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := k.SignSchnorr([32]byte(mustHexBytes(t, v.msg)))
		if err != nil || hex.EncodeToString(sig[:]) != v.sig {
			t.Errorf("BIP340 vector: %x, %v; want %s", sig, err, v.sig)
		}
	}
	for i := range 64 {
		kb := sha256.Sum256([]byte{byte(i), 'k'})
		h := sha256.Sum256([]byte{byte(i), 'm'})
		k, err := PrivKeyFromBytes(kb[:])
		if err != nil {
			t.Fatal(err)
		}
		sig, err := k.SignSchnorr(h)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := schnorr.ParseSignature(sig[:])
		if err != nil || !parsed.Verify(h[:], k.PubKey()) {
			t.Errorf("signature %d does not verify (%v)", i, err)
		}
	}
}

func mustHexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Our BIP340 signing equals btcec's schnorr.Sign with 32 zero bytes of aux
// randomness, for keys of both Y parities and with the public key kept or
// not.
func TestSignSchnorrMatchesBtcec(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		priv, pub, k := drawKeyPair(t)
		if rapid.Bool().Draw(t, "public key kept") {
			k.pub = pub
		}
		hash := [32]byte(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "hash"))
		got, err := k.SignSchnorr(hash)
		if err != nil {
			t.Fatal(err)
		}
		want, err := schnorr.Sign(priv, hash[:], schnorr.CustomNonce([32]byte{}))
		if err != nil {
			t.Skip("btcec refuses a challenge hash ≥ n")
		}
		if !bytes.Equal(got[:], want.Serialize()) {
			t.Fatalf("signature %x, btcec %x", got, want.Serialize())
		}
	})
}
