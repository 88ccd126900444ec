package intent

import (
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"gl-signerd/signer/state"
)

// An issued rune verifies a call of its device, numbered by the store,
// and carries the operator's restrictions; a request without a device
// key, or with a key that is not one, is refused.
func TestIssueRune(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), state.FileName))
	m, err := MasterFromSeed(testSeed)
	if err != nil {
		t.Fatal(err)
	}
	dev := newDevice(t, testSeed)
	key := "pubkey=" + hex.EncodeToString(dev.pub)
	first, err := IssueRune(m, st, []string{key}, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := IssueRune(m, st, []string{key, "method=pay|method=keysend"}, t0)
	if err != nil || got.ID != first.ID+1 || got.Restrictions != key+"&method=pay|method=keysend" {
		t.Fatalf("second rune: %+v, %v", got, err)
	}
	r, err := DecodeRune(got.Rune)
	if err != nil {
		t.Fatal(err)
	}
	dev.rune = r
	v := &Verifier{Master: m, MaxAge: DefaultMaxAge}
	if _, err := v.Verify(dev.call(t, MethodPay, pbString(1, "lnbcrt1"), t0), t0); err != nil {
		t.Fatalf("a call with the issued rune: %v", err)
	}
	if _, err := v.Verify(dev.call(t, MethodWithdraw, pbString(1, "bcrt1q"), t0), t0); err == nil || !strings.Contains(err.Error(), "method != pay") {
		t.Fatalf("a withdrawal with a pay|keysend rune: %v", err)
	}
	if rs, err := st.Runes(); err != nil || len(rs) != 2 || rs[1].Rune != got.Rune {
		t.Fatalf("listed: %+v, %v", rs, err)
	}
	for _, tc := range []struct {
		restrictions []string
		want         string
	}{
		{nil, "needs a restriction pubkey="},
		{[]string{"method=pay"}, "needs a restriction pubkey="},
		{[]string{"pubkey=04ab|method=pay"}, "needs a restriction pubkey="},
		{[]string{"pubkey^04"}, "bound with pubkey=, not '^'"},
		{[]string{"pubkey=04ab"}, "130 hex digits"},
		{[]string{"pubkey=04" + strings.Repeat("11", 64)}, "not a P-256 point"},
		{[]string{key, "method"}, "no operator"},
	} {
		if _, err := IssueRune(m, st, tc.restrictions, t0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want %q", tc.restrictions, err, tc.want)
		}
	}
	if rs, _ := st.Runes(); len(rs) != 2 {
		t.Fatalf("refused requests issued runes: %d listed", len(rs))
	}
}
