package intent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Pending is one of the user's gRPC calls the node attaches to a signer
// request (greenlight.proto's PendingRequest): the framed request body,
// the method's URI, the device key's P-256 signature over the body and
// the timestamp, that key (uncompressed, 65 bytes), the timestamp in
// milliseconds since 1970 and the rune the call was made with.
type Pending struct {
	Request   []byte
	URI       string
	Signature []byte
	PubKey    []byte
	Timestamp uint64
	Rune      []byte
}

type pendingKey struct{}

// WithPending returns ctx carrying the node's pending calls for one
// signer request (the seam sets them; the IntentSource reads them).
func WithPending(ctx context.Context, p []Pending) context.Context {
	if len(p) == 0 {
		return ctx
	}
	return context.WithValue(ctx, pendingKey{}, p)
}

// PendingFrom returns the pending calls ctx carries.
func PendingFrom(ctx context.Context) []Pending {
	p, _ := ctx.Value(pendingKey{}).([]Pending)
	return p
}

// SignedBytes is what a Greenlight client signs: the framed request body
// followed by the timestamp as a big-endian u64 (libs/gl-client's
// AuthService; the signer appends it only when the timestamp is not 0).
func SignedBytes(request []byte, timestampMs uint64) []byte {
	out := append([]byte(nil), request...)
	if timestampMs != 0 {
		out = binary.BigEndian.AppendUint64(out, timestampMs)
	}
	return out
}

// ID names a pending call: SHA-256 of the signed bytes and the key.
// The same call resent has the same ID.
func (p Pending) ID() [32]byte {
	h := sha256.New()
	h.Write(SignedBytes(p.Request, p.Timestamp))
	h.Write(p.PubKey)
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// Verified is a pending call whose signature, rune and age were checked,
// with its body decoded.
type Verified struct {
	Pending
	Call *Call
	// RuneID is the rune's unique id ("0" for Greenlight's own).
	RuneID string
}

// Verifier checks pending calls against our master rune and a freshness
// window.
type Verifier struct {
	Master *Master
	// MaxAge is how old (or, for a clock ahead of ours, how far in the
	// future) a call's timestamp may be.
	MaxAge time.Duration
}

// Error is a pending call refused: Field names the PendingRequest field
// at fault ("signature", "timestamp", "rune", "pubkey", "uri",
// "request").
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Verify checks p at time now: the URI names a cln.Node or greenlight.Node
// method; the key is a P-256 point; the signature (r‖s, 64 bytes) is the
// key's over SignedBytes; the timestamp is set and within MaxAge of now;
// the rune derives from our master, binds this key (pubkey=, in a
// restriction of its own) and its restrictions hold for the method; the
// body decodes. Greenlight's signer checks no age and accepts a missing
// timestamp; we do neither.
func (v *Verifier) Verify(p Pending, now time.Time) (*Verified, error) {
	_, method, ok := splitURI(p.URI)
	if !ok {
		return nil, fieldErr("uri", "%q is not /cln.Node/<Method> or /greenlight.Node/<Method>", printable(p.URI))
	}
	if len(p.PubKey) != 65 || p.PubKey[0] != 4 {
		return nil, fieldErr("pubkey", "%d bytes; expected an uncompressed P-256 point (65 bytes, 0x04 first)", len(p.PubKey))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), p.PubKey)
	if err != nil {
		return nil, fieldErr("pubkey", "not a P-256 point: %v", err)
	}
	if len(p.Signature) != 64 {
		return nil, fieldErr("signature", "%d bytes; expected 64 (r and s, 32 bytes each)", len(p.Signature))
	}
	if p.Timestamp == 0 {
		return nil, fieldErr("timestamp", "missing; a call without one could be replayed at any time")
	}
	digest := sha256.Sum256(SignedBytes(p.Request, p.Timestamp))
	r := new(big.Int).SetBytes(p.Signature[:32])
	s := new(big.Int).SetBytes(p.Signature[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return nil, fieldErr("signature", "does not verify for the key and the request with its timestamp")
	}
	if p.Timestamp > uint64(1<<62) {
		return nil, fieldErr("timestamp", "%d ms is not a time", p.Timestamp)
	}
	at := time.UnixMilli(int64(p.Timestamp))
	if age := now.Sub(at); age > v.MaxAge {
		return nil, fieldErr("timestamp", "the call was made %s ago, longer than the %s allowed", age.Round(time.Second), v.MaxAge)
	} else if -age > v.MaxAge {
		return nil, fieldErr("timestamp", "the call is dated %s ahead of our clock, more than the %s allowed", (-age).Round(time.Second), v.MaxAge)
	}
	rn, err := ParseRune(p.Rune)
	if err != nil {
		return nil, fieldErr("rune", "%v", err)
	}
	if !v.Master.Authorized(rn) {
		return nil, fieldErr("rune", "not issued by this signer (its authcode does not derive from our master rune)")
	}
	if !bindsKey(rn) {
		return nil, fieldErr("rune", "binds no device key: it needs a restriction of pubkey= alone")
	}
	id, _ := rn.UniqueID()
	values := map[string]string{
		"method": strings.ToLower(method),
		"pubkey": hex.EncodeToString(p.PubKey),
		"time":   fmt.Sprint(now.Unix()),
	}
	if id != "" {
		values[""] = id + "-" + RuneVersion
	}
	if err := rn.Check(values); err != nil {
		return nil, fieldErr("rune", "%v", err)
	}
	call, err := DecodeCall(p.URI, p.Request)
	if err != nil {
		return nil, fieldErr("request", "%v", strings.TrimPrefix(err.Error(), "request: "))
	}
	return &Verified{Pending: p, Call: call, RuneID: id}, nil
}

// bindsKey reports whether some restriction of r is pubkey= alternatives
// only (so no alternative lets another key through).
func bindsKey(r *Rune) bool {
	for _, x := range r.Restrictions {
		all := len(x) > 0
		for _, a := range x {
			if a.Field != "pubkey" || a.Cond != '=' {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}

func splitURI(uri string) (service, method string, ok bool) {
	rest, found := strings.CutPrefix(uri, "/")
	if !found {
		return "", "", false
	}
	service, method, found = strings.Cut(rest, "/")
	if !found || method == "" || strings.Contains(method, "/") {
		return "", "", false
	}
	if service != "cln.Node" && service != "greenlight.Node" {
		return "", "", false
	}
	return service, method, true
}

// printable shortens s and hides control characters, for messages.
func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
