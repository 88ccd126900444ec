package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
)

// The digests hsmd signs, computed as CLN computes them.

// Offsets of the signed part of gossip messages, counted from the start of
// the message including its 2-byte type (BOLT 7).
const (
	// NodeAnnouncementSigned: type (2) + signature (64).
	NodeAnnouncementSigned = 2 + 64
	// ChannelUpdateSigned: type (2) + signature (64).
	ChannelUpdateSigned = 2 + 64
	// ChannelAnnouncementSigned: type (2) + four signatures (256).
	ChannelAnnouncementSigned = 2 + 256
)

// GossipHash is the double SHA-256 of msg[offset:], what
// handle_sign_node_announcement, handle_channel_update_sig and
// handle_sign_cannouncement sign (everything after the signatures,
// including unknown trailing fields).  It fails when msg is shorter than
// offset, as those handlers do; checking the message type is the caller's
// job.
func GossipHash(msg []byte, offset int) ([32]byte, error) {
	if offset < 0 || len(msg) < offset {
		return [32]byte{}, fmt.Errorf("keys: gossip message too short: %d bytes, signed part starts at %d", len(msg), offset)
	}
	return sha256d(msg[offset:]), nil
}

// SignedMessageHash is what handle_sign_message signs:
// SHA256d("Lightning Signed Message:" ‖ msg) (lnd's signmessage too).
func SignedMessageHash(msg []byte) [32]byte {
	return sha256d([]byte("Lightning Signed Message:"), msg)
}

// BIP137MessageHash is what handle_bip137_sign_message signs:
// SHA256d("\x18Bitcoin Signed Message:\n" ‖ CompactSize(len) ‖ msg).
func BIP137MessageHash(msg []byte) [32]byte {
	return sha256d([]byte("\x18Bitcoin Signed Message:\n"), compactSize(uint64(len(msg))), msg)
}

// compactSize is Bitcoin's varint (CLN's varint_put).
func compactSize(v uint64) []byte {
	switch {
	case v < 0xfd:
		return []byte{byte(v)}
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16([]byte{0xfd}, uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32([]byte{0xfe}, uint32(v))
	default:
		return binary.LittleEndian.AppendUint64([]byte{0xff}, v)
	}
}

// InvoiceHash is what handle_sign_invoice signs (BOLT 11): SHA256 of the
// human-readable part followed by the 5-bit data packed big-endian into
// bytes, zero-padded to a byte boundary.  It mirrors common/hash_u5.c
// exactly, quirks included: the hrp is taken up to its first NUL byte (CLN
// uses strlen), and data values above 31 are not masked.
func InvoiceHash(hrp, data5 []byte) [32]byte {
	if i := bytes.IndexByte(hrp, 0); i >= 0 {
		hrp = hrp[:i]
	}
	h := sha256.New()
	h.Write(hrp)
	var (
		buf     uint64
		numBits uint
		be      [4]byte
	)
	for _, u5 := range data5 {
		buf = buf<<5 | uint64(u5)
		numBits += 5
		if numBits >= 32 {
			binary.BigEndian.PutUint32(be[:], uint32(buf>>(numBits-32)))
			h.Write(be[:])
			numBits -= 32
		}
	}
	if numBits > 0 {
		binary.BigEndian.PutUint32(be[:], uint32(buf<<(32-numBits)))
		h.Write(be[:(numBits+7)/8])
	}
	return [32]byte(h.Sum(nil))
}

// Bolt12Sighash is sighash_from_merkle(): the BIP340 tagged hash with tag
// "lightning" ‖ messageName ‖ fieldName over the merkle root.
func Bolt12Sighash(messageName, fieldName string, merkle [32]byte) [32]byte {
	tag := sha256.Sum256([]byte("lightning" + messageName + fieldName))
	return sha256.Sum256(cat(tag[:], tag[:], merkle[:]))
}

// Bolt12PayerTweak is payer_key_tweak(): SHA256(bolt12 base pubkey ‖
// publicTweak), added to the bolt12 base key by hsmd_sign_bolt12.
func Bolt12PayerTweak(bolt12Base *btcec.PublicKey, publicTweak []byte) [32]byte {
	return sha256.Sum256(cat(bolt12Base.SerializeCompressed(), publicTweak))
}

// Bolt12AliasTweak is bolt12_alias_tweak(): SHA256(base ‖ msg), added to the
// node key by hsmd_sign_bolt12_2.
func Bolt12AliasTweak(base Secret, msg []byte) [32]byte {
	return sha256.Sum256(cat(base[:], msg))
}

// WillFundCommitment is lease_rates_get_commitment(), what
// handle_sign_option_will_fund_offer signs: SHA256("option_will_fund" ‖
// funding pubkey ‖ BE32 lease expiry ‖ BE32 channel fee base msat ‖ BE16
// channel fee ppt).
func WillFundCommitment(fundingPubKey *btcec.PublicKey, leaseExpiry, chanFeeBaseMsat uint32, chanFeePPT uint16) [32]byte {
	b := []byte("option_will_fund")
	b = append(b, fundingPubKey.SerializeCompressed()...)
	b = binary.BigEndian.AppendUint32(b, leaseExpiry)
	b = binary.BigEndian.AppendUint32(b, chanFeeBaseMsat)
	b = binary.BigEndian.AppendUint16(b, chanFeePPT)
	return sha256.Sum256(b)
}
