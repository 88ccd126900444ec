package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/bech32"
)

var (
	ourID   = nodeID(0x02, 0x11)
	peerID  = nodeID(0x03, 0x22)
	ourFund = nodeID(0x02, 0x33)
	peerFnd = nodeID(0x03, 0x44)
	regtest = mustNetwork("regtest")
	bitcoin = mustNetwork("bitcoin")
)

// nodeID is a compressed public key starting prefix, fill, fill, …: the
// last byte is raised until the x coordinate is on the curve.
func nodeID(prefix, fill byte) [33]byte {
	var id [33]byte
	id[0] = prefix
	for i := 1; i < 33; i++ {
		id[i] = fill
	}
	for {
		if _, err := btcec.ParsePubKey(id[:]); err == nil {
			return id
		}
		id[32]++
	}
}

func mustNetwork(name string) Network {
	n, ok := NetworkFor(name)
	if !ok {
		panic(name)
	}
	return n
}

// The forged signed part: what the scheduler's challenge signature covers
// (SHA256d of it), placed where a gossip message's signed part starts.
func forged(challenge []byte) []byte {
	return append([]byte("Lightning Signed Message:"), challenge...)
}

func nodeAnnouncement(id [33]byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, msgNodeAnnouncement)
	b = append(b, make([]byte, 64)...)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 0x80) // features
	b = binary.BigEndian.AppendUint32(b, 1_767_225_600)
	b = append(b, id[:]...)
	b = append(b, 1, 2, 3)
	b = append(b, bytes.Repeat([]byte{'a'}, 32)...)
	addrs := []byte{1, 127, 0, 0, 1, 0x26, 0x07, 5, 4, 'h', 'o', 's', 't', 0x26, 0x07}
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)))
	b = append(b, addrs...)
	return append(b, 1, 2, 0xaa, 0xbb) // node_ann_tlvs: type 1, 2 bytes
}

func TestCheckNodeAnnouncement(t *testing.T) {
	valid := nodeAnnouncement(ourID)
	addrOff := 2 + 64 + 2 + 1 + 4 + 33 + 3 + 32 + 2
	for _, tc := range []struct {
		name string
		msg  []byte
		tag  string
	}{
		{"valid", valid, ""},
		{"no TLVs", valid[:len(valid)-4], ""},
		{"another node", nodeAnnouncement(peerID), TagNodeAnnouncementNodeID},
		{"challenge after the signature", append(valid[:66:66], forged(bytes.Repeat([]byte{7}, 32))...), TagNodeAnnouncementFormat},
		{"type", append([]byte{1, 0}, valid[2:]...), TagNodeAnnouncementFormat},
		{"truncated alias", valid[:2+64+2+1+4+33+3+10], TagNodeAnnouncementFormat},
		{"address length past the end", func() []byte {
			b := bytes.Clone(valid)
			binary.BigEndian.PutUint16(b[addrOff-2:], 200)
			return b
		}(), TagNodeAnnouncementFormat},
		{"unknown address type", func() []byte {
			b := bytes.Clone(valid)
			b[addrOff] = 9
			return b
		}(), TagNodeAnnouncementFormat},
		{"truncated TLV", valid[:len(valid)-1], TagNodeAnnouncementFormat},
		{"TLV types not increasing", append(bytes.Clone(valid), 0, 0), TagNodeAnnouncementFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkTag(t, CheckNodeAnnouncement(tc.msg, ourID), tc.tag)
		})
	}
}

// notAKey is 33 bytes with a compressed key's prefix whose x coordinate
// (0x77 00…00) is not on the curve.
func notAKey(prefix byte) [33]byte { return [33]byte{prefix, 0x77} }

func channelAnnouncement(chain [32]byte, n1, n2, b1, b2 [33]byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, msgChannelAnnouncement)
	b = append(b, make([]byte, 256)...)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = append(b, chain[:]...)
	b = binary.BigEndian.AppendUint64(b, 900_000<<40|1<<16)
	for _, k := range [][33]byte{n1, n2, b1, b2} {
		b = append(b, k[:]...)
	}
	return b
}

