package intent

import (
	"strings"
	"testing"
	"time"
)

// Every tampering with a pending call is refused, naming the field.
func TestVerifyRefusesTampering(t *testing.T) {
	m, err := MasterFromSeed(testSeed)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Master: m, MaxAge: 10 * time.Minute}
	dev := newDevice(t, testSeed)
	other := newDevice(t, testSeed)
	payOnly := newDevice(t, testSeed, Restriction{{Field: "method", Cond: '=', Value: "pay"}})
	foreign := newDevice(t, append([]byte{1}, testSeed[1:]...))
	unbound := newDevice(t, testSeed)
	unbound.rune = m.Carve(0, Restriction{{Field: "pubkey", Cond: '=', Value: "00"}, {Field: "method", Cond: '=', Value: "pay"}})
	body := pbString(1, "lnbcrt1invoice")

	good := dev.call(t, MethodPay, body, t0)
	if got, err := v.Verify(good, t0.Add(time.Minute)); err != nil || got.Call.Bolt11 != "lnbcrt1invoice" || got.RuneID != "0" {
		t.Fatalf("a good call: %+v, %v", got, err)
	}
	if _, err := v.Verify(payOnly.call(t, MethodPay, body, t0), t0); err != nil {
		t.Fatalf("a pay-only rune refused pay: %v", err)
	}

	for _, tc := range []struct {
		name  string
		p     func() Pending
		field string
		want  string
	}{
		{"wrong key", func() Pending { p := good; p.PubKey = other.pub; p.Rune = other.rune.Bytes(); return p }, "signature", "does not verify"},
		{"bad signature", func() Pending { p := good; p.Signature = flip(p.Signature, 10); return p }, "signature", "does not verify"},
		{"changed body", func() Pending { p := good; p.Request = Frame(pbString(1, "lnbcrt1other")); return p }, "signature", "does not verify"},
		{"changed timestamp", func() Pending { p := good; p.Timestamp++; return p }, "signature", "does not verify"},
		{"old timestamp", func() Pending { return dev.call(t, MethodPay, body, t0.Add(-11*time.Minute)) }, "timestamp", "longer than the 10m0s allowed"},
		{"future timestamp", func() Pending { return dev.call(t, MethodPay, body, t0.Add(11*time.Minute)) }, "timestamp", "ahead of our clock"},
		{"no timestamp", func() Pending { p := good; p.Timestamp = 0; return p }, "timestamp", "missing"},
		{"rune for another pubkey", func() Pending { p := dev.call(t, MethodPay, body, t0); p.Rune = other.rune.Bytes(); return p }, "rune", "pubkey != "},
		{"rune for another method", func() Pending { return payOnly.call(t, MethodKeySend, pbBytes(1, make([]byte, 33)), t0) }, "rune", "method != pay"},
		{"rune of another node", func() Pending { return foreign.call(t, MethodPay, body, t0) }, "rune", "not issued by this signer"},
		{"rune binding no key", func() Pending { return unbound.call(t, MethodPay, body, t0) }, "rune", "binds no device key"},
		{"rune of another version", func() Pending {
			rs := []Restriction{{{Cond: '=', Value: "0-gl1"}}, dev.rune.Restrictions[1]}
			p := dev.call(t, MethodPay, body, t0)
			p.Rune = (&Rune{Authcode: m.authcode(rs), Restrictions: rs}).Bytes()
			return p
		}, "rune", "id != 0-gl1"},
		{"rune cut short", func() Pending { p := good; p.Rune = p.Rune[:20]; return p }, "rune", "shorter than its 32-byte authcode"},
		{"rune restriction changed", func() Pending {
			p := good
			p.Rune = append([]byte(nil), p.Rune...)
			p.Rune[len(p.Rune)-1] ^= 1
			return p
		}, "rune", "not issued by this signer"},
		{"short pubkey", func() Pending { p := good; p.PubKey = p.PubKey[:33]; return p }, "pubkey", "expected an uncompressed P-256 point"},
		{"pubkey off the curve", func() Pending { p := good; p.PubKey = flip(p.PubKey, 64); return p }, "pubkey", "not a P-256 point"},
		{"short signature", func() Pending { p := good; p.Signature = p.Signature[:63]; return p }, "signature", "expected 64"},
		{"other service", func() Pending { p := good; p.URI = "/evil.Node/Pay"; return p }, "uri", "is not /cln.Node"},
		{"malformed body", func() Pending {
			p := dev.call(t, MethodPay, []byte{0x0a, 0x05, 'a'}, t0)
			return p
		}, "request", "field 1"},
		{"bad framing", func() Pending {
			p := dev.call(t, MethodPay, body, t0)
			p.Request = p.Request[:len(p.Request)-1]
			p.Signature = sign(t, dev.key, SignedBytes(p.Request, p.Timestamp))
			return p
		}, "request", "the prefix says"},
	} {
		_, err := v.Verify(tc.p(), t0)
		e, ok := err.(*Error)
		if !ok || e.Field != tc.field || !strings.Contains(e.Reason, tc.want) {
			t.Errorf("%s: %v; want a %s error with %q", tc.name, err, tc.field, tc.want)
		}
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 1
	return out
}

