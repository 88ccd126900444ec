package signer

import (
	"bytes"
	"context"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/keys"
)

// nodeInit is the hsmd_init a hostile node would send: wire version 5
// only (get_per_commitment_point then returns old secrets), on mainnet.
func nodeInit(t *testing.T) []byte {
	t.Helper()
	cp, ok := hsmproto.ChainparamsFor("bitcoin")
	if !ok {
		t.Fatal("no chainparams for bitcoin")
	}
	v := keys.BIP32Mainnet
	return (&hsmproto.Init{
		Bip32KeyVersion:   hsmproto.Bip32KeyVersion{Bip32PubkeyVersion: v.Public, Bip32PrivkeyVersion: v.Private},
		Chainparams:       cp,
		HsmWireMinVersion: 5,
		HsmWireMaxVersion: 5,
	}).Encode()
}

// With WithFixedNetwork, hsmd_init is refused on every connection and
// changes nothing: the engine stays at version 6 on the configured
// network, and get_per_commitment_point returns no old secret. Without
// it (replay, the drop-in hsmd) the same hsmd_init is CLN's protocol and
// is obeyed.
func TestFixedNetworkRefusesInit(t *testing.T) {
	ctx := context.Background()
	channel := Client{PeerID: testPeer, DBID: 3, Capabilities: CapCommitmentPoint}
	getPoint := (&hsmproto.GetPerCommitmentPoint{N: 5}).Encode()
	for _, tc := range []struct {
		name        string
		opts        []Option
		wantRefused bool
		wantVersion uint32
		wantNetwork string
	}{
		{"fixed regtest", []Option{WithFixedNetwork("regtest")}, true, 6, "regtest"},
		{"fixed bitcoin", []Option{WithFixedNetwork("bitcoin")}, true, 6, "bitcoin"},
		{"CLN protocol", nil, false, 5, "bitcoin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEngine(bytes.Repeat([]byte{1}, 32), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Wipe()
			before, err := e.InitReply(tc.wantNetwork)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []Client{MasterClient, {PeerID: testPeer, DBID: 1, Capabilities: CapMaster}} {
				_, err := e.Handle(ctx, c, nodeInit(t))
				re := refusal(t, err)
				if tc.wantRefused && (re == nil || !bytes.Contains([]byte(re.Reason), []byte("fixed by the signer's configuration"))) {
					t.Errorf("hsmd_init from %+v: %v, want a refusal naming the configuration", c, err)
				}
				if !tc.wantRefused && re != nil {
					t.Errorf("hsmd_init refused without WithFixedNetwork: %v", re)
				}
			}
			if e.Version() != tc.wantVersion || e.Network() != tc.wantNetwork {
				t.Errorf("after the node's hsmd_init: version %d, network %q; want %d, %q", e.Version(), e.Network(), tc.wantVersion, tc.wantNetwork)
			}
			raw, err := e.Handle(ctx, channel, getPoint)
			if err != nil {
				t.Fatal(err)
			}
			m, err := hsmproto.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			old := m.(*hsmproto.GetPerCommitmentPointReply).OldCommitmentSecret
			if (old != nil) != (tc.wantVersion == 5) {
				t.Errorf("get_per_commitment_point 5 at version %d returned an old secret: %v", tc.wantVersion, old != nil)
			}
			if tc.wantRefused {
				after, err := e.InitReply(tc.wantNetwork)
				if err != nil || !bytes.Equal(before, after) {
					t.Errorf("the init reply changed after a refused hsmd_init (%v)", err)
				}
				other := map[string]string{"regtest": "bitcoin", "bitcoin": "regtest"}[tc.wantNetwork]
				if _, err := e.InitReply(other); err == nil {
					t.Errorf("an engine fixed to %s made an init reply for %s", tc.wantNetwork, other)
				}
			}
		})
	}
	if _, err := NewEngine(bytes.Repeat([]byte{1}, 32), WithFixedNetwork("mainnet")); err == nil {
		t.Error(`WithFixedNetwork("mainnet") accepted; CLN calls it "bitcoin"`)
	}
}
