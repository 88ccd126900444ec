package policy

import (
	"bytes"
	"testing"
)

var challengePrefix = []byte("Lightning Signed Message:")

// FuzzGossip runs the three gossip parsers and their checks on any bytes:
// none may panic, and none may accept a message whose signed part starts
// with the challenge prefix (the forgery of issue 11).
func FuzzGossip(f *testing.F) {
	f.Add(nodeAnnouncement(ourID))
	f.Add(channelAnnouncement(regtest.ChainHash, ourID, peerID, ourFund, peerFnd))
	f.Add(channelUpdate(regtest.ChainHash))
	f.Add(append(append([]byte{1, 1}, make([]byte, 64)...), challengePrefix...))
	f.Add(append(append([]byte{1, 0}, make([]byte, 256)...), challengePrefix...))
	f.Fuzz(func(t *testing.T, msg []byte) {
		signedFrom := func(off int) []byte {
			if len(msg) < off {
				return nil
			}
			return msg[off:]
		}
		if _, err := ParseNodeAnnouncement(msg); err == nil && bytes.HasPrefix(signedFrom(66), challengePrefix) {
			t.Fatalf("node_announcement with the challenge prefix parsed: %x", msg)
		}
		if _, err := ParseChannelAnnouncement(msg); err == nil && bytes.HasPrefix(signedFrom(258), challengePrefix) {
			t.Fatalf("channel_announcement with the challenge prefix parsed: %x", msg)
		}
		if _, err := ParseChannelUpdate(msg); err != nil && CheckChannelUpdate(msg, regtest) == nil {
			t.Fatalf("CheckChannelUpdate passed what ParseChannelUpdate refuses: %x", msg)
		}
		if CheckChannelUpdate(msg, regtest) == nil && bytes.HasPrefix(signedFrom(66), challengePrefix) {
			t.Fatalf("channel_update with the challenge prefix passed: %x", msg)
		}
		CheckNodeAnnouncement(msg, ourID)
		CheckChannelAnnouncement(msg, ChannelAnnouncementCheck{Network: regtest, OurNodeID: ourID, PeerID: peerID, FundingKey: ourFund})
	})
}

// FuzzInvoice runs the BOLT 11 parser and check on any hrp and data: no
// panic, and no accepted invoice whose hashed bytes (hrp ‖ data packed
// into bytes) are 32 bytes long, the only length whose SHA256 can equal a
// challenge's SHA256d.
func FuzzInvoice(f *testing.F) {
	f.Add([]byte("lnbcrt25u"), invoiceData(field(fieldPaymentHash, make([]byte, 52)), field(fieldDescription, []byte{1, 2})))
	f.Add([]byte("lnbcrt"), []byte{0, 0, 0, 0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{0x41}, 32), []byte{})
	f.Fuzz(func(t *testing.T, hrp, data []byte) {
		inv, v := ParseInvoice(hrp, data, regtest)
		if (inv == nil) == (v == nil) {
			t.Fatalf("ParseInvoice returned %v and %v", inv, v)
		}
		if CheckInvoice(hrp, data, regtest, ourID) == nil {
			if hashed := len(hrp) + (len(data)*5+7)/8; hashed <= 32 {
				t.Fatalf("accepted an invoice of %d hashed bytes: %q %x", hashed, hrp, data)
			}
		}
	})
}

// FuzzInvoiceString runs the parser of whole invoice strings
// (preapprove_invoice) and the expiry check on any text: no panic, one of
// an invoice or a violation, and an expiry that does not wrap.
func FuzzInvoiceString(f *testing.F) {
	f.Add("lnbcrt1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpuaztrnwngzn3kdzw5hydlzf03qdgm2hdq27cqv3agm2awhz5se903vruatfhq77w3ls4evs3ch9zw97j25emudupq63nyw24cg27h2rspfj9srp")
	f.Add("LNBC1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		inv, v := ParseInvoiceString(s, regtest)
		if (inv == nil) == (v == nil) {
			t.Fatalf("ParseInvoiceString returned %v and %v", inv, v)
		}
		if inv != nil {
			if inv.Timestamp+inv.ExpirySeconds < inv.Timestamp {
				t.Fatalf("expiry wraps: %d + %d", inv.Timestamp, inv.ExpirySeconds)
			}
			CheckInvoiceNotExpired(inv, 1_800_000_000)
			if id, v := InvoicePayee(s, inv); v == nil && id[0] != 2 && id[0] != 3 && !inv.HasPayee {
				t.Fatalf("InvoicePayee recovered %x", id)
			}
		}
	})
}
