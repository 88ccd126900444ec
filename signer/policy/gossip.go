package policy

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
)

// BOLT 7 message types.
const (
	msgChannelAnnouncement = 256
	msgNodeAnnouncement    = 257
	msgChannelUpdate       = 258
)

// NodeAnnouncement is a parsed BOLT 7 node_announcement.
type NodeAnnouncement struct {
	Features  []byte
	Timestamp uint32
	NodeID    [33]byte
	RGB       [3]byte
	Alias     [32]byte
	Addresses []byte
	// TLVs is the node_ann_tlvs stream after the addresses (CLN writes
	// option_will_fund there).
	TLVs []byte
}

// addressLen is the length of each BOLT 7 address descriptor after its
// type byte (type 5, a DNS hostname, is 1 + its length + 2).
var addressLen = map[byte]int{
	1: 4 + 2,  // IPv4
	2: 16 + 2, // IPv6
	3: 10 + 2, // Tor v2 (deprecated; still parsed)
	4: 35 + 2, // Tor v3
}

// ParseNodeAnnouncement parses msg (type ‖ signature ‖ …) as a BOLT 7
// node_announcement: every field present, the address list made of known
// descriptors that fill it exactly, and nothing after it but a TLV stream.
func ParseNodeAnnouncement(msg []byte) (*NodeAnnouncement, error) {
	r := &reader{b: msg}
	if t := r.u16("type"); !r.short && t != msgNodeAnnouncement {
		return nil, fmt.Errorf("type %d is not node_announcement (257)", t)
	}
	r.take("signature", 64)
	var a NodeAnnouncement
	a.Features = r.take("features", int(r.u16("flen")))
	if ts := r.take("timestamp", 4); ts != nil {
		a.Timestamp = binary.BigEndian.Uint32(ts)
	}
	copy(a.NodeID[:], r.take("node_id", 33))
	copy(a.RGB[:], r.take("rgb_color", 3))
	copy(a.Alias[:], r.take("alias", 32))
	a.Addresses = r.take("addresses", int(r.u16("addrlen")))
	if r.short {
		return nil, fmt.Errorf("it ends inside %s", r.field)
	}
	if err := checkAddresses(a.Addresses); err != nil {
		return nil, err
	}
	a.TLVs = r.rest()
	if e := tlvStreamError(a.TLVs); e != "" {
		return nil, fmt.Errorf("after its addresses, %s", e)
	}
	return &a, nil
}

func checkAddresses(b []byte) error {
	r := &reader{b: b}
	for r.off < len(b) {
		t := r.u8("address type")
		n, ok := addressLen[t]
		if t == 5 {
			n, ok = int(r.u8("hostname length"))+2, true
		}
		if !ok {
			return fmt.Errorf("address descriptor type %d is not one BOLT 7 defines", t)
		}
		r.take("address", n)
		if r.short {
			return fmt.Errorf("its address list ends inside an address of type %d", t)
		}
	}
	return nil
}

// CheckNodeAnnouncement is the check before the node key signs a
// node_announcement: it must parse (ParseNodeAnnouncement) and be for
// our node.
func CheckNodeAnnouncement(msg []byte, ourNodeID [33]byte) *Violation {
	a, err := ParseNodeAnnouncement(msg)
	if err != nil {
		return violation(TagNodeAnnouncementFormat, "not a well-formed node_announcement: %v", err)
	}
	if a.NodeID != ourNodeID {
		return violation(TagNodeAnnouncementNodeID, "the node_announcement is for node %x, not ours", a.NodeID[:])
	}
	return nil
}

// ChannelAnnouncement is a parsed BOLT 7 channel_announcement.
type ChannelAnnouncement struct {
	Features       []byte
	ChainHash      [32]byte
	ShortChannelID uint64
	NodeID         [2][33]byte
	BitcoinKey     [2][33]byte
}

// ParseChannelAnnouncement parses msg (type ‖ four signatures ‖ …) as a
// BOLT 7 channel_announcement: every field present, node_id_1 below
// node_id_2, both node ids and both bitcoin keys compressed public keys
// (a context-less request's peer, 00…00, is none), and no bytes after
// bitcoin_key_2.
func ParseChannelAnnouncement(msg []byte) (*ChannelAnnouncement, error) {
	r := &reader{b: msg}
	if t := r.u16("type"); !r.short && t != msgChannelAnnouncement {
		return nil, fmt.Errorf("type %d is not channel_announcement (256)", t)
	}
	r.take("signatures", 4*64)
	var a ChannelAnnouncement
	a.Features = r.take("features", int(r.u16("len")))
	copy(a.ChainHash[:], r.take("chain_hash", 32))
	if scid := r.take("short_channel_id", 8); scid != nil {
		a.ShortChannelID = binary.BigEndian.Uint64(scid)
	}
	copy(a.NodeID[0][:], r.take("node_id_1", 33))
	copy(a.NodeID[1][:], r.take("node_id_2", 33))
	copy(a.BitcoinKey[0][:], r.take("bitcoin_key_1", 33))
	copy(a.BitcoinKey[1][:], r.take("bitcoin_key_2", 33))
	if r.short {
		return nil, fmt.Errorf("it ends inside %s", r.field)
	}
	if n := len(r.rest()); n > 0 {
		return nil, fmt.Errorf("%d bytes follow bitcoin_key_2", n)
	}
	if bytes.Compare(a.NodeID[0][:], a.NodeID[1][:]) >= 0 {
		return nil, fmt.Errorf("node_id_1 is not below node_id_2")
	}
	for _, k := range []struct {
		name string
		key  [33]byte
	}{{"node_id_1", a.NodeID[0]}, {"node_id_2", a.NodeID[1]}, {"bitcoin_key_1", a.BitcoinKey[0]}, {"bitcoin_key_2", a.BitcoinKey[1]}} {
		if _, err := btcec.ParsePubKey(k.key[:]); err != nil {
			return nil, fmt.Errorf("%s %x is not a compressed public key", k.name, k.key[:])
		}
	}
	return &a, nil
}

