package traffic

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/glemu"
	"gl-signerd/signer"
	"gl-signerd/signer/intent"
)

// Node-level traffic: start-up, peer connections, gossip and invoices.

// Boot sends what lightningd sends the signer at start-up after
// hsmd_init: the derived secrets for bolt12, aliases and commando (each
// asked twice: the answers must agree) and the node_announcement
// signature.
func (g *Generator) Boot(ctx context.Context) error {
	for _, info := range []string{"bolt12-invoice-base", "node-alias-base", "commando"} {
		var first []byte
		for i := 0; i < 2; i++ {
			_, err := ask(ctx, g, "derive_secret "+info, signer.MasterClient, &hsmproto.DeriveSecret{Info: []byte(info)},
				func(r *hsmproto.DeriveSecretReply) error {
					if first == nil {
						first = append([]byte(nil), r.Secret[:]...)
						return nil
					}
					if !bytes.Equal(first, r.Secret[:]) {
						return errors.New("derive_secret gave two different secrets for the same info")
					}
					return nil
				})
			if err != nil {
				return err
			}
		}
	}
	return g.NodeAnnouncement(ctx)
}

// NodeAnnouncement has the node_announcement signed (lightningd, at start
// and when the address changes).
func (g *Generator) NodeAnnouncement(ctx context.Context) error {
	var ann []byte
	ann = binary.BigEndian.AppendUint16(ann, 257)
	ann = append(ann, make([]byte, 64)...)
	ann = binary.BigEndian.AppendUint16(ann, 0) // features
	ann = binary.BigEndian.AppendUint32(ann, uint32(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()))
	ann = append(ann, g.nodeID[:]...)
	ann = append(ann, 0x02, 0x6f, 0x61) // rgb
	alias := make([]byte, 32)
	copy(alias, "gl-signerd traffic")
	ann = append(ann, alias...)
	addr := []byte{1, 127, 0, 0, 1, 0x26, 0x07} // IPv4 127.0.0.1:9735
	ann = binary.BigEndian.AppendUint16(ann, uint16(len(addr)))
	ann = append(ann, addr...)
	_, err := ask(ctx, g, "node_announcement_sig_req", signer.MasterClient, &hsmproto.NodeAnnouncementSigReq{Announcement: ann},
		func(r *hsmproto.NodeAnnouncementSigReply) error {
			return checkSig(r.Signature[:], g.nodePub, chainhash.DoubleHashB(ann[66:]))
		})
	return err
}

// ECDH does what connectd does for one BOLT 8 handshake with a new peer:
// ecdh_req of the peer's ephemeral key, on connectd's client (our node id,
// dbid 0, ECDH only). The shared secret must be SHA256(e·node key).
func (g *Generator) ECDH(ctx context.Context) error {
	e := randKey(g.newRand())
	want := ecdh(e, g.nodePub)
	c := signer.Client{PeerID: g.nodeID, Capabilities: capsConnectd}
	_, err := ask(ctx, g, "ecdh_req", c, &hsmproto.EcdhReq{Point: hsmproto.PubkeyFrom(e.PubKey())},
		func(r *hsmproto.EcdhResp) error {
			if !bytes.Equal(r.Ss[:], want[:]) {
				return errors.New("the shared secret is not SHA256(e·node key)")
			}
			return nil
		})
	return err
}

