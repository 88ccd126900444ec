package intent

import (
	"testing"
	"time"
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
