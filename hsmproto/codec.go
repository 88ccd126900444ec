package hsmproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Message is one hsmd message: a request, a reply or a status message.
// Every message type of the table is a struct pointer implementing it.
type Message interface {
	// MsgType is the u16 wire type.
	MsgType() uint16
	// MsgName is the name in CLN's hsmd_wire.csv, e.g. "hsmd_ecdh_req".
	MsgName() string
	// Encode returns the u16 type followed by the fields. It panics where
	// Marshal would return an error (a value no decoder would accept).
	Encode() []byte
}

// wireMessage is what the generated message types implement.
type wireMessage interface {
	Message
	encode(e *encoder)
	decode(d *decoder)
}

// Errors wrapped by DecodeError.Err (and by Marshal's errors), for errors.Is.
var (
	ErrTruncated    = errors.New("truncated")
	ErrUnknownType  = errors.New("unknown message type")
	ErrBadBool      = errors.New("bool is not 0 or 1")
	ErrBadPoint     = errors.New("not a valid compressed secp256k1 point")
	ErrBadSignature = errors.New("invalid signature")
	ErrBadSighash   = errors.New("sighash type not accepted")
	ErrBadSide      = errors.New("side is not 0 (local) or 1 (remote)")
	ErrBadString    = errors.New("invalid wirestring")
	ErrBadExtKey    = errors.New("invalid BIP32 extended key")
	ErrBadTx        = errors.New("invalid transaction")
	ErrBadPSBT      = errors.New("invalid PSBT")
	ErrBadTLV       = errors.New("invalid TLV stream")
	ErrTooLong      = errors.New("too many elements for the count field")
)

// DecodeError says which field of which message could not be decoded.
type DecodeError struct {
	// Message is the table name of the message ("hsmd_ecdh_req"), or ""
	// when the type itself is missing or unknown.
	Message string
	// Field is the path of the field, e.g. "htlcs[2].cltv_expiry" or
	// "tx.psbt"; "type" for the message type.
	Field string
	// Offset is where the field starts, in bytes from the start of the
	// message (the u16 type is bytes 0 and 1).
	Offset int
	// Err is one of the Err* values above, possibly wrapped with detail.
	Err error
}