// announce has channeld sign the channel_announcement and our
// channel_update once the channel is locked.
func (ch *Channel) announce(ctx context.Context) error {
	g := ch.g
	scid := uint64(900_000+ch.rng.IntN(50_000))<<40 | uint64(ch.rng.IntN(3000))<<16 | uint64(ch.fundingOut.Index)
	chain, _ := hsmproto.ChainparamsFor(g.opts.Network) // checked by the signer's policy
	var ca []byte
	ca = binary.BigEndian.AppendUint16(ca, 256)
	ca = append(ca, make([]byte, 4*64)...)
	ca = binary.BigEndian.AppendUint16(ca, 0) // features
	ca = append(ca, chain[:]...)
	ca = binary.BigEndian.AppendUint64(ca, scid)
	n1, n2 := g.nodeID[:], ch.peer.id[:]
	b1, b2 := ch.ours.funding.SerializeCompressed(), ch.theirs.funding.SerializeCompressed()
	if bytes.Compare(n1, n2) > 0 {
		n1, n2, b1, b2 = n2, n1, b2, b1
	}
	ca = append(append(append(append(ca, n1...), n2...), b1...), b2...)
	h := chainhash.DoubleHashB(ca[2+256:])
	_, err := ask(ctx, g, ch.name("cannouncement_sig_req"), ch.client(capsChanneld), &hsmproto.CannouncementSigReq{Ca: ca},
		func(r *hsmproto.CannouncementSigReply) error {
			if err := checkSig(r.NodeSignature[:], g.nodePub, h); err != nil {
				return fmt.Errorf("node signature: %w", err)
			}
			if err := checkSig(r.BitcoinSignature[:], ch.ours.funding, h); err != nil {
				return fmt.Errorf("bitcoin signature: %w", err)
			}
			return nil
		})
	if err != nil {
		return err
	}
	return ch.ChannelUpdate(ctx, scid)
}

// ChannelUpdate has channeld sign a channel_update of ours for scid.
func (ch *Channel) ChannelUpdate(ctx context.Context, scid uint64) error {
	var cu []byte
	cu = binary.BigEndian.AppendUint16(cu, 258)
	cu = append(cu, make([]byte, 64)...)
	chain, _ := hsmproto.ChainparamsFor(ch.g.opts.Network)
	cu = append(cu, chain[:]...)
	cu = binary.BigEndian.AppendUint64(cu, scid)
	cu = binary.BigEndian.AppendUint32(cu, uint32(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix())+uint32(ch.rng.IntN(1<<20)))
	dir := byte(0)
	if bytes.Compare(ch.g.nodeID[:], ch.peer.id[:]) > 0 {
		dir = 1
	}
	cu = append(cu, 1, dir) // message_flags (htlc_maximum_msat), channel_flags
	cu = binary.BigEndian.AppendUint16(cu, 34)
	cu = binary.BigEndian.AppendUint64(cu, 1000)
	cu = binary.BigEndian.AppendUint32(cu, 1000)
	cu = binary.BigEndian.AppendUint32(cu, 10)
	cu = binary.BigEndian.AppendUint64(cu, uint64(ch.opts.CapacitySat)*1000*99/100)
	_, err := ask(ctx, ch.g, ch.name("cupdate_sig_req"), ch.client(capsChanneld), &hsmproto.CupdateSigReq{Cu: cu},
		func(r *hsmproto.CupdateSigReply) error {
			if len(r.Cu) != len(cu) || !bytes.Equal(r.Cu[66:], cu[66:]) {
				return errors.New("the signed channel_update is not the update sent")
			}
			return checkSig(r.Cu[2:66], ch.g.nodePub, chainhash.DoubleHashB(cu[66:]))
		})
	return err
}

// invoiceData is the data part of a BOLT 11 invoice (5-bit groups)
// without its signature: timestamp, payment hash, payment secret,
// description, expiry, min_final_cltv_expiry_delta.
func invoiceData(hash [32]byte, rng *rand.Rand, description string) []byte {
	ts := uint64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()) + uint64(rng.IntN(1<<20))
	var d []byte
	for i := 6; i >= 0; i-- {
		d = append(d, byte(ts>>(5*i))&31)
	}
	field := func(tag byte, data []byte) {
		d = append(d, tag, byte(len(data)>>5), byte(len(data)&31))
		d = append(d, data...)
	}
	u5 := func(b []byte) []byte {
		out, err := bech32.ConvertBits(b, 8, 5, true)
		if err != nil {
			panic(err)
		}
		return out
	}
	intField := func(v uint64) []byte {
		var out []byte
		for v > 0 {
			out = append([]byte{byte(v & 31)}, out...)
			v >>= 5
		}
		return out
	}
	secret := randBytes32(rng)
	field(1, u5(hash[:]))                  // p
	field(16, u5(secret[:]))               // s
	field(13, u5([]byte(description)))     // d
	field(6, intField(10*365*24*3600))     // x: 10 years
	field(24, intField(18))                // c
	field(5, u5([]byte{0x02, 0x40, 0x00})) // 9: var_onion_optin, payment_secret
	return d
}

