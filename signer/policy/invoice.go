package policy

import (
	"github.com/btcsuite/btcd/btcutil/bech32"

	"math/bits"
	"strings"
)

// Invoice is what ParseInvoice reads from sign_invoice's hrp and 5-bit
// data (the invoice without its signature).
type Invoice struct {
	// AmountMsat is the hrp's amount, 0 when the invoice has none.
	AmountMsat uint64
	Timestamp  uint64
	// ExpirySeconds is the x field, 3600 when absent (BOLT 11).
	ExpirySeconds uint64
	// PaymentHash, DescriptionHash, PaymentSecret and Payee are the
	// p, h, s and n fields; HasX says whether each was present.
	PaymentHash, DescriptionHash, PaymentSecret [32]byte
	Payee                                       [33]byte
	HasPaymentHash, HasDescription              bool
	HasDescriptionHash, HasPaymentSecret        bool
	HasPayee                                    bool
	Description                                 []byte
}

// BOLT 11 tagged-field types (the bech32 value of their letter).
const (
	fieldPaymentHash     = 1  // p
	fieldPaymentSecret   = 16 // s
	fieldDescription     = 13 // d
	fieldPayee           = 19 // n
	fieldDescriptionHash = 23 // h
	fieldExpiry          = 6  // x
)

// defaultExpirySeconds is BOLT 11's expiry of an invoice without x.
const defaultExpirySeconds = 3600

// fixedFieldLen is the length, in 5-bit units, BOLT 11 gives the fields
// that have one (a reader skips such a field with another length; we
// refuse the invoice instead: CLN never writes one).
var fixedFieldLen = map[byte]int{
	fieldPaymentHash:     52,
	fieldPaymentSecret:   52,
	fieldDescriptionHash: 52,
	fieldPayee:           53,
}

// amountUnit is the value in millisatoshi of one unit of each BOLT 11
// multiplier, and of a whole bitcoin (no multiplier), times 10 so that
// pico-bitcoin stays whole.
var amountUnit = map[byte]uint64{
	'm': 100_000_000 * 10,
	'u': 100_000 * 10,
	'n': 100 * 10,
	'p': 1,
	0:   100_000_000_000 * 10,
}

// parseHRP checks that hrp is network's BOLT 11 prefix followed by an
// optional amount, and returns the amount in millisatoshi.
func parseHRP(hrp []byte, network Network) (uint64, *Violation) {
	s := string(hrp)
	rest, ok := strings.CutPrefix(s, network.InvoicePrefix)
	if !ok || (rest != "" && (rest[0] < '0' || rest[0] > '9')) {
		return 0, violation(TagInvoiceHRPNetwork, "the invoice's hrp %q is not %s's (%s followed by an amount)", printable(s), network.Name, network.InvoicePrefix)
	}
	if rest == "" {
		return 0, nil
	}
	var mult byte
	if c := rest[len(rest)-1]; c < '0' || c > '9' {
		mult, rest = c, rest[:len(rest)-1]
	}
	unit, ok := amountUnit[mult]
	bad := func(why string) (uint64, *Violation) {
		return 0, violation(TagInvoiceHRPAmount, "the invoice's amount %q %s", printable(s[len(network.InvoicePrefix):]), why)
	}
	switch {
	case !ok:
		return bad("has an unknown multiplier")
	case rest == "":
		return bad("has no digits")
	case rest[0] == '0':
		return bad("starts with 0")
	case mult == 'p' && rest[len(rest)-1] != '0':
		return bad("is in pico-bitcoin but not a whole number of millisatoshi")
	}
	var n uint64
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c < '0' || c > '9' {
			return bad("is not a decimal number")
		}
		hi, lo := bits.Mul64(n, 10)
		if hi != 0 || lo+uint64(c-'0') < lo {
			return bad("is too large")
		}
		n = lo + uint64(c-'0')
	}
	hi, tenths := bits.Mul64(n, unit)
	if hi != 0 {
		return bad("is too large")
	}
	return tenths / 10, nil
}

// printable keeps a reason readable whatever bytes the node sent.
func printable(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, s)
}

