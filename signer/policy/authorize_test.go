package policy

import (
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

func TestAuthorize(t *testing.T) {
	for _, tc := range []struct {
		name   string
		g      Grounds
		by     string
		reason string
	}{
		{"nothing", Grounds{}, "", "is not authorized"},
		{"intent", Grounds{Intent: "pay"}, "intent", ""},
		{"intent beats a denial (the user asked again)", Grounds{Intent: "pay", Approval: ApprovalDenied}, "intent", ""},
		{"allowlisted", Grounds{Allowlisted: true}, "allowlist", ""},
		{"approved", Grounds{Approval: ApprovalGranted, ApprovalID: 4, Allowlisted: true}, "approval", ""},
		{"below the threshold", Grounds{BelowAutoApprove: true}, "auto-approve", ""},
		{"denied, allowlisted", Grounds{Approval: ApprovalDenied, ApprovalID: 4, Allowlisted: true}, "", "denied by the operator (approval 4)"},
		{"timed out, below the threshold", Grounds{Approval: ApprovalTimedOut, ApprovalID: 5, BelowAutoApprove: true}, "", "approval 5 timed out"},
		{"pending", Grounds{Approval: ApprovalPending, ApprovalID: 6}, "", "gl-signerd ctl approve 6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			by, v := Authorize(TagPaymentApproved, "a payment", tc.g)
			if by != tc.by {
				t.Fatalf("by %q, want %q", by, tc.by)
			}
			if (v == nil) != (tc.reason == "") || (v != nil && (v.Tag != TagPaymentApproved || !strings.Contains(v.Reason, tc.reason))) {
				t.Fatalf("violation %v, want one saying %q", v, tc.reason)
			}
		})
	}
}

func TestCheckVelocity(t *testing.T) {
	const now = 100_000
	spent := []Spent{{Amount: 300, Time: now - 10}, {Amount: 500, Time: now - 3600}, {Amount: 700, Time: now - 86_400}, {Amount: 900, Time: now + 5}}
	lim := VelocityLimit{PerHour: 1_000, PerDay: 2_000, Unit: "msat"}
	for _, tc := range []struct {
		amount uint64
		lim    VelocityLimit
		want   string
	}{
		{700, lim, ""},                 // hour: 300 + 700; day: 800 + 700
		{701, lim, "in the last hour"}, // 300 + 701 > 1000
		{1_200, VelocityLimit{PerDay: 2_000}, ""},
		{1_201, VelocityLimit{PerDay: 2_000}, "in the last day"},                  // 800 + 1201 > 2000
		{1 << 63, VelocityLimit{PerHour: 1 << 63, PerDay: 0}, "in the last hour"}, // no wrap
		{1 << 62, VelocityLimit{}, ""},
	} {
		v := CheckVelocity(TagPaymentVelocity, spent, tc.amount, now, tc.lim)
		if (v == nil) != (tc.want == "") || (v != nil && (v.Tag != TagPaymentVelocity || !strings.Contains(v.Reason, tc.want))) {
			t.Errorf("amount %d, limits %+v: %v, want %q", tc.amount, tc.lim, v, tc.want)
		}
	}
	if h, d := Use(spent, now); h != 300 || d != 800 {
		t.Errorf("Use = %d, %d; want 300, 800", h, d)
	}
}

// TestInvoicePayee: the payee is recovered from the signature (or read
// from n); a signature that does not recover is refused.
func TestInvoicePayee(t *testing.T) {
	key, _ := btcec.PrivKeyFromBytes([]byte("0123456789abcdef0123456789abcdef"))
	u5 := func(b []byte) []byte { out, _ := bech32.ConvertBits(b, 8, 5, true); return out }
	data := []byte{0, 1, 20, 9, 30, 0, 0}
	data = append(data, append([]byte{1, 1, 20}, u5(make([]byte, 32))...)...)
	data = append(data, append([]byte{13, 0, 2}, u5([]byte("c"))...)...)
	sign := func(hrp string, data []byte) string {
		packed, _ := bech32.ConvertBits(data, 5, 8, true)
		sig, err := ecdsa.SignCompact(key, chainhash.HashB(append([]byte(hrp), packed...)), true)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := bech32.Encode(hrp, append(append([]byte(nil), data...), u5(append(sig[1:], (sig[0]-27)&3))...))
		return s
	}
	net := Network{Name: "bitcoin", InvoicePrefix: "lnbc"}
	s := sign("lnbc25u", data)
	inv, v := ParseInvoiceString(s, net)
	if v != nil {
		t.Fatal(v)
	}
	id, v := InvoicePayee(s, inv)
	if v != nil || string(id[:]) != string(key.PubKey().SerializeCompressed()) {
		t.Fatalf("recovered %x, %v; want %x", id, v, key.PubKey().SerializeCompressed())
	}
	// Another hrp under the same signature recovers another key.
	other := sign("lnbc25u", data)
	other = "lnbc26u" + other[len("lnbc25u"):]
	if hrp, d5, err := bech32.DecodeNoLimit(other); err == nil {
		re, _ := bech32.Encode(hrp, d5)
		if inv2, v := ParseInvoiceString(re, net); v == nil {
			if id2, v := InvoicePayee(re, inv2); v == nil && id2 == id {
				t.Fatal("a changed invoice recovered the signer's key")
			}
		}
	}
	// A recovery id above 3 is refused.
	hrp, d5, _ := bech32.DecodeNoLimit(s)
	sig := d5[len(d5)-104:]
	raw, _ := bech32.ConvertBits(sig, 5, 8, false)
	raw[64] = 7
	d5 = append(d5[:len(d5)-104:len(d5)-104], u5(raw)...)
	s2, _ := bech32.Encode(hrp, d5)
	if inv3, v := ParseInvoiceString(s2, net); v == nil {
		if _, v := InvoicePayee(s2, inv3); v == nil || v.Tag != TagInvoiceFormat {
			t.Fatalf("recovery id 7: %v", v)
		}
	}
}

func TestAllowlistPayee(t *testing.T) {
	net, _ := NetworkFor("bitcoin")
	id := "034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa"
	a, err := ParseAllowlist([]string{"payee:" + id}, net)
	if err != nil {
		t.Fatal(err)
	}
	var want [33]byte
	for i := range want {
		var b byte
		for _, c := range id[2*i : 2*i+2] {
			b = b<<4 | byte(strings.IndexRune("0123456789abcdef", c))
		}
		want[i] = b
	}
	if !a.HasPayee(want) || a.HasPayee([33]byte{2}) || (*Allowlist)(nil).HasPayee(want) {
		t.Fatal("HasPayee")
	}
	for _, bad := range []string{"payee:", "payee:" + id[:64], "payee:04" + id[2:], "payee:zz" + id[2:], "payee:02fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"} {
		if _, err := ParseAllowlist([]string{bad}, net); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
