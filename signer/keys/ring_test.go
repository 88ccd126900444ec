package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Node ids from the table in shared/vectors/README.md.
func TestNodeID(t *testing.T) {
	tests := []struct {
		name, secret, nodeID string
	}{
		{"S1", strings.Repeat("01", 32), "026f61d7ee82f937f9697f4f3e44bfaaa25849cc4f526b3a57326130eba6346002"},
		{"S2", strings.Repeat("42", 32), "02c0c171d21db07e402c123e72ecb9fb01ef764a1efe153fcf785a8885962d9bc1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(unhex(t, tc.secret))
			if err != nil {
				t.Fatal(err)
			}
			id := r.NodeID()
			if got := hex.EncodeToString(id[:]); got != tc.nodeID {
				t.Errorf("node id %s, want %s", got, tc.nodeID)
			}
			if !bytes.Equal(r.NodePubKey().SerializeCompressed(), id[:]) {
				t.Errorf("NodePubKey and NodeID disagree")
			}
		})
	}
}

// The init reply: u16 type, u32 version, u16 n, n×u32 capabilities, node id,
// 78-byte ext_key of m/0/0, bolt12 pubkey, TLVs (hsm_secret_type).
func TestInitReply(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_init") {
		t.Run(v.Scenario, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			if typ := req.u16(); typ != 11 {
				t.Fatalf("request type %d", typ)
			}
			ver := BIP32Version{Public: req.u32(), Private: req.u32()}

			rep := &wireReader{t: t, b: v.resp(t)}
			if typ := rep.u16(); typ != 114 {
				t.Fatalf("reply type %d", typ)
			}
			rep.u32() // negotiated version
			rep.take(4 * int(rep.u16()))
			nodeID := rep.take(33)
			extKey := rep.take(ExtKeySize)
			bolt12 := rep.take(33)
			tlvs := rep.rest()

			r := ringFor(t, v.Secret)
			id := r.NodeID()
			if !bytes.Equal(id[:], nodeID) {
				t.Errorf("node id %x, want %x", id, nodeID)
			}
			ext, err := r.WalletExtKey(ver)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ext[:], extKey) {
				t.Errorf("ext_key\n got %x\nwant %x", ext, extKey)
			}
			if got := r.Bolt12PubKey().SerializeCompressed(); !bytes.Equal(got, bolt12) {
				t.Errorf("bolt12 pubkey %x, want %x", got, bolt12)
			}
			// TLV 1 (hsm_secret_type), length 1.
			want := []byte{1, 1, byte(r.SecretType())}
			if !bytes.Equal(tlvs, want) {
				t.Errorf("TLVs %x, want %x (no bip86_base for a 32-byte secret)", tlvs, want)
			}
			if _, err := r.BIP86BaseExtKey(ver); !errors.Is(err, ErrNoBIP86) {
				t.Errorf("BIP86BaseExtKey on a 32-byte secret: %v, want ErrNoBIP86", err)
			}
		})
	}
}

func TestDeriveSecretVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_derive_secret") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			info := req.take(int(req.u16()))
			rep := &wireReader{t: t, b: v.resp(t)}
			if typ := rep.u16(); typ != 127 {
				t.Fatalf("reply type %d", typ)
			}
			want := rep.take(32)
			s, err := ringFor(t, v.Secret).DeriveSecret(info)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s[:], want) {
				t.Errorf("derive_secret(%q) = %x, want %x", info, s[:], want)
			}
		})
	}
}

func TestECDHVectors(t *testing.T) {
	for _, v := range hsmdVectors(t, "hsmd_ecdh_req") {
		t.Run(v.Scenario+"/"+v.Name, func(t *testing.T) {
			req := &wireReader{t: t, b: v.req(t)}
			req.u16()
			point, err := btcec.ParsePubKey(req.take(33))
			if err != nil {
				t.Fatal(err)
			}
			rep := &wireReader{t: t, b: v.resp(t)}
			if typ := rep.u16(); typ != 100 {
				t.Fatalf("reply type %d", typ)
			}
			want := rep.take(32)
			r := ringFor(t, v.Secret)
			got, err := r.ECDHNode(point)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], want) {
				t.Errorf("ecdh = %x, want %x", got, want)
			}
		})
	}
}

