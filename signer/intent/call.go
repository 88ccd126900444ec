package intent

import (
	"encoding/binary"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// The gRPC methods whose calls can authorize a signer request. Their
// bodies are cln-grpc's messages (CLN v26.06.6 cln-grpc/proto/node.proto)
// and Greenlight's TrampolinePayRequest (greenlight.proto).
const (
	MethodPay               = "/cln.Node/Pay"
	MethodPreApproveInvoice = "/cln.Node/PreApproveInvoice"
	MethodTrampolinePay     = "/greenlight.Node/TrampolinePay"
	MethodKeySend           = "/cln.Node/KeySend"
	MethodPreApproveKeysend = "/cln.Node/PreApproveKeysend"
	MethodWithdraw          = "/cln.Node/Withdraw"
	MethodFundChannel       = "/cln.Node/FundChannel"
	MethodClose             = "/cln.Node/Close"
	MethodInvoice           = "/cln.Node/Invoice"
)

// Call is what a user's gRPC call asked for: the fields of its body the
// mapping to signer requests needs (the rest is not read).
type Call struct {
	Method string
	// Bolt11 is the invoice of Pay, PreApproveInvoice and TrampolinePay,
	// lower case, without a "lightning:" prefix.
	Bolt11 string
	// Node is KeySend's and PreApproveKeysend's destination, FundChannel's
	// peer (33 bytes; nil when absent).
	Node []byte
	// PaymentHash is PreApproveKeysend's payment hash.
	PaymentHash []byte
	// AmountMsat is the amount asked for (Pay's and TrampolinePay's for an
	// invoice without one, KeySend's, Withdraw's and FundChannel's in
	// msat, Invoice's); All is Withdraw's and FundChannel's "all",
	// Any Invoice's "any"; HasAmount is false when the call named none.
	AmountMsat uint64
	HasAmount  bool
	All, Any   bool
	// Address is Withdraw's and Close's destination address.
	Address string
	// CloseID is Close's id (a peer id, channel id or short channel id).
	CloseID string
	// Description is Invoice's description.
	Description string
}

// FrameBody reads a gRPC length-prefixed message (the bytes a Greenlight
// client signs): a 0 compression flag, a big-endian u32 length, the
// protobuf message.
func FrameBody(b []byte) ([]byte, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("request: %d bytes is shorter than gRPC's 5-byte message prefix", len(b))
	}
	if b[0] != 0 {
		return nil, fmt.Errorf("request: compression flag %d; only uncompressed (0) bodies are read", b[0])
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if uint64(n) != uint64(len(b)-5) {
		return nil, fmt.Errorf("request: the prefix says %d bytes, the body has %d", n, len(b)-5)
	}
	return b[5:], nil
}

// Frame prefixes a protobuf message as gRPC sends it.
func Frame(msg []byte) []byte {
	out := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

// field is how one wanted protobuf field is read: its wire type, and what
// to do with its value (a varint as 8 big-endian bytes, a
// length-delimited field as its bytes).
type field struct {
	typ protowire.Type
	set func(v []byte) error
}

type fields map[protowire.Number]field

func str(dst *string) field {
	return field{protowire.BytesType, func(v []byte) error { *dst = string(v); return nil }}
}

func byt(dst *[]byte) field {
	return field{protowire.BytesType, func(v []byte) error { *dst = append([]byte{}, v...); return nil }}
}

func varint(dst *uint64, seen *bool) field {
	return field{protowire.VarintType, func(v []byte) error {
		*dst = binary.BigEndian.Uint64(v)
		if seen != nil {
			*seen = true
		}
		return nil
	}}
}

func flag(dst *bool) field {
	return field{protowire.VarintType, func(v []byte) error { *dst = binary.BigEndian.Uint64(v) != 0; return nil }}
}

// amount reads cln-grpc's Amount{msat = 1}.
func amount(c *Call) field {
	return field{protowire.BytesType, func(v []byte) error {
		c.HasAmount = true
		return walk(v, fields{1: varint(&c.AmountMsat, nil)})
	}}
}

// amountOr reads AmountOrAll / AmountOrAny: oneof {Amount amount = 1;
// bool all|any = 2}.
func amountOr(c *Call, other *bool) field {
	return field{protowire.BytesType, func(v []byte) error {
		return walk(v, fields{1: amount(c), 2: flag(other)})
	}}
}

// DecodeCall reads the body of a call to method (framed as sent). A
// method that authorizes nothing decodes to a Call with only its Method.
func DecodeCall(method string, framed []byte) (*Call, error) {
	body, err := FrameBody(framed)
	if err != nil {
		return nil, err
	}
	c := &Call{Method: method}
	var want fields
	switch method {
	case MethodPay:
		want = fields{1: str(&c.Bolt11), 13: amount(c)}
	case MethodPreApproveInvoice:
		want = fields{1: str(&c.Bolt11)}
	case MethodTrampolinePay:
		want = fields{1: str(&c.Bolt11), 3: varint(&c.AmountMsat, &c.HasAmount)}
	case MethodKeySend:
		want = fields{1: byt(&c.Node), 10: amount(c)}
	case MethodPreApproveKeysend:
		want = fields{1: byt(&c.Node), 2: byt(&c.PaymentHash), 3: amount(c)}
	case MethodWithdraw:
		want = fields{1: str(&c.Address), 2: amountOr(c, &c.All)}
	case MethodFundChannel:
		want = fields{1: amountOr(c, &c.All), 9: byt(&c.Node)}
	case MethodClose:
		want = fields{1: str(&c.CloseID), 3: str(&c.Address)}
	case MethodInvoice:
		want = fields{2: str(&c.Description), 10: amountOr(c, &c.Any)}
	default:
		return c, nil
	}
	if err := walk(body, want); err != nil {
		return nil, fmt.Errorf("request: the %s body: %w", method, err)
	}
	c.Bolt11 = strings.TrimPrefix(strings.ToLower(c.Bolt11), "lightning:")
	if c.Node != nil && len(c.Node) != 33 {
		return nil, fmt.Errorf("request: the %s body names a %d-byte node id; expected 33", method, len(c.Node))
	}
	if c.PaymentHash != nil && len(c.PaymentHash) != 32 {
		return nil, fmt.Errorf("request: the %s body names a %d-byte payment hash; expected 32", method, len(c.PaymentHash))
	}
	return c, nil
}

// walk reads a protobuf message and hands each wanted field's value to
// its setter. A wanted field of another wire type is an error naming it;
// other fields are skipped.
func walk(b []byte, want fields) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("a field tag does not decode: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f, wanted := want[num]
		if wanted && f.typ != typ {
			return fmt.Errorf("field %d has wire type %d; expected %d", num, typ, f.typ)
		}
		var val []byte
		switch {
		case wanted && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return fmt.Errorf("field %d: %v", num, protowire.ParseError(m))
			}
			val, n = binary.BigEndian.AppendUint64(nil, v), m
		case wanted && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("field %d: %v", num, protowire.ParseError(m))
			}
			val, n = v, m
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return fmt.Errorf("field %d: %v", num, protowire.ParseError(m))
			}
			n = m
		}
		b = b[n:]
		if wanted {
			if err := f.set(val); err != nil {
				return fmt.Errorf("field %d: %w", num, err)
			}
		}
	}
	return nil
}