func TestCheckChannelAnnouncement(t *testing.T) {
	want := ChannelAnnouncementCheck{Network: regtest, OurNodeID: ourID, PeerID: peerID, FundingKey: ourFund}
	// ourID (02…) sorts before peerID (03…): we are node 1.
	valid := channelAnnouncement(regtest.ChainHash, ourID, peerID, ourFund, peerFnd)
	third := nodeID(0x03, 0x55)
	for _, tc := range []struct {
		name string
		msg  []byte
		tag  string
	}{
		{"valid", valid, ""},
		{"challenge after the signatures", append(valid[:258:258], forged(bytes.Repeat([]byte{7}, 32))...), TagChannelAnnouncementFormat},
		{"trailing byte", append(bytes.Clone(valid), 0), TagChannelAnnouncementFormat},
		{"truncated", valid[:len(valid)-1], TagChannelAnnouncementFormat},
		{"node ids out of order", channelAnnouncement(regtest.ChainHash, peerID, ourID, peerFnd, ourFund), TagChannelAnnouncementFormat},
		{"mainnet chain", channelAnnouncement(bitcoin.ChainHash, ourID, peerID, ourFund, peerFnd), TagChannelAnnouncementChain},
		{"not our node", channelAnnouncement(regtest.ChainHash, peerID, third, ourFund, peerFnd), TagChannelAnnouncementNodeID},
		{"another peer", channelAnnouncement(regtest.ChainHash, ourID, third, ourFund, peerFnd), TagChannelAnnouncementPeerID},
		{"funding key on the other side", channelAnnouncement(regtest.ChainHash, ourID, peerID, peerFnd, ourFund), TagChannelAnnouncementFundingKey},
		{"node id not a public key", channelAnnouncement(regtest.ChainHash, ourID, notAKey(0x03), ourFund, peerFnd), TagChannelAnnouncementFormat},
		{"peer's bitcoin key not a public key", channelAnnouncement(regtest.ChainHash, ourID, peerID, ourFund, notAKey(0x03)), TagChannelAnnouncementFormat},
		{"our bitcoin key not a public key", channelAnnouncement(regtest.ChainHash, ourID, peerID, notAKey(0x02), peerFnd), TagChannelAnnouncementFormat},
		{"peer 00…00", channelAnnouncement(regtest.ChainHash, [33]byte{}, ourID, peerFnd, ourFund), TagChannelAnnouncementFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkTag(t, CheckChannelAnnouncement(tc.msg, want), tc.tag)
		})
	}
}

func channelUpdate(chain [32]byte) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, msgChannelUpdate)
	b = append(b, make([]byte, 64)...)
	b = append(b, chain[:]...)
	b = binary.BigEndian.AppendUint64(b, 900_000<<40|1<<16)
	b = binary.BigEndian.AppendUint32(b, 1_767_225_600)
	b = append(b, 1, 0) // message_flags (must_be_one), channel_flags
	b = binary.BigEndian.AppendUint16(b, 34)
	b = binary.BigEndian.AppendUint64(b, 1000)
	b = binary.BigEndian.AppendUint32(b, 1000)
	b = binary.BigEndian.AppendUint32(b, 10)
	return binary.BigEndian.AppendUint64(b, 990_000_000)
}

func TestCheckChannelUpdate(t *testing.T) {
	valid := channelUpdate(regtest.ChainHash)
	for _, tc := range []struct {
		name string
		msg  []byte
		tag  string
	}{
		{"valid", valid, ""},
		{"challenge after the signature", append(valid[:66:66], forged(bytes.Repeat([]byte{7}, 72-25))...), TagChannelUpdateChain},
		{"trailing bytes", append(bytes.Clone(valid), 0xca, 0xfe), TagChannelUpdateFormat},
		{"truncated", valid[:len(valid)-1], TagChannelUpdateFormat},
		{"type", append([]byte{1, 3}, valid[2:]...), TagChannelUpdateFormat},
		{"must_be_one clear", func() []byte {
			b := bytes.Clone(valid)
			b[66+44] = 0
			return b
		}(), TagChannelUpdateFormat},
		{"maximum below minimum", func() []byte {
			b := bytes.Clone(valid)
			binary.BigEndian.PutUint64(b[len(b)-8:], 999)
			return b
		}(), TagChannelUpdateFormat},
		{"mainnet chain", channelUpdate(bitcoin.ChainHash), TagChannelUpdateChain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkTag(t, CheckChannelUpdate(tc.msg, regtest), tc.tag)
		})
	}
}