// ChannelAnnouncementCheck is what the signer knows when it is asked to
// sign a channel_announcement: its network, its node id, the channel's
// peer and the funding key it derives for (peer, dbid).
type ChannelAnnouncementCheck struct {
	Network    Network
	OurNodeID  [33]byte
	PeerID     [33]byte
	FundingKey [33]byte
}

// CheckChannelAnnouncement is the check before the node key and a funding
// key sign a channel_announcement: well-formed, for our chain, between our
// node and the channel's peer, with the channel's funding key on our side.
func CheckChannelAnnouncement(msg []byte, want ChannelAnnouncementCheck) *Violation {
	a, err := ParseChannelAnnouncement(msg)
	if err != nil {
		return violation(TagChannelAnnouncementFormat, "not a well-formed channel_announcement: %v", err)
	}
	if a.ChainHash != want.Network.ChainHash {
		return violation(TagChannelAnnouncementChain, "the channel_announcement's chain_hash %x is not %s's", a.ChainHash[:], want.Network.Name)
	}
	side := -1
	for i, id := range a.NodeID {
		if id == want.OurNodeID {
			side = i
		}
	}
	if side < 0 {
		return violation(TagChannelAnnouncementNodeID, "our node id is neither node_id_1 nor node_id_2 of the channel_announcement")
	}
	if other := a.NodeID[1-side]; other != want.PeerID {
		return violation(TagChannelAnnouncementPeerID, "the channel_announcement's other node %x is not the channel's peer %x", other[:], want.PeerID[:])
	}
	if a.BitcoinKey[side] != want.FundingKey {
		return violation(TagChannelAnnouncementFundingKey, "bitcoin_key_%d of the channel_announcement is not this channel's funding key", side+1)
	}
	return nil
}

// ChannelUpdate is a parsed BOLT 7 channel_update.
type ChannelUpdate struct {
	ChainHash                 [32]byte
	ShortChannelID            uint64
	Timestamp                 uint32
	MessageFlags              byte
	ChannelFlags              byte
	CLTVExpiryDelta           uint16
	HTLCMinimumMsat           uint64
	FeeBaseMsat               uint32
	FeeProportionalMillionths uint32
	HTLCMaximumMsat           uint64
}

// channelUpdateLen is a channel_update's length, type and signature
// included.
const channelUpdateLen = 2 + 64 + 32 + 8 + 4 + 1 + 1 + 2 + 8 + 4 + 4 + 8

// ParseChannelUpdate parses msg (type ‖ signature ‖ …) as a BOLT 7
// channel_update: exactly its fields, the must_be_one message flag set and
// htlc_maximum_msat not below htlc_minimum_msat. Bytes after
// htlc_maximum_msat are refused: CLN's hsmd would sign them but leave them
// out of its reply, so the signature it returns covers bytes nobody sees.
func ParseChannelUpdate(msg []byte) (*ChannelUpdate, error) {
	if len(msg) < 2 || binary.BigEndian.Uint16(msg) != msgChannelUpdate {
		return nil, fmt.Errorf("it is not a channel_update (type 258)")
	}
	if len(msg) < channelUpdateLen {
		return nil, fmt.Errorf("it is %d bytes, a channel_update is %d", len(msg), channelUpdateLen)
	}
	if len(msg) > channelUpdateLen {
		return nil, fmt.Errorf("%d bytes follow htlc_maximum_msat", len(msg)-channelUpdateLen)
	}
	b := msg[66:]
	var u ChannelUpdate
	copy(u.ChainHash[:], b[0:32])
	u.ShortChannelID = binary.BigEndian.Uint64(b[32:40])
	u.Timestamp = binary.BigEndian.Uint32(b[40:44])
	u.MessageFlags = b[44]
	u.ChannelFlags = b[45]
	u.CLTVExpiryDelta = binary.BigEndian.Uint16(b[46:48])
	u.HTLCMinimumMsat = binary.BigEndian.Uint64(b[48:56])
	u.FeeBaseMsat = binary.BigEndian.Uint32(b[56:60])
	u.FeeProportionalMillionths = binary.BigEndian.Uint32(b[60:64])
	u.HTLCMaximumMsat = binary.BigEndian.Uint64(b[64:72])
	if u.MessageFlags&1 == 0 {
		return nil, fmt.Errorf("its must_be_one message flag is 0")
	}
	if u.HTLCMaximumMsat < u.HTLCMinimumMsat {
		return nil, fmt.Errorf("htlc_maximum_msat %d is below htlc_minimum_msat %d", u.HTLCMaximumMsat, u.HTLCMinimumMsat)
	}
	return &u, nil
}

// CheckChannelUpdate is the check before the node key signs a
// channel_update: well-formed and for our chain.
func CheckChannelUpdate(msg []byte, network Network) *Violation {
	u, err := ParseChannelUpdate(msg)
	if err != nil {
		return violation(TagChannelUpdateFormat, "not a well-formed channel_update: %v", err)
	}
	if u.ChainHash != network.ChainHash {
		return violation(TagChannelUpdateChain, "the channel_update's chain_hash %x is not %s's", u.ChainHash[:], network.Name)
	}
	return nil
}