func TestNewRejectsBadSecrets(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 63, 65, 73} {
		if _, err := New(make([]byte, n)); !errors.Is(err, ErrSecretLength) {
			t.Errorf("New(%d bytes) = %v, want ErrSecretLength", n, err)
		}
	}
	if _, err := New(make([]byte, 32), WithSecretType(9)); err == nil {
		t.Errorf("New with secret type 9 succeeded")
	}
}

// CLN derives the node key and the channel seeds from the first 32 bytes of
// a 64-byte seed, and everything else from all 64.
func TestSixtyFourByteSeedSplit(t *testing.T) {
	seed := make([]byte, 64)
	for i := range seed {
		seed[i] = byte(i)
	}
	r64, err := New(seed)
	if err != nil {
		t.Fatal(err)
	}
	r32, err := New(seed[:32])
	if err != nil {
		t.Fatal(err)
	}
	if r64.NodeID() != r32.NodeID() {
		t.Errorf("node ids differ between the 64-byte seed and its first 32 bytes")
	}
	peer := r32.NodeID()
	c64, _ := r64.Channel(peer, 7)
	c32, _ := r32.Channel(peer, 7)
	if !c64.FundingPubKey().IsEqual(c32.FundingPubKey()) {
		t.Errorf("channel keys differ between the 64-byte seed and its first 32 bytes")
	}
	if r64.Bolt12PubKey().IsEqual(r32.Bolt12PubKey()) {
		t.Errorf("bolt12 keys equal: the bip32 seed must use all 64 bytes")
	}
	s64, _ := r64.DeriveSecret([]byte("x"))
	s32, _ := r32.DeriveSecret([]byte("x"))
	if s64 == s32 {
		t.Errorf("derived secrets equal: derived_secret must use all 64 bytes")
	}
	if r64.SecretType() != SecretMnemonicNoPass || r32.SecretType() != SecretPlain {
		t.Errorf("secret types %d, %d", r64.SecretType(), r32.SecretType())
	}
	if !r64.HasBIP86() || r32.HasBIP86() {
		t.Errorf("HasBIP86: 64 bytes %v, 32 bytes %v", r64.HasBIP86(), r32.HasBIP86())
	}
}

func TestWipe(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := r.Channel([33]byte{2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	r.Wipe()
	if _, err := r.DeriveSecret(nil); !errors.Is(err, ErrWiped) {
		t.Errorf("DeriveSecret after Wipe: %v", err)
	}
	if _, err := r.NodeKey(); !errors.Is(err, ErrWiped) {
		t.Errorf("NodeKey after Wipe: %v", err)
	}
	if _, err := r.Channel([33]byte{2}, 1); !errors.Is(err, ErrWiped) {
		t.Errorf("Channel after Wipe: %v", err)
	}
	if _, err := ck.FundingKey(); !errors.Is(err, ErrWiped) {
		t.Errorf("cached ChannelKeys after Ring.Wipe: %v", err)
	}
	if _, err := r.WalletKey(0); !errors.Is(err, ErrWiped) {
		t.Errorf("WalletKey after Wipe: %v", err)
	}
}

// Nothing that holds a secret may print it, whatever the verb.
func TestSecretsDoNotFormat(t *testing.T) {
	r, err := New(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		t.Fatal(err)
	}
	nk, _ := r.NodeKey()
	ck, _ := r.Channel(r.NodeID(), 3)
	fk, _ := ck.FundingKey()
	ds, _ := r.DeriveSecret([]byte("x"))
	pcs, _ := ck.PerCommitmentSecret(0)
	var store ShachainStore
	if err := store.AddCommitmentSecret(0, pcs); err != nil {
		t.Fatal(err)
	}

	nkb, fkb := nk.k.Key.Bytes(), fk.k.Key.Bytes()
	nkHex, fkHex := hex.EncodeToString(nkb[:]), hex.EncodeToString(fkb[:])
	leaks := []string{nkHex, fkHex, hex.EncodeToString(ds[:]), hex.EncodeToString(pcs[:])}
	values := []any{r, nk, *nk, ck, fk, *fk, ds, &ds, pcs, &store, store, []any{nk, ds}, struct{ K *PrivateKey }{nk}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for i, v := range values {
			out := fmt.Sprintf(verb, v)
			for _, leak := range leaks {
				if strings.Contains(strings.ToLower(out), leak) {
					t.Errorf("value %d with %s leaks a secret: %s", i, verb, out)
				}
			}
			if strings.Contains(out, "{{") || strings.Contains(out, "0x") {
				t.Errorf("value %d with %s looks like a raw dump: %s", i, verb, out)
			}
		}
	}
}
