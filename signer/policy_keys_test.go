package signer_test

import (
	"encoding/binary"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
)

// A channel_announcement is well-formed only if its two node ids and two
// bitcoin keys are public keys. Without that check a request with no
// context (lightningd's connection: peer id all zeros, dbid 0) had the
// node key and a funding key sign an announcement of a channel with the
// "node" 00…00, and any request could put 33 bytes of its choice where the
// peer's bitcoin key goes.
func TestChannelAnnouncementKeysArePublicKeys(t *testing.T) {
	ref := testEngine(t, signer.WithNetwork("bitcoin"))
	ours := ref.NodeID()
	mainnet, _ := hsmproto.ChainparamsFor("bitcoin")
	fundingKey := func(peer [33]byte, dbid uint64) [33]byte {
		bp, re := ask(t, ref, signer.MasterClient, &hsmproto.GetChannelBasepoints{Peerid: hsmproto.NodeID(peer), DBID: dbid})
		if re != nil {
			t.Fatal(re)
		}
		return [33]byte(bp.(*hsmproto.GetChannelBasepointsReply).FundingPubkey)
	}
	announcement := func(n1, n2, k1, k2 [33]byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, 256)
		b = append(b, make([]byte, 256+2)...)
		b = append(b, mainnet[:]...)
		b = binary.BigEndian.AppendUint64(b, 900_000<<40)
		for _, k := range [][33]byte{n1, n2, k1, k2} {
			b = append(b, k[:]...)
		}
		return b
	}
	// A peer whose node id is a public key (the generator), above ours.
	peer := [33]byte{0x02, 0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87, 0x0b, 0x07,
		0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98}
	peerFund := fundingKey(ours, 1) // any public key
	notAKey := [33]byte{0x02, 0x77} // x = 0x77 00…00 is not on the curve
	var zero [33]byte
	n1, n2, k := peer, ours, func(ours, theirs [33]byte) ([33]byte, [33]byte) { return theirs, ours }
	if string(ours[:]) < string(peer[:]) {
		n1, n2, k = ours, peer, func(ours, theirs [33]byte) ([33]byte, [33]byte) { return ours, theirs }
	}
	ourFund := fundingKey(peer, 7)
	k1, k2 := k(ourFund, peerFund)
	bad1, bad2 := k(ourFund, notAKey)

	for _, tc := range []struct {
		name   string
		client signer.Client
		req    hsmproto.Message
		tag    string
	}{
		{"valid", signer.MasterClient, &hsmproto.SignAnyCannouncementReq{Ca: announcement(n1, n2, k1, k2), Peerid: hsmproto.NodeID(peer), ChannelDBID: 7}, ""},
		{"the peer's bitcoin key is not a public key", signer.MasterClient,
			&hsmproto.SignAnyCannouncementReq{Ca: announcement(n1, n2, bad1, bad2), Peerid: hsmproto.NodeID(peer), ChannelDBID: 7}, policy.TagChannelAnnouncementFormat},
		{"no context: the peer is 00…00", signer.MasterClient,
			&hsmproto.CannouncementSigReq{Ca: announcement(zero, ours, peerFund, fundingKey(zero, 0))}, policy.TagChannelAnnouncementFormat},
		{"the named peer is not a public key", signer.MasterClient,
			&hsmproto.SignAnyCannouncementReq{Ca: announcement(ours, [33]byte{0x03, 0x77}, fundingKey([33]byte{0x03, 0x77}, 7), peerFund), Peerid: hsmproto.NodeID([33]byte{0x03, 0x77}), ChannelDBID: 7}, policy.TagChannelAnnouncementFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEngine(t, signer.WithNetwork("bitcoin"))
			_, re := ask(t, e, tc.client, tc.req)
			switch {
			case tc.tag == "" && re != nil:
				t.Fatalf("refused: %v", re)
			case tc.tag != "" && re == nil:
				t.Fatalf("signed; want a refusal tagged %s", tc.tag)
			case tc.tag != "" && re.Tag != tc.tag:
				t.Fatalf("refused with %q (%v); want tag %s", re.Tag, re, tc.tag)
			}
		})
	}
}
