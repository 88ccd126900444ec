package signer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/keys"
)

// Whole-request benchmarks (decode, dispatch, derive, sign, encode), with
// a raw btcec ecdsa.Sign in the same file as the baseline to quote ratios
// against. The transaction-signing benchmarks live with those handlers.
//
// BenchmarkEcdh, BenchmarkInvoice and BenchmarkRevoke each have an -Ops
// twin: the elliptic-curve operations the request cannot avoid, on the same
// inputs, so that engine overhead = engine / ops − 1:
//
//   - ecdh: the scalar multiplication, SHA256 of the compressed result
//     (Ring.ECDHNode), and separately with the point's decompression (a
//     square root: the point is fresh for every handshake);
//   - invoice: the recoverable signature of the same invoice hashes;
//   - revoke: point n+2 from its secret (a base-point multiplication).

func benchEngine(b *testing.B) *signer.Engine {
	b.Helper()
	e, err := signer.NewEngine(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchHandle(b *testing.B, e *signer.Engine, c signer.Client, reqs [][]byte) {
	b.Helper()
	ctx := context.Background()
	// One call outside the timer: fills the channel key cache, as on a
	// running node.
	if _, err := e.Handle(ctx, c, reqs[0]); err != nil {
		b.Fatalf("%s refused: %v", hsmproto.MessageName(uint16(reqs[0][0])<<8|uint16(reqs[0][1])), err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Handle(ctx, c, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// Baseline: btcec's plain RFC6979 ecdsa.Sign of a 32-byte hash.
func BenchmarkBtcecSign(b *testing.B) {
	k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	hashes := make([][32]byte, 64)
	for i := range hashes {
		hashes[i] = sha256.Sum256([]byte{byte(i)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := hashes[i%len(hashes)]
		ecdsa.Sign(k, h[:])
	}
}

// hsmd_ecdh_req from connectd: one scalar multiplication and a SHA256.
func BenchmarkEcdh(b *testing.B) {
	e := benchEngine(b)
	var reqs [][]byte
	for i := range 64 {
		k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{byte(i + 1)}, 32))
		reqs = append(reqs, (&hsmproto.EcdhReq{Point: hsmproto.PubkeyFrom(k.PubKey())}).Encode())
	}
	connectd := signer.Client{PeerID: e.NodeID(), Capabilities: signer.CapECDH}
	benchHandle(b, e, connectd, reqs)
}

// hsmd_sign_invoice from lightningd: the BOLT 11 hash of a typical invoice
// (about 250 5-bit words) and a recoverable signature.
func BenchmarkInvoice(b *testing.B) {
	e := benchEngine(b)
	var reqs [][]byte
	for i := range 64 {
		u5 := make([]byte, 250)
		for j := range u5 {
			u5[j] = byte((i*7 + j*13) % 32)
		}
		reqs = append(reqs, (&hsmproto.SignInvoice{U5bytes: u5, Hrp: []byte("lnbc25u")}).Encode())
	}
	benchHandle(b, e, signer.MasterClient, reqs)
}

// hsmd_revoke_commitment_tx from channeld: reveal per-commitment secret n
// (a shachain walk) and compute point n+2.
func BenchmarkRevoke(b *testing.B) {
	e := benchEngine(b)
	var reqs [][]byte
	for n := range uint64(64) {
		reqs = append(reqs, (&hsmproto.RevokeCommitmentTx{CommitNum: 1000 + n}).Encode())
	}
	channeld := signer.Client{Capabilities: 447, DBID: 42}
	channeld.PeerID[0] = 3
	channeld.PeerID[32] = 1
	benchHandle(b, e, channeld, reqs)
}

func benchRing(b *testing.B) *keys.Ring {
	b.Helper()
	r, err := keys.New(bytes.Repeat([]byte{1}, 32)) // benchEngine's secret
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func BenchmarkEcdhOps(b *testing.B) {
	r := benchRing(b)
	var raw [][]byte
	var points []*btcec.PublicKey
	for i := range 64 {
		k, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{byte(i + 1)}, 32))
		raw = append(raw, k.PubKey().SerializeCompressed())
		points = append(points, k.PubKey())
	}
	b.Run("scalar-mult+sha256", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := r.ECDHNode(points[i%len(points)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decompress+scalar-mult+sha256", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			p, err := btcec.ParsePubKey(raw[i%len(raw)])
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.ECDHNode(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkInvoiceOps(b *testing.B) {
	k, err := benchRing(b).NodeKey()
	if err != nil {
		b.Fatal(err)
	}
	var hashes [][32]byte
	for i := range 64 { // BenchmarkInvoice's invoices
		u5 := make([]byte, 250)
		for j := range u5 {
			u5[j] = byte((i*7 + j*13) % 32)
		}
		hashes = append(hashes, keys.InvoiceHash([]byte("lnbc25u"), u5))
	}
	b.Run("sign-recoverable", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			k.SignRecoverable(hashes[i%len(hashes)])
		}
	})
}

func BenchmarkRevokeOps(b *testing.B) {
	var peer [33]byte // BenchmarkRevoke's channeld
	peer[0], peer[32] = 3, 1
	ck, err := benchRing(b).Channel(peer, 42)
	if err != nil {
		b.Fatal(err)
	}
	var secrets []*keys.PrivateKey
	for n := range uint64(64) {
		s, err := ck.PerCommitmentSecret(1000 + n + 2)
		if err != nil {
			b.Fatal(err)
		}
		k, err := keys.PrivKeyFromBytes(s[:])
		if err != nil {
			b.Fatal(err)
		}
		secrets = append(secrets, k)
	}
	b.Run("point-from-secret", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			secrets[i%len(secrets)].PubKey()
		}
	})
}
