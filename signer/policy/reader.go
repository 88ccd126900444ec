package policy

import "encoding/binary"

// reader reads a BOLT message field by field; a read past the end sets
// short and returns zeros, so a parser checks once, at the end, and names
// the field it was reading through field.
type reader struct {
	b     []byte
	off   int
	short bool
	field string // the field that ran short
}

func (r *reader) take(field string, n int) []byte {
	if r.short {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.short, r.field = true, field
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *reader) u16(field string) uint16 {
	b := r.take(field, 2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

func (r *reader) u8(field string) byte {
	b := r.take(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) rest() []byte { return r.b[r.off:] }

// bigSize reads a BOLT 1 BigSize, refusing non-minimal encodings.
func (r *reader) bigSize(field string) (uint64, bool) {
	p := r.take(field, 1)
	if p == nil {
		return 0, false
	}
	var v uint64
	var min uint64
	switch p[0] {
	case 0xfd:
		b := r.take(field, 2)
		if b == nil {
			return 0, false
		}
		v, min = uint64(binary.BigEndian.Uint16(b)), 0xfd
	case 0xfe:
		b := r.take(field, 4)
		if b == nil {
			return 0, false
		}
		v, min = uint64(binary.BigEndian.Uint32(b)), 0x10000
	case 0xff:
		b := r.take(field, 8)
		if b == nil {
			return 0, false
		}
		v, min = binary.BigEndian.Uint64(b), 0x100000000
	default:
		return uint64(p[0]), true
	}
	return v, v >= min
}

// tlvStreamError checks that b is a well-formed BOLT 1 TLV stream (types
// strictly increasing, every value within the stream) and says what is
// wrong with it, or returns "".
func tlvStreamError(b []byte) string {
	r := &reader{b: b}
	var last uint64
	for i := 0; r.off < len(b); i++ {
		t, ok := r.bigSize("tlv type")
		if !ok {
			return "its TLV stream has a truncated or non-minimal type"
		}
		if i > 0 && t <= last {
			return "its TLV stream's types are not strictly increasing"
		}
		last = t
		l, ok := r.bigSize("tlv length")
		if !ok {
			return "its TLV stream has a truncated or non-minimal length"
		}
		if l > uint64(len(b)-r.off) {
			return "a TLV record is longer than the stream"
		}
		r.off += int(l)
	}
	return ""
}
