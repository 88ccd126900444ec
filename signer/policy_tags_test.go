package signer_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/keys"
	"gl-signerd/signer/policy"
)

// Every policy tag through the engine: a request that breaks exactly that
// rule is refused with that tag under enforce, signed and reported under
// warn, signed silently under off; and a valid request of each kind is
// signed in every mode.
func TestPolicyTagsThroughEngine(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, 32)
	peer := [33]byte{0x03, 0x4f, 0x35}
	third := [33]byte{0x03, 0x99}
	for i := 3; i < 33; i++ {
		peer[i], third[i] = byte(i), byte(i)
	}
	other := [33]byte{0x02, 0x77}
	// Channel announcements name public keys only: raise each last byte
	// until its x coordinate is on the curve.
	for _, k := range []*[33]byte{&peer, &third, &other} {
		for _, err := btcec.ParsePubKey(k[:]); err != nil; _, err = btcec.ParsePubKey(k[:]) {
			k[32]++
		}
	}
	ref := testEngine(t, signer.WithNetwork("bitcoin"))
	ours := ref.NodeID()
	bp, re := ask(t, ref, signer.MasterClient, &hsmproto.GetChannelBasepoints{Peerid: hsmproto.NodeID(peer), DBID: 7})
	if re != nil {
		t.Fatal(re)
	}
	fund := [33]byte(bp.(*hsmproto.GetChannelBasepointsReply).FundingPubkey)
	mainnet, _ := hsmproto.ChainparamsFor("bitcoin")
	testnet, _ := hsmproto.ChainparamsFor("testnet")

	nodeAnn := func(id [33]byte) hsmproto.Message {
		b := binary.BigEndian.AppendUint16(nil, 257)
		b = append(b, make([]byte, 64+2+4)...)
		b = append(b, id[:]...)
		b = append(b, make([]byte, 3+32+2)...)
		return &hsmproto.NodeAnnouncementSigReq{Announcement: b}
	}
	chanAnn := func(chain hsmproto.Chainparams, n1, n2, k1, k2 [33]byte) hsmproto.Message {
		b := binary.BigEndian.AppendUint16(nil, 256)
		b = append(b, make([]byte, 256+2)...)
		b = append(b, chain[:]...)
		b = binary.BigEndian.AppendUint64(b, 900_000<<40)
		for _, k := range [][33]byte{n1, n2, k1, k2} {
			b = append(b, k[:]...)
		}
		return &hsmproto.SignAnyCannouncementReq{Ca: b, Peerid: hsmproto.NodeID(peer), ChannelDBID: 7}
	}
	update := func(chain hsmproto.Chainparams, extra ...byte) hsmproto.Message {
		b := binary.BigEndian.AppendUint16(nil, 258)
		b = append(b, make([]byte, 64)...)
		b = append(b, chain[:]...)
		b = append(b, make([]byte, 8+4)...)
		b = append(b, 1, 0, 0, 34)
		b = append(b, make([]byte, 8+4+4+8)...)
		return &hsmproto.CupdateSigReq{Cu: append(b, extra...)}
	}
	u5 := func(b []byte) []byte {
		var out []byte
		var acc, n uint
		for _, x := range b {
			acc = acc<<8 | uint(x)
			n += 8
			for n >= 5 {
				n -= 5
				out = append(out, byte(acc>>n)&31)
			}
		}
		if n > 0 {
			out = append(out, byte(acc<<(5-n))&31)
		}
		return out
	}
	field := func(typ byte, data []byte) []byte {
		return append([]byte{typ, byte(len(data) >> 5), byte(len(data) & 31)}, data...)
	}
	p := field(1, u5(bytes.Repeat([]byte{0xab}, 32)))
	d := field(13, u5([]byte("coffee")))
	invoice := func(hrp string, fields ...[]byte) hsmproto.Message {
		data := []byte{0, 1, 20, 9, 30, 0, 0}
		for _, f := range fields {
			data = append(data, f...)
		}
		return &hsmproto.SignInvoice{Hrp: []byte(hrp), U5bytes: data}
	}
	n := func(id [33]byte) []byte { return field(19, u5(id[:])) }
	channeld := signer.Client{PeerID: peer, DBID: 7, Capabilities: 447}

	cases := []struct {
		tag    string
		client signer.Client
		req    hsmproto.Message
		opts   []signer.Option
	}{
		{"", signer.MasterClient, nodeAnn(ours), nil},
		{"", signer.MasterClient, chanAnn(mainnet, ours, peer, fund, other), nil},
		{"", channeld, update(mainnet), nil},
		{"", signer.MasterClient, invoice("lnbc25u", p, d, n(ours)), nil},
		{"", signer.MasterClient, &hsmproto.DeriveSecret{Info: []byte("commando")}, nil},
		{policy.TagNetworkUnknown, signer.MasterClient, invoice("lnbc25u", p, d), []signer.Option{signer.WithBIP32Version(keys.BIP32Testnet)}},
		{policy.TagNodeAnnouncementFormat, signer.MasterClient, &hsmproto.NodeAnnouncementSigReq{Announcement: nodeAnn(ours).(*hsmproto.NodeAnnouncementSigReq).Announcement[:140]}, nil},
		{policy.TagNodeAnnouncementNodeID, signer.MasterClient, nodeAnn(other), nil},
		{policy.TagChannelAnnouncementFormat, signer.MasterClient, chanAnn(mainnet, peer, ours, other, fund), nil},
		{policy.TagChannelAnnouncementChain, signer.MasterClient, chanAnn(testnet, ours, peer, fund, other), nil},
		{policy.TagChannelAnnouncementNodeID, signer.MasterClient, chanAnn(mainnet, other, third, fund, other), nil},
		{policy.TagChannelAnnouncementPeerID, signer.MasterClient, chanAnn(mainnet, ours, third, fund, other), nil},
		{policy.TagChannelAnnouncementFundingKey, signer.MasterClient, chanAnn(mainnet, ours, peer, other, fund), nil},
		{policy.TagChannelUpdateFormat, channeld, update(mainnet, 0xca, 0xfe), nil},
		{policy.TagChannelUpdateChain, channeld, update(testnet), nil},
		{policy.TagInvoiceHRPNetwork, signer.MasterClient, invoice("lntb25u", p, d), nil},
		{policy.TagInvoiceHRPAmount, signer.MasterClient, invoice("lnbc025u", p, d), nil},
		{policy.TagInvoiceFormat, signer.MasterClient, invoice("lnbc25u", p, d, []byte{32}), nil},
		{policy.TagInvoicePaymentHash, signer.MasterClient, invoice("lnbc25u", d), nil},
		{policy.TagInvoiceDescription, signer.MasterClient, invoice("lnbc25u", p), nil},
		{policy.TagInvoicePayee, signer.MasterClient, invoice("lnbc25u", p, d, n(other)), nil},
		{policy.TagDeriveSecretLabel, signer.MasterClient, &hsmproto.DeriveSecret{Info: []byte("NOSTRSECRET")}, nil},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.tag] = true
	}
	for _, tc := range commitmentTags {
		covered[tc] = true // TestCommitmentTagsThroughEngine
	}
	for _, tag := range policy.Tags {
		if !covered[tag] && !onchainTags[tag] && !authorizationTags[tag] && !channelTags[tag] { // those: TestOnchainTagsOnVectors, TestAuthorizationTagsEveryMode, TestChannelTagsOnVectors
			t.Errorf("no case for %s", tag)
		}
	}
	for _, tc := range cases {
		name := tc.tag
		if name == "" {
			name = "valid " + tc.req.MsgName()
		}
		t.Run(name, func(t *testing.T) {
			for _, mode := range policy.Modes {
				var reported []string
				opts := append([]signer.Option{signer.WithPolicyMode(mode),
					signer.WithPolicyReporter(func(_ signer.Client, _ uint16, v *policy.Violation) { reported = append(reported, v.Tag) })}, tc.opts...)
				e, err := signer.NewEngine(secret, opts...)
				if err != nil {
					t.Fatal(err)
				}
				_, re := ask(t, e, tc.client, tc.req)
				refuse := tc.tag != "" && mode == policy.ModeEnforce
				switch {
				case refuse && (re == nil || re.Tag != tc.tag || re.Fatal):
					t.Errorf("%s: got %v; want a non-fatal refusal tagged %s", mode, re, tc.tag)
				case !refuse && re != nil:
					t.Errorf("%s: refused: %v", mode, re)
				}
				want := []string(nil)
				if mode == policy.ModeWarn && tc.tag != "" {
					want = []string{tc.tag}
				}
				if !equalStrings(reported, want) {
					t.Errorf("%s: reported %v; want %v", mode, reported, want)
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
