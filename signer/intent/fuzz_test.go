package intent

import (
	"path/filepath"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/state"
)

// FuzzParseRune: any bytes either parse into a rune that encodes back to
// the same text, or are refused with an error; checking one never panics.
func FuzzParseRune(f *testing.F) {
	for _, v := range runeVectors {
		if r, err := DecodeRune(v.b64); err == nil {
			f.Add(r.Bytes())
		}
	}
	f.Add(append(make([]byte, 32), `=1-gl0&pubkey=04\|a&method^get|method^list&time<9`...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRune(b)
		if err != nil {
			return
		}
		again, err := ParseRune(r.Bytes())
		if err != nil || again.String() != r.String() {
			t.Fatalf("%q re-read as %v, %v", r.String(), again, err)
		}
		r.Check(map[string]string{"": "1-gl0", "method": "pay", "pubkey": "04", "time": "5"})
		r.Check(nil)
	})
}

// FuzzVerify: any pending call is verified or refused with an *Error
// naming its field, and every method's body decodes or is refused.
func FuzzVerify(f *testing.F) {
	m, err := MasterFromSeed(testSeed)
	if err != nil {
		f.Fatal(err)
	}
	dev := newDevice(f, testSeed)
	good := dev.call(f, MethodWithdraw, cat(pbString(1, "bcrt1q"), pbAmountOr(2, 1000)), t0)
	f.Add(good.Request, good.URI, good.Signature, good.PubKey, good.Timestamp, good.Rune)
	f.Add([]byte{0, 0, 0, 0, 3, 0x0a, 1, 'x'}, MethodPay, good.Signature, good.PubKey, uint64(1), []byte("x"))
	v := &Verifier{Master: m, MaxAge: time.Hour}
	methods := []string{MethodPay, MethodPreApproveInvoice, MethodTrampolinePay, MethodKeySend, MethodPreApproveKeysend,
		MethodWithdraw, MethodFundChannel, MethodClose, MethodInvoice}
	f.Fuzz(func(t *testing.T, req []byte, uri string, sig, pub []byte, ts uint64, rn []byte) {
		p := Pending{Request: req, URI: uri, Signature: sig, PubKey: pub, Timestamp: ts, Rune: rn}
		if _, err := v.Verify(p, t0); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("a refusal of type %T: %v", err, err)
			}
		}
		for _, method := range methods {
			DecodeCall(method, req)
		}
	})
}

// FuzzMatches: any hsmd request against any call body of every mapped
// method is matched or not, never a panic, and Authorize with such a call
// attached returns (a forged call authorizes nothing).
func FuzzMatches(f *testing.F) {
	st, err := state.Open(filepath.Join(f.TempDir(), state.FileName))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	s, err := NewSource(testSeed, "regtest", DefaultMaxAge, st, WithClock(func() time.Time { return t0 }))
	if err != nil {
		f.Fatal(err)
	}
	dev := newDevice(f, testSeed)
	f.Add((&hsmproto.PreapproveInvoice{Invstring: "lnbcrt1x"}).Encode(), pbString(1, "lnbcrt1x"))
	f.Add((&hsmproto.PreapproveKeysend{AmountMsat: 5}).Encode(), cat(pbBytes(1, make([]byte, 33)), pbAmount(10, 5)))
	f.Add((&hsmproto.SignInvoice{Hrp: []byte("lnbcrt1u"), U5bytes: make([]byte, 7)}).Encode(), cat(pbString(2, "d"), pbAmountOr(10, 100_000)))
	f.Add([]byte{0, 7, 0, 0, 0, 0, 0, 0}, cat(pbString(1, "bcrt1q"), pbAll(2)))
	f.Fuzz(func(t *testing.T, raw, body []byte) {
		m, err := hsmproto.Decode(raw)
		if err != nil {
			return
		}
		c := signer.Client{PeerID: [33]byte{2}, DBID: 1}
		for method := range mapped {
			call, err := DecodeCall(method, Frame(body))
			if err != nil {
				continue
			}
			s.Matches(call, c, m)
			p := dev.call(t, method, body, t0)
			p.Signature = flip(p.Signature, 0)
			if got, err := s.Authorize(ctxWith(p), c, m); got != nil || err != nil {
				t.Fatalf("a forged call authorized %s: %+v, %v", m.MsgName(), got, err)
			}
		}
	})
}