// DecodeCall reads each mapped method's fields at cln-grpc's numbers.
func TestDecodeCall(t *testing.T) {
	node := make([]byte, 33)
	node[0] = 2
	for _, tc := range []struct {
		method string
		body   []byte
		check  func(c *Call) bool
	}{
		{MethodPay, cat(pbString(1, "LIGHTNING:LNBCRT1X"), pbAmount(13, 5000), pbString(3, "label")), func(c *Call) bool {
			return c.Bolt11 == "lnbcrt1x" && c.HasAmount && c.AmountMsat == 5000
		}},
		{MethodTrampolinePay, cat(pbString(1, "lnbcrt1y"), pbVarint(3, 7000)), func(c *Call) bool { return c.Bolt11 == "lnbcrt1y" && c.AmountMsat == 7000 }},
		{MethodKeySend, cat(pbBytes(1, node), pbAmount(10, 1234)), func(c *Call) bool { return c.Node[0] == 2 && c.AmountMsat == 1234 }},
		{MethodWithdraw, cat(pbString(1, "bcrt1qaddr"), pbAmountOr(2, 100_000)), func(c *Call) bool {
			return c.Address == "bcrt1qaddr" && c.AmountMsat == 100_000 && !c.All
		}},
		{MethodWithdraw, cat(pbString(1, "bcrt1qaddr"), pbAll(2)), func(c *Call) bool { return c.All && !c.HasAmount }},
		{MethodFundChannel, cat(pbAmountOr(1, 2_000_000), pbBytes(9, node)), func(c *Call) bool { return c.AmountMsat == 2_000_000 && len(c.Node) == 33 }},
		{MethodClose, cat(pbString(1, "abc"), pbString(3, "bcrt1qdest")), func(c *Call) bool { return c.CloseID == "abc" && c.Address == "bcrt1qdest" }},
		{MethodInvoice, cat(pbString(2, "coffee"), pbString(3, "l"), pbBytes(10, pbVarint(2, 1))), func(c *Call) bool { return c.Description == "coffee" && c.Any }},
		{"/cln.Node/Getinfo", []byte{0xff}, func(c *Call) bool { return c.Method == "/cln.Node/Getinfo" }},
	} {
		c, err := DecodeCall(tc.method, Frame(tc.body))
		if err != nil || !tc.check(c) {
			t.Errorf("%s: %+v, %v", tc.method, c, err)
		}
	}
	for _, tc := range []struct {
		method string
		body   []byte
		want   string
	}{
		{MethodKeySend, pbBytes(1, node[:32]), "32-byte node id"},
		{MethodPay, pbVarint(1, 5), "field 1 has wire type 0; expected 2"},
		{MethodWithdraw, pbBytes(2, []byte{0x0a, 0x09}), "field 2: field 1"},
		{MethodPay, []byte{0x0a}, "field 1"},
		{MethodPay, []byte{0x00}, "tag does not decode"},
	} {
		if _, err := DecodeCall(tc.method, Frame(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %x: %v; want %q", tc.method, tc.body, err, tc.want)
		}
	}
}