// invoiceHRP is the human-readable part for amountMsat.
func (g *Generator) invoiceHRP(amountMsat uint64) string {
	switch {
	case amountMsat == 0:
		return g.hrp
	case amountMsat%100_000_000 == 0:
		return fmt.Sprintf("%s%dm", g.hrp, amountMsat/100_000_000)
	case amountMsat%100_000 == 0:
		return fmt.Sprintf("%s%du", g.hrp, amountMsat/100_000)
	case amountMsat%100 == 0:
		return fmt.Sprintf("%s%dn", g.hrp, amountMsat/100)
	}
	return fmt.Sprintf("%s%dp", g.hrp, amountMsat*10)
}

// invoiceHash is BOLT 11's signature hash: SHA256(hrp ‖ data as bytes).
func invoiceHash(hrp string, data5 []byte) []byte {
	b, err := bech32.ConvertBits(data5, 5, 8, true)
	if err != nil {
		panic(err)
	}
	h := chainhash.HashB(append([]byte(hrp), b...))
	return h
}

// peerInvoice is an invoice the peer issues and signs for amountMsat.
func (g *Generator) peerInvoice(p *peer, amountMsat uint64, hash [32]byte, rng *rand.Rand) string {
	hrp := g.invoiceHRP(amountMsat)
	data := invoiceData(hash, rng, "traffic payment")
	sig, err := ecdsa.SignCompact(p.node, invoiceHash(hrp, data), true)
	if err != nil {
		panic(err)
	}
	// SignCompact puts the recovery header first; BOLT 11 puts the
	// recovery id last.
	wire65 := append(append([]byte(nil), sig[1:]...), (sig[0]-27)&3)
	s5, err := bech32.ConvertBits(wire65, 8, 5, true)
	if err != nil {
		panic(err)
	}
	inv, err := bech32.Encode(hrp, append(data, s5...))
	if err != nil {
		panic(err)
	}
	return inv
}

// signOurInvoice has lightningd's invoice command sign an invoice of ours
// (sign_invoice); the signature must recover our node id.
func (g *Generator) signOurInvoice(ctx context.Context, amountMsat uint64, hash [32]byte, rng *rand.Rand) error {
	hrp := g.invoiceHRP(amountMsat)
	data := invoiceData(hash, rng, "traffic invoice")
	h := invoiceHash(hrp, data)
	defer g.userCall(intent.MethodInvoice, glemu.InvoiceBody("traffic invoice", fmt.Sprintf("traffic %x", hash[:8]), amountMsat))()
	_, err := ask(ctx, g, fmt.Sprintf("sign_invoice %s", hrp), signer.MasterClient, &hsmproto.SignInvoice{U5bytes: data, Hrp: []byte(hrp)},
		func(r *hsmproto.SignInvoiceReply) error {
			compact := append([]byte{27 + 4 + r.Sig[64]}, r.Sig[:64]...)
			pub, _, err := ecdsa.RecoverCompact(compact, h)
			if err != nil {
				return fmt.Errorf("the invoice signature does not recover: %w", err)
			}
			if !pub.IsEqual(g.nodePub) {
				return errors.New("the invoice signature recovers another key than our node id")
			}
			return nil
		})
	return err
}

// Invoice has a standalone invoice of ours signed.
func (g *Generator) Invoice(ctx context.Context, amountMsat uint64) error {
	rng := g.newRand()
	return g.signOurInvoice(ctx, amountMsat, randBytes32(rng), rng)
}
