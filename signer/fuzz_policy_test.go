package signer

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"gl-signerd/hsmproto"
)

// FuzzPolicyChecks runs the check column of the route table alone on
// arbitrary decoded requests — seeded with the transaction requests of the
// vectors, the policy attacks and synthetic wallet PSBTs — for an engine
// with an allowlist (an address and an xpub). Building the descriptor
// (amounts, outputs, wallet and allowlist derivations, HTLC script shape,
// invoice strings) must never panic, and a violation always has a tag
// and a reason.
func FuzzPolicyChecks(f *testing.F) {
	for _, raw := range txFuzzSeeds(f) {
		f.Add(raw)
	}
	for _, raw := range vectorTxRequests(f, filepath.Join("..", "..", "shared", "vectors", "policy", "attacks.jsonl")) {
		f.Add(raw)
	}
	f.Add((&hsmproto.PreapproveInvoice{Invstring: "lnbc1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq8rkx3yf5tcsyz3d73gafnh3cax9rn449d9p5uxz9ezhhypd0elx87sjle52x86fux2ypatgddc6k63n7erqz25le42c4u4ecky03ylcqca784w"}).Encode())
	master, err := hdkeychain.NewMaster(bytes.Repeat([]byte{7}, 32), &chaincfg.MainNetParams)
	if err != nil {
		f.Fatal(err)
	}
	xpub, err := master.Neuter()
	if err != nil {
		f.Fatal(err)
	}
	e, err := NewEngine(bytes.Repeat([]byte{0x01}, 32), WithNetwork("bitcoin"),
		WithPolicyAllowlist([]string{"address:bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "xpub:" + xpub.String()}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := hsmproto.Decode(raw)
		if err != nil {
			return
		}
		r, ok := routes[m.MsgType()]
		if !ok || r.check == nil {
			return
		}
		if v := r.check(e, MasterClient, m); v != nil && (v.Tag == "" || v.Reason == "") {
			t.Fatalf("violation without tag or reason: %+v", v)
		}
	})
}

// The allowlist makes an output that is not our wallet acceptable: an
// address entry by its script, an xpub entry by deriving the key along the
// path the PSBT claims.
func TestAllowlistThroughEngine(t *testing.T) {
	master, err := hdkeychain.NewMaster(bytes.Repeat([]byte{7}, 32), &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	xpub, _ := master.Neuter()
	child, _ := xpub.Derive(5)
	pub, _ := child.ECPubKey()
	xpubScript := scriptOfKey(pub)
	addrScript := append([]byte{0x00, 20}, bytes.Repeat([]byte{0x75}, 20)...)
	addr, err := btcutil.NewAddressWitnessPubKeyHash(addrScript[2:], &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		allowlist []string
		script    []byte
		path      []uint32
		want      bool
	}{
		{"no allowlist", nil, addrScript, nil, false},
		{"address listed", []string{"address:" + addr.EncodeAddress()}, addrScript, nil, true},
		{"another address listed", []string{"address:" + addr.EncodeAddress()}, xpubScript, nil, false},
		{"xpub key at the claimed path", []string{"xpub:" + xpub.String()}, xpubScript, []uint32{0x8000002c, 5}, true},
		{"xpub key at another path", []string{"xpub:" + xpub.String()}, xpubScript, []uint32{6}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{WithNetwork("bitcoin")}
			if tc.allowlist != nil {
				opts = append(opts, WithPolicyAllowlist(tc.allowlist))
			}
			e, err := NewEngine(bytes.Repeat([]byte{0x01}, 32), opts...)
			if err != nil {
				t.Fatal(err)
			}
			got := e.allowlist().Matches(tc.script, [][]uint32{tc.path})
			if got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := NewEngine(bytes.Repeat([]byte{0x01}, 32), WithNetwork("bitcoin"), WithPolicyAllowlist([]string{"address:tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"})); err == nil {
		t.Error("a testnet address on a mainnet allowlist was accepted")
	}
	if _, err := NewEngine(bytes.Repeat([]byte{0x01}, 32), WithNetwork("bitcoin"), WithPolicyAllowlist([]string{"xpub:" + master.String()})); err == nil {
		t.Error("an xprv on the allowlist was accepted")
	}
}

// scriptOfKey is the P2WPKH script of pub.
func scriptOfKey(pub interface{ SerializeCompressed() []byte }) []byte {
	return append([]byte{0x00, 20}, btcutil.Hash160(pub.SerializeCompressed())...)
}