// ParseInvoice reads sign_invoice's hrp and 5-bit data as a BOLT 11
// invoice of network without its signature: the hrp is the network's
// prefix and an optional amount; the data is a 35-bit timestamp and tagged
// fields that fill it exactly, every value below 32, the fixed-length
// fields at their length and none of p, s, d, h, n twice. It returns the
// first violation it finds.
func ParseInvoice(hrp, data5 []byte, network Network) (*Invoice, *Violation) {
	inv := Invoice{ExpirySeconds: defaultExpirySeconds}
	var v *Violation
	if inv.AmountMsat, v = parseHRP(hrp, network); v != nil {
		return nil, v
	}
	bad := func(format string, args ...any) (*Invoice, *Violation) {
		return nil, violation(TagInvoiceFormat, "the invoice's data "+format, args...)
	}
	for i, u := range data5 {
		if u > 31 {
			return bad("has value %d at %d, not a 5-bit value", u, i)
		}
	}
	if len(data5) < 7 {
		return bad("is %d values long, shorter than its timestamp (7)", len(data5))
	}
	inv.Timestamp = readU5(data5[:7])
	seen := map[byte]bool{}
	for off := 7; off < len(data5); {
		if len(data5)-off < 3 {
			return bad("ends inside the header of a tagged field at %d", off)
		}
		typ, n := data5[off], int(readU5(data5[off+1:off+3]))
		off += 3
		if len(data5)-off < n {
			return bad("ends inside tagged field %d (length %d) at %d", typ, n, off)
		}
		val := data5[off : off+n]
		off += n
		if want, fixed := fixedFieldLen[typ]; fixed && n != want {
			return bad("has tagged field %d of length %d, not %d", typ, n, want)
		}
		switch typ {
		case fieldPaymentHash, fieldPaymentSecret, fieldDescription, fieldDescriptionHash, fieldPayee:
			if seen[typ] {
				return bad("has tagged field %d twice", typ)
			}
			seen[typ] = true
		}
		switch typ {
		case fieldPaymentHash:
			inv.HasPaymentHash = true
			copy(inv.PaymentHash[:], u5ToBytes(val))
		case fieldPaymentSecret:
			inv.HasPaymentSecret = true
			copy(inv.PaymentSecret[:], u5ToBytes(val))
		case fieldDescriptionHash:
			inv.HasDescriptionHash = true
			copy(inv.DescriptionHash[:], u5ToBytes(val))
		case fieldDescription:
			inv.HasDescription = true
			inv.Description = u5ToBytes(val)
		case fieldExpiry:
			if n > 12 {
				return bad("has an expiry field of %d values, longer than 60 bits", n)
			}
			inv.ExpirySeconds = readU5(val)
		case fieldPayee:
			inv.HasPayee = true
			copy(inv.Payee[:], u5ToBytes(val))
		}
	}
	return &inv, nil
}

// CheckInvoice is the check before the node key signs an invoice: a BOLT
// 11 invoice of our network (ParseInvoice) with a payment hash, a
// description or its hash, and, if it names a payee, us.
func CheckInvoice(hrp, data5 []byte, network Network, ourNodeID [33]byte) *Violation {
	inv, v := ParseInvoice(hrp, data5, network)
	if v != nil {
		return v
	}
	if !inv.HasPaymentHash {
		return violation(TagInvoicePaymentHash, "the invoice has no payment hash (p)")
	}
	if !inv.HasDescription && !inv.HasDescriptionHash {
		return violation(TagInvoiceDescription, "the invoice has neither a description (d) nor a description hash (h)")
	}
	if inv.HasPayee && inv.Payee != ourNodeID {
		return violation(TagInvoicePayee, "the invoice names payee %x, not our node", inv.Payee[:])
	}
	return nil
}

// readU5 is the big-endian number in a few 5-bit values.
func readU5(u5 []byte) uint64 {
	var n uint64
	for _, u := range u5 {
		n = n<<5 | uint64(u)
	}
	return n
}

// u5ToBytes packs 5-bit values into bytes, dropping the incomplete last
// byte (BOLT 11's padding).
func u5ToBytes(u5 []byte) []byte {
	out := make([]byte, 0, len(u5)*5/8)
	var acc uint32
	var n uint
	for _, u := range u5 {
		acc = acc<<5 | uint32(u)
		n += 5
		if n >= 8 {
			n -= 8
			out = append(out, byte(acc>>n))
		}
	}
	return out
}

// ParseInvoiceString reads a whole BOLT 11 invoice string (as
// preapprove_invoice carries it): the bech32 text without its 104-value
// signature, parsed by ParseInvoice.
func ParseInvoiceString(s string, network Network) (*Invoice, *Violation) {
	hrp, data5, err := bech32.DecodeNoLimit(strings.ToLower(s))
	if err != nil {
		return nil, violation(TagInvoiceFormat, "the invoice is not valid bech32: %v", err)
	}
	if len(data5) < 104 {
		return nil, violation(TagInvoiceFormat, "the invoice is %d values long, shorter than its signature (104)", len(data5))
	}
	return ParseInvoice([]byte(hrp), data5[:len(data5)-104], network)
}