// Error reads like "sign_remote_commitment_tx: field htlcs[2].cltv_expiry
// at byte 311: truncated" (the message name without its hsmd_ prefix).
func (e *DecodeError) Error() string {
	name := strings.TrimPrefix(e.Message, "hsmd_")
	if name == "" {
		name = "hsmd message"
	}
	return fmt.Sprintf("%s: field %s at byte %d: %v", name, e.Field, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decode decodes one message: raw is the u16 type followed by the payload
// (no length frame), as hsmd reads it and as Greenlight's HsmRequest.raw
// carries it. Bytes after the last field are ignored, as CLN ignores them;
// DecodePrefix reports how many there were.
func Decode(raw []byte) (Message, error) {
	m, _, err := DecodePrefix(raw)
	return m, err
}

// DecodePrefix is Decode that also returns how many bytes of raw the
// message used; raw[n:] are the trailing bytes CLN ignores. A message
// ending in a TLV stream uses all of raw.
func DecodePrefix(raw []byte) (m Message, n int, err error) {
	return decodePrefix(raw, decodeOptions{})
}

// decodeOptions choose the slower of two equivalent ways to decode, for
// the tests that check both agree; the zero value is Decode's.
type decodeOptions struct {
	// fieldByField reads the fixed-size subtypes (flatSubtypes) field by
	// field instead of at once.
	fieldByField bool
	// parsePSBTs parses every bitcoin_tx's PSBT at once instead of keeping
	// its bytes (see keptPSBT).
	parsePSBTs bool
}

func decodePrefix(raw []byte, o decodeOptions) (m Message, n int, err error) {
	if len(raw) < 2 {
		return nil, 0, &DecodeError{Field: "type", Err: ErrTruncated}
	}
	t := binary.BigEndian.Uint16(raw)
	wm := newMessage(t)
	if wm == nil {
		return nil, 0, &DecodeError{Field: "type", Err: fmt.Errorf("%w %d (0x%04x)", ErrUnknownType, t, t)}
	}
	d := decoder{msg: wm.MsgName(), b: raw, off: 2, end: len(raw), opts: o}
	d.path = d.pathBuf[:0]
	wm.decode(&d)
	if d.err != nil {
		return nil, 0, d.err
	}
	return wm, d.off, nil
}

// Marshal encodes m like m.Encode, but returns an error instead of
// panicking when m holds a value Decode would reject: an array too long for
// its count field, an invalid point, signature, sighash, side, extended
// key or wirestring, a missing or inconsistent transaction or PSBT, or an
// even or duplicate unknown TLV record.
func Marshal(m Message) ([]byte, error) {
	wm, ok := m.(wireMessage)
	if !ok {
		return nil, fmt.Errorf("hsmproto: %T is not a message of this package", m)
	}
	e := encoder{b: binary.BigEndian.AppendUint16(make([]byte, 0, 128), wm.MsgType())}
	wm.encode(&e)
	if e.err != nil {
		return nil, fmt.Errorf("hsmproto: encode %s: %w", wm.MsgName(), e.err)
	}
	return e.b, nil
}

func mustEncode(m wireMessage) []byte {
	b, err := Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// MessageName returns the table name of message type t (as in CLN's
// hsmd_wire.csv), or "unknown_<t>" for a type the table does not define.
func MessageName(t uint16) string {
	if n := messageName(t); n != "" {
		return n
	}
	return "unknown_" + strconv.Itoa(int(t))
}

// MessageType returns the type of the message with the given table name.
func MessageType(name string) (uint16, bool) {
	for _, t := range messageTypes {
		if messageName(t) == name {
			return t, true
		}
	}
	return 0, false
}

// MessageTypes returns every message type the table defines, ascending.
func MessageTypes() []uint16 {
	return append([]uint16(nil), messageTypes...)
}

// NewMessage returns a zero message of type t, or false if t is unknown.
func NewMessage(t uint16) (Message, bool) {
	m := newMessage(t)
	if m == nil {
		return nil, false
	}
	return m, true
}

// A decoder reads fields from b[off:end]; after the first error every read
// is a no-op, as in CLN's fromwire_ functions. Offsets are absolute in b.
type decoder struct {
	msg  string
	b    []byte
	off  int
	end  int
	err  *DecodeError
	path []pathElem
	opts decodeOptions

	pathBuf [4]pathElem // path's first elements, without an allocation
}

type pathElem struct {
	name string
	idx  int // -1: not an array element
}

// enter and leave bracket a nested value (a subtype, array element, TLV
// stream or record) so that errors name its path.
func (d *decoder) enter(name string, idx int) { d.path = append(d.path, pathElem{name, idx}) }
func (d *decoder) leave()                     { d.path = d.path[:len(d.path)-1] }

func (d *decoder) fieldPath(f string) string {
	var sb strings.Builder
	add := func(s string) {
		if s == "" {
			return
		}
		if sb.Len() > 0 && s[0] != '[' {
			sb.WriteByte('.')
		}
		sb.WriteString(s)
	}
	for _, p := range d.path {
		add(p.name)
		if p.idx >= 0 {
			add("[" + strconv.Itoa(p.idx) + "]")
		}
	}
	add(f)
	return sb.String()
}

// failAt records the first error: field f (relative to the current path),
// starting at byte off.
func (d *decoder) failAt(f string, off int, err error) {
	if d.err == nil {
		d.err = &DecodeError{Message: d.msg, Field: d.fieldPath(f), Offset: off, Err: err}
	}
}

func (d *decoder) left() int { return d.end - d.off }

// take consumes n bytes (nil after an error or if fewer are left).
func (d *decoder) take(f string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.left() {
		d.failAt(f, d.off, ErrTruncated)
		return nil
	}
	b := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// peek returns the next n bytes without consuming them, or nil after an
// error or if fewer are left. The generated decoders of fixed-size
// subtypes use it to read all their fields at once.
func (d *decoder) peek(n int) []byte {
	if d.opts.fieldByField || d.err != nil || n > d.left() {
		return nil
	}
	return d.b[d.off : d.off+n]
}

func (d *decoder) readU8(f string, v *uint8) {
	if b := d.take(f, 1); b != nil {
		*v = b[0]
	}
}

func (d *decoder) readU16(f string, v *uint16) {
	if b := d.take(f, 2); b != nil {
		*v = binary.BigEndian.Uint16(b)
	}
}

func (d *decoder) readU32(f string, v *uint32) {
	if b := d.take(f, 4); b != nil {
		*v = binary.BigEndian.Uint32(b)
	}
}

func (d *decoder) readU64(f string, v *uint64) {
	if b := d.take(f, 8); b != nil {
		*v = binary.BigEndian.Uint64(b)
	}
}

// readBool accepts only 0 and 1, like CLN's fromwire_bool.
func (d *decoder) readBool(f string, v *bool) {
	start := d.off
	b := d.take(f, 1)
	if b == nil {
		return
	}
	if b[0] > 1 {
		d.failAt(f, start, fmt.Errorf("%w: 0x%02x", ErrBadBool, b[0]))
		return
	}
	*v = b[0] == 1
}

// present reads the presence byte of an optional field.
func (d *decoder) present(f string) bool {
	var ok bool
	d.readBool(f, &ok)
	return ok && d.err == nil
}

// readBytes reads n bytes into a new slice; nil for n == 0 (as CLN's NULL).
func (d *decoder) readBytes(f string, n uint64) []byte {
	if d.err != nil || n == 0 {
		return nil
	}
	if n > uint64(d.left()) {
		d.failAt(f, d.off, fmt.Errorf("%w: %d bytes announced, %d left", ErrTruncated, n, d.left()))
		return nil
	}
	return append([]byte(nil), d.take(f, int(n))...)
}

// capacity bounds the capacity of a slice for n announced elements of at
// least minSize bytes by what the bytes left can hold, so that no slice is
// allocated from an unchecked count.
func (d *decoder) capacity(n uint64, minSize int) int {
	limit := uint64(d.left() / max(minSize, 1))
	return int(min(n, limit))
}

// An encoder appends fields to b; the first invalid value sets err.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *encoder) writeU8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) writeU16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) writeU32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) writeU64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) writeBytes(v []byte) {
	e.b = append(e.b, v...)
}

func (e *encoder) writeBool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) countErr(name string, n int, bits int) {
	e.fail(fmt.Errorf("%s: %w: %d elements, a u%d count", name, ErrTooLong, n, bits))
}

// count8 … count64 return len(array) for its count field.
func (e *encoder) count8(name string, n int) uint8 {
	if n > 0xff {
		e.countErr(name, n, 8)
	}
	return uint8(n)
}

func (e *encoder) count16(name string, n int) uint16 {
	if n > 0xffff {
		e.countErr(name, n, 16)
	}
	return uint16(n)
}

func (e *encoder) count32(name string, n int) uint32 {
	if uint64(n) > 0xffffffff {
		e.countErr(name, n, 32)
	}
	return uint32(n)
}

func (e *encoder) count64(_ string, n int) uint64 { return uint64(n) }
