package glemu

// The user's application: gRPC calls signed with a device key, attached by
// the node to every hsmd request while they are in flight, as Greenlight's
// node plugin attaches the calls its clients make (HsmRequest.requests).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	glpb "gl-signerd/streamer/pb/greenlight"
)

// Device is a client application's identity: a P-256 key, as Greenlight
// clients hold with their device certificate, and the rune the signer
// issued for it.
type Device struct {
	key *ecdsa.PrivateKey
	pub []byte

	mu   sync.Mutex
	rune []byte
	now  func() time.Time
}

// NewDevice makes a device with a new key and no rune yet.
func NewDevice() (*Device, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	return &Device{key: k, pub: pub, now: time.Now}, nil
}

// PublicKey is the device key as calls carry it (uncompressed, 65 bytes).
func (d *Device) PublicKey() []byte { return append([]byte(nil), d.pub...) }

// PubkeyRestriction is the rune restriction that binds a rune to this
// device (gl-signerd ctl rune create --restriction …).
func (d *Device) PubkeyRestriction() string { return "pubkey=" + hex.EncodeToString(d.pub) }

// SetRune sets the rune the device sends (URL-safe base64, as issued).
func (d *Device) SetRune(b64 string) error {
	b, err := decodeRune(b64)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.rune = b
	d.mu.Unlock()
	return nil
}

// Call is a call to method (e.g. "/cln.Node/Pay") with the protobuf
// message body, signed now: the framed body followed by the big-endian
// millisecond timestamp, P-256 ECDSA, r‖s.
func (d *Device) Call(method string, body []byte) (*glpb.PendingRequest, error) {
	d.mu.Lock()
	rn := d.rune
	d.mu.Unlock()
	framed := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(framed[1:], uint32(len(body)))
	framed = append(framed, body...)
	ts := uint64(d.now().UnixMilli())
	h := sha256.Sum256(binary.BigEndian.AppendUint64(append([]byte(nil), framed...), ts))
	r, s, err := ecdsa.Sign(rand.Reader, d.key, h[:])
	if err != nil {
		return nil, fmt.Errorf("glemu: signing a call: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return &glpb.PendingRequest{Request: framed, Uri: method, Signature: sig, Pubkey: d.PublicKey(), Timestamp: ts, Rune: rn}, nil
}

// AddCall attaches p to every request the node sends until remove is
// called, as the node plugin does while the user's call is in flight.
func (n *Node) AddCall(p *glpb.PendingRequest) (remove func()) {
	c := proto.Clone(p).(*glpb.PendingRequest)
	n.mu.Lock()
	n.calls = append(n.calls, c)
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		for i, x := range n.calls {
			if x == c {
				n.calls = append(n.calls[:i], n.calls[i+1:]...)
				return
			}
		}
	}
}

// Calls in flight: the bodies of the cln-grpc calls (CLN v26.06.6
// cln-grpc/proto/node.proto) the emulated application makes.

// PayBody is PayRequest{bolt11 = 1}.
func PayBody(bolt11 string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), bolt11)
}

// InvoiceBody is InvoiceRequest{description = 2, label = 3, amount_msat =
// 10 (AmountOrAny{amount = 1: Amount{msat = 1}})}.
func InvoiceBody(description, label string, amountMsat uint64) []byte {
	b := protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), description)
	b = protowire.AppendString(protowire.AppendTag(b, 3, protowire.BytesType), label)
	amount := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), amountMsat)
	amountOr := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), amount)
	return protowire.AppendBytes(protowire.AppendTag(b, 10, protowire.BytesType), amountOr)
}

// decodeRune reads a rune in URL-safe base64, padded or not.
func decodeRune(s string) ([]byte, error) {
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(s)
	}
	if err != nil || len(b) < 32 {
		return nil, fmt.Errorf("glemu: %q is not a rune (URL-safe base64 of at least 32 bytes)", s)
	}
	return b, nil
}

// Caller returns a function that makes a call signed by d in flight on n
// until its done is called (traffic's Options.UserCall). A call that
// cannot be signed is not made.
func (d *Device) Caller(n *Node) func(method string, body []byte) (done func()) {
	return func(method string, body []byte) func() {
		c, err := d.Call(method, body)
		if err != nil {
			return func() {}
		}
		return n.AddCall(c)
	}
}

// FundChannelBody is FundchannelRequest{amount = 1 (AmountOrAll{amount =
// 1: Amount{msat = 1}}), id = 9}.
func FundChannelBody(peer [33]byte, amountSat uint64) []byte {
	amount := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), amountSat*1000)
	amountOr := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), amount)
	b := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), amountOr)
	return protowire.AppendBytes(protowire.AppendTag(b, 9, protowire.BytesType), peer[:])
}
