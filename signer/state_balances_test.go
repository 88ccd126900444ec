package signer

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/wire"

	"gl-signerd/signer/state"
)

// TestSplitOutputs: a commitment's outputs are told apart by script
// (to_remote), amount (HTLCs) and the anchors' 330 sat; without anchors
// and without static_remotekey, to_remote is the only P2WPKH output.
func TestSplitOutputs(t *testing.T) {
	p2wsh := func(b byte) []byte { return append([]byte{0x00, 0x20}, bytes.Repeat([]byte{b}, 32)...) }
	p2wpkh := append([]byte{0x00, 0x14}, bytes.Repeat([]byte{9}, 20)...)
	var key [33]byte
	key[0], key[1] = 2, 7
	anchored := toRemoteScript(key, true)
	htlc := []state.HTLC{{AmountMsat: 5_000_000}}
	cases := []struct {
		name          string
		outs          []*wire.TxOut
		toRemote      []byte
		anchors       bool
		htlcs         []state.HTLC
		remote, local uint64
	}{
		{"legacy: the P2WPKH output", []*wire.TxOut{{Value: 70_000, PkScript: p2wsh(1)}, {Value: 5_000, PkScript: p2wsh(2)}, {Value: 20_000, PkScript: p2wpkh}}, toRemoteAnyP2WPKH, false, htlc, 20_000, 70_000},
		{"legacy: no P2WPKH, to_remote trimmed", []*wire.TxOut{{Value: 70_000, PkScript: p2wsh(1)}}, toRemoteAnyP2WPKH, false, nil, 0, 70_000},
		{"static key: the exact script only", []*wire.TxOut{{Value: 70_000, PkScript: p2wsh(1)}, {Value: 20_000, PkScript: p2wpkh}}, toRemoteScript(key, false), false, nil, 0, 90_000},
		{"anchors", []*wire.TxOut{{Value: 330, PkScript: p2wsh(3)}, {Value: 330, PkScript: p2wsh(4)}, {Value: 60_000, PkScript: p2wsh(1)}, {Value: 30_000, PkScript: anchored}}, anchored, true, nil, 30_000, 60_000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx := &wire.MsgTx{TxOut: c.outs}
			remote, local := splitOutputs(tx, c.toRemote, c.anchors, c.htlcs)
			if remote != c.remote || local != c.local {
				t.Fatalf("to_remote %d, to_local %d; want %d, %d", remote, local, c.remote, c.local)
			}
		})
	}
}
