package intent

import (
	"path/filepath"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/state"
)

// BenchmarkAuthorize: a preapprove_invoice carrying ten calls that
// authorize nothing (skipped unjudged), and one carrying its own call
// resent (decoded, matched, verified, found consumed by it).
func BenchmarkAuthorize(b *testing.B) {
	st, err := state.Open(filepath.Join(b.TempDir(), state.FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s, err := NewSource(testSeed, "regtest", DefaultMaxAge, st)
	if err != nil {
		b.Fatal(err)
	}
	s.now = func() time.Time { return t0 }
	dev := newDevice(b, testSeed)
	m := &hsmproto.PreapproveInvoice{Invstring: "lnbcrt1bench"}
	var others []Pending
	for i := 0; i < 10; i++ {
		others = append(others, dev.call(b, "/cln.Node/ListFunds", nil, t0))
	}
	own := dev.call(b, MethodPay, pbString(1, "lnbcrt1bench"), t0)
	if got, _ := s.Authorize(ctxWith(own), signer.MasterClient, m); got == nil {
		b.Fatal("not authorized")
	}
	for _, bc := range []struct {
		name string
		p    []Pending
	}{{"ten-unrelated-calls", others}, {"own-call-resent", []Pending{own}}} {
		ctx := ctxWith(bc.p...)
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s.Authorize(ctx, signer.MasterClient, m)
			}
		})
	}
}
