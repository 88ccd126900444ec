package daemon

import (
	"context"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/secretstore"
)

// The hsmd_init the scheduler is given for the node's start carries the
// network's BIP32 key versions as CLN v26.06.6's bitcoin/chainparams.c
// has them (mainnet's for bitcoin and liquid, testnet's for the others),
// and the init reply beside it answers with the same versions.
func TestStartupInitFollowsCLNChainparams(t *testing.T) {
	const mainPub, mainPriv, testPub, testPriv = 0x0488b21e, 0x0488ade4, 0x043587cf, 0x04358394
	for _, tc := range []struct {
		network   string
		pub, priv uint32
	}{
		{"bitcoin", mainPub, mainPriv},
		{"liquid", mainPub, mainPriv},
		{"testnet", testPub, testPriv},
		{"testnet4", testPub, testPriv},
		{"signet", testPub, testPriv},
		{"regtest", testPub, testPriv},
		{"liquid-regtest", testPub, testPriv},
	} {
		t.Run(tc.network, func(t *testing.T) {
			// The engine is fixed to its seed's network, as run makes it.
			seed := &secretstore.Seed{Type: secretstore.TypeGreenlight, Network: secretstore.Network(tc.network), Secret: make([]byte, 32)}
			seed.Secret[0] = 1
			eng, err := NewEngine(seed)
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Wipe()
			initReply, msgs, err := startupMessages(context.Background(), eng, tc.network)
			if err != nil {
				t.Fatal(err)
			}
			m, err := hsmproto.Decode(msgs[0].Request)
			if err != nil {
				t.Fatal(err)
			}
			init, ok := m.(*hsmproto.Init)
			if !ok {
				t.Fatalf("the first start-up request is %T, want hsmd_init", m)
			}
			if v := init.Bip32KeyVersion; v.Bip32PubkeyVersion != tc.pub || v.Bip32PrivkeyVersion != tc.priv {
				t.Errorf("hsmd_init BIP32 versions %08x/%08x, want %08x/%08x", v.Bip32PubkeyVersion, v.Bip32PrivkeyVersion, tc.pub, tc.priv)
			}
			if got := init.Chainparams.Network(); got != tc.network {
				t.Errorf("hsmd_init is for network %q", got)
			}
			r, err := hsmproto.Decode(initReply)
			if err != nil {
				t.Fatal(err)
			}
			reply, ok := r.(*hsmproto.InitReplyV4)
			if !ok {
				t.Fatalf("the init reply is %T", r)
			}
			if pub := uint32(reply.Bip32[0])<<24 | uint32(reply.Bip32[1])<<16 | uint32(reply.Bip32[2])<<8 | uint32(reply.Bip32[3]); pub != tc.pub {
				t.Errorf("the init reply's xpub has version %08x, want %08x", pub, tc.pub)
			}
		})
	}
}