// invoice builds an invoice's 5-bit data (no signature) from fields.
type invoice struct {
	fields [][]byte // each: type, then 5-bit data
}

func u5(t testing.TB, b []byte) []byte {
	out, err := bech32.ConvertBits(b, 8, 5, true)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func field(typ byte, data []byte) []byte {
	return append([]byte{typ, byte(len(data) >> 5), byte(len(data) & 31)}, data...)
}

func invoiceData(fields ...[]byte) []byte {
	d := []byte{0, 1, 20, 9, 30, 0, 0} // timestamp
	for _, f := range fields {
		d = append(d, f...)
	}
	return d
}

func TestCheckInvoice(t *testing.T) {
	hash := bytes.Repeat([]byte{0xab}, 32)
	p := field(fieldPaymentHash, u5(t, hash))
	s := field(fieldPaymentSecret, u5(t, bytes.Repeat([]byte{0xcd}, 32)))
	d := field(fieldDescription, u5(t, []byte("coffee")))
	h := field(fieldDescriptionHash, u5(t, bytes.Repeat([]byte{0xef}, 32)))
	n := field(fieldPayee, u5(t, ourID[:]))
	other := field(fieldPayee, u5(t, peerID[:]))
	valid := invoiceData(p, s, d, n)
	hrp := []byte("lnbcrt25u")
	// The forgery of issue 11: hrp ‖ data hash to SHA256d(prefix ‖ challenge).
	sum := sha256.Sum256(forged(bytes.Repeat([]byte{7}, 32)))
	for _, tc := range []struct {
		name string
		hrp  []byte
		data []byte
		tag  string
	}{
		{"valid", hrp, valid, ""},
		{"no amount", []byte("lnbcrt"), valid, ""},
		{"pico amount", []byte("lnbcrt2500p"), valid, ""},
		{"description hash", hrp, invoiceData(p, h), ""},
		{"no payee field", hrp, invoiceData(p, d), ""},
		{"unknown field skipped", hrp, invoiceData(p, d, field(30, []byte{1, 2, 3})), ""},
		{"challenge hash as hrp", sum[:], nil, TagInvoiceHRPNetwork},
		{"mainnet hrp", []byte("lnbc25u"), valid, TagInvoiceHRPNetwork},
		{"signet hrp", []byte("lntbs25u"), valid, TagInvoiceHRPNetwork},
		{"uppercase hrp", []byte("LNBCRT25U"), valid, TagInvoiceHRPNetwork},
		{"NUL in hrp", []byte("lnbcrt\x0025u"), valid, TagInvoiceHRPNetwork},
		{"unknown multiplier", []byte("lnbcrt25x"), valid, TagInvoiceHRPAmount},
		{"leading zero", []byte("lnbcrt025u"), valid, TagInvoiceHRPAmount},
		{"multiplier only", []byte("lnbcrt1u2"), valid, TagInvoiceHRPAmount},
		{"sub-millisatoshi", []byte("lnbcrt2501p"), valid, TagInvoiceHRPAmount},
		{"amount overflows", []byte("lnbcrt99999999999999999999m"), valid, TagInvoiceHRPAmount},
		{"value above 31", hrp, append(bytes.Clone(valid[:len(valid)-1]), 32), TagInvoiceFormat},
		{"shorter than a timestamp", hrp, valid[:6], TagInvoiceFormat},
		{"field header cut", hrp, append(invoiceData(p, d), 1, 0), TagInvoiceFormat},
		{"field data cut", hrp, valid[:len(valid)-1], TagInvoiceFormat},
		{"payment hash of 51", hrp, invoiceData(field(fieldPaymentHash, u5(t, hash)[:51]), d), TagInvoiceFormat},
		{"payment hash twice", hrp, invoiceData(p, p, d), TagInvoiceFormat},
		{"no payment hash", hrp, invoiceData(s, d), TagInvoicePaymentHash},
		{"no description", hrp, invoiceData(p, s, n), TagInvoiceDescription},
		{"another payee", hrp, invoiceData(p, s, d, other), TagInvoicePayee},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkTag(t, CheckInvoice(tc.hrp, tc.data, regtest, ourID), tc.tag)
		})
	}
}

