package signer

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"gl-signerd/signer/keys"
)

// BenchmarkSignWithdrawalColdKeys is BenchmarkSignWithdrawal on an engine
// whose wallet public key cache is off: every input's public key is
// computed again (a base-point multiplication), as for a UTXO key the
// engine has not seen since it started.
func BenchmarkSignWithdrawalColdKeys(b *testing.B) {
	noCache := func(o *engineOptions) { o.keyOpts = append(o.keyOpts, keys.WithWalletCacheSize(0)) }
	e, err := NewEngine(bytes.Repeat([]byte{0x42}, 32), noCache) // txEngine's secret
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 10} {
		ins := make([]walletInput, n)
		for i := range ins {
			ins[i] = walletInput{index: uint32(100 + i), amount: 50_000 + int64(i)}
		}
		raw := withdrawal(b, e, ins).Encode()
		b.Run(fmt.Sprintf("p2wpkh-inputs=%d/engine", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := e.Handle(context.Background(), MasterClient, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
