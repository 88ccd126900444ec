package intent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// testSeed is the node secret of these tests.
var testSeed = []byte("0123456789abcdef0123456789abcdef")

// t0 is the tests' now.
var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

type device struct {
	key  *ecdsa.PrivateKey
	pub  []byte
	rune *Rune
}

func newDevice(t testing.TB, seed []byte, extra ...Restriction) *device {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m, err := MasterFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	rs := append([]Restriction{{{Field: "pubkey", Cond: '=', Value: hex.EncodeToString(pub)}}}, extra...)
	return &device{key: k, pub: pub, rune: m.Carve(0, rs...)}
}

// call signs a call to uri with body (a protobuf message) at ts.
func (d *device) call(t testing.TB, uri string, body []byte, ts time.Time) Pending {
	t.Helper()
	p := Pending{Request: Frame(body), URI: uri, PubKey: d.pub, Timestamp: uint64(ts.UnixMilli()), Rune: d.rune.Bytes()}
	p.Signature = sign(t, d.key, SignedBytes(p.Request, p.Timestamp))
	return p
}

func sign(t testing.TB, k *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// protobuf builders for the bodies.
func pbString(n protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, n, protowire.BytesType), s)
}

func pbBytes(n protowire.Number, b []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, n, protowire.BytesType), b)
}

func pbVarint(n protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, n, protowire.VarintType), v)
}

func pbAmount(n protowire.Number, msat uint64) []byte { return pbBytes(n, pbVarint(1, msat)) }

func pbAmountOr(n protowire.Number, msat uint64) []byte { return pbBytes(n, pbAmount(1, msat)) }

func pbAll(n protowire.Number) []byte { return pbBytes(n, pbVarint(2, 1)) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
