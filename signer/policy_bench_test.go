package signer_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
)

// The policy's cost where it runs: the same requests signed with the
// policy enforced and off.
func BenchmarkPolicyChecks(b *testing.B) {
	data := []byte{0, 1, 20, 9, 30, 0, 0}
	data = append(data, 1, 1, 20)
	data = append(data, bytes.Repeat([]byte{7}, 52)...)
	data = append(data, 13, 0, 10)
	data = append(data, bytes.Repeat([]byte{3}, 10)...)
	invoice := (&hsmproto.SignInvoice{Hrp: []byte("lnbc25u"), U5bytes: data}).Encode()

	peer := [33]byte{0x03, 0x4f, 0x35}
	for i := 3; i < 33; i++ {
		peer[i] = byte(i)
	}
	// Announcements name public keys only: raise the last byte until the
	// x coordinate is on the curve.
	for _, err := btcec.ParsePubKey(peer[:]); err != nil; _, err = btcec.ParsePubKey(peer[:]) {
		peer[32]++
	}
	for _, mode := range []policy.Mode{policy.ModeEnforce, policy.ModeOff} {
		e, err := signer.NewEngine(bytes.Repeat([]byte{1}, 32), signer.WithPolicyMode(mode))
		if err != nil {
			b.Fatal(err)
		}
		raw, err := e.Handle(context.Background(), signer.MasterClient,
			(&hsmproto.GetChannelBasepoints{Peerid: hsmproto.NodeID(peer), DBID: 7}).Encode())
		if err != nil {
			b.Fatal(err)
		}
		bp, err := hsmproto.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		fund := bp.(*hsmproto.GetChannelBasepointsReply).FundingPubkey
		ours := e.NodeID()
		ca := binary.BigEndian.AppendUint16(nil, 256)
		ca = append(ca, make([]byte, 256)...)
		ca = binary.BigEndian.AppendUint16(ca, 0)
		chain, _ := hsmproto.ChainparamsFor("bitcoin")
		ca = append(ca, chain[:]...)
		ca = binary.BigEndian.AppendUint64(ca, 900_000<<40)
		// The peer's bitcoin key: the generator.
		peerFund := btcec.Generator().SerializeCompressed()
		ca = append(append(append(append(ca, ours[:]...), peer[:]...), fund[:]...), peerFund...)
		announce := (&hsmproto.SignAnyCannouncementReq{Ca: ca, Peerid: hsmproto.NodeID(peer), ChannelDBID: 7}).Encode()
		for _, r := range []struct {
			name string
			raw  []byte
		}{{"sign_invoice", invoice}, {"sign_any_cannouncement", announce}} {
			b.Run(r.name+"/"+string(mode), func(b *testing.B) {
				for b.Loop() {
					if _, err := e.Handle(context.Background(), signer.MasterClient, r.raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