func TestParseInvoiceAmount(t *testing.T) {
	for hrp, want := range map[string]uint64{
		"lnbc": 0, "lnbc1": 100_000_000_000, "lnbc25u": 2_500_000, "lnbc1500n": 150_000,
		"lnbc2m": 200_000_000, "lnbc10p": 1,
	} {
		inv, v := ParseInvoice([]byte(hrp), invoiceData(), bitcoin)
		if v != nil || inv.AmountMsat != want {
			t.Errorf("%s: %+v, %v; want %d msat", hrp, inv, v, want)
		}
	}
}

func TestCheckDeriveSecret(t *testing.T) {
	for _, tc := range []struct {
		label string
		tag   string
	}{
		{"bolt12-invoice-base", ""},
		{"node-alias-base", ""},
		{"scb secret", ""},
		{"commando", ""},
		{"commando ", TagDeriveSecretLabel},
		{"NOSTRSECRET", TagDeriveSecretLabel},
		{"", TagDeriveSecretLabel},
	} {
		t.Run(tc.label, func(t *testing.T) {
			checkTag(t, CheckDeriveSecret([]byte(tc.label)), tc.tag)
		})
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeEnforce, "enforce": ModeEnforce, "warn": ModeWarn, "off": ModeOff} {
		if got, err := ParseMode(in); got != want || err != nil {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("Enforce"); err == nil {
		t.Error("ParseMode accepted Enforce")
	}
}

// Every tag is listed in Tags and documented in the package comment.
func TestTagsDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tag := range Tags {
		if seen[tag] {
			t.Errorf("%s listed twice", tag)
		}
		seen[tag] = true
		if !strings.Contains(string(doc), "//\t"+tag+" ") {
			t.Errorf("%s is not in the package documentation's list", tag)
		}
	}
}

func checkTag(t *testing.T, v *Violation, tag string) {
	t.Helper()
	switch {
	case tag == "" && v != nil:
		t.Fatalf("refused: %v", v)
	case tag != "" && v == nil:
		t.Fatalf("passed; want %s", tag)
	case tag != "" && v.Tag != tag:
		t.Fatalf("refused with %v; want %s", v, tag)
	case v != nil && (v.Reason == "" || strings.Contains(v.Reason, "%!")):
		t.Fatalf("bad reason %q", v.Reason)
	}
}

// The checks alone, to compare with the signature they guard.
func BenchmarkChecks(b *testing.B) {
	inv := invoiceData(field(fieldPaymentHash, u5(b, bytes.Repeat([]byte{0xab}, 32))),
		field(fieldPaymentSecret, u5(b, bytes.Repeat([]byte{0xcd}, 32))),
		field(fieldDescription, u5(b, []byte("coffee"))), field(fieldPayee, u5(b, ourID[:])))
	ca := channelAnnouncement(regtest.ChainHash, ourID, peerID, ourFund, peerFnd)
	want := ChannelAnnouncementCheck{Network: regtest, OurNodeID: ourID, PeerID: peerID, FundingKey: ourFund}
	b.Run("invoice", func(b *testing.B) {
		for b.Loop() {
			if v := CheckInvoice([]byte("lnbcrt25u"), inv, regtest, ourID); v != nil {
				b.Fatal(v)
			}
		}
	})
	b.Run("channel_announcement", func(b *testing.B) {
		for b.Loop() {
			if v := CheckChannelAnnouncement(ca, want); v != nil {
				b.Fatal(v)
			}
		}
	})
	b.Run("network", func(b *testing.B) {
		for b.Loop() {
			if _, ok := NetworkFor("regtest"); !ok {
				b.Fatal("regtest")
			}
		}
	})
}
