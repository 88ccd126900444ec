package hsmproto

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// readBigSize reads a BOLT 1 BigSize, which must be minimally encoded.
func (d *decoder) readBigSize(f string) (uint64, bool) {
	start := d.off
	b := d.take(f, 1)
	if b == nil {
		return 0, false
	}
	var v uint64
	var min uint64
	switch b[0] {
	case 0xfd:
		if b = d.take(f, 2); b == nil {
			return 0, false
		}
		v, min = uint64(binary.BigEndian.Uint16(b)), 0xfd
	case 0xfe:
		if b = d.take(f, 4); b == nil {
			return 0, false
		}
		v, min = uint64(binary.BigEndian.Uint32(b)), 0x10000
	case 0xff:
		if b = d.take(f, 8); b == nil {
			return 0, false
		}
		v, min = binary.BigEndian.Uint64(b), 0x100000000
	default:
		return uint64(b[0]), true
	}
	if v < min {
		d.failAt(f, start, fmt.Errorf("%w: BigSize %d is not minimally encoded", ErrBadTLV, v))
		return 0, false
	}
	return v, true
}

func appendBigSize(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0xfe), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xff), v)
}

// readTLVStream reads TLV records up to the end of the message, with the
// rules of CLN's fromwire_tlv (BOLT 1): types strictly increasing, a
// known record's value exactly consumed by its fields, unknown even types
// rejected, unknown odd types kept. name maps a known type to its record
// name ("" if unknown); record decodes a known record's value.
func (d *decoder) readTLVStream(name func(uint64) string, record func(uint64), unknown *[]TLVRecord) {
	first := true
	var prev uint64
	for d.err == nil && d.off < d.end {
		start := d.off
		typ, ok := d.readBigSize("")
		if !ok {
			return
		}
		if !first && typ <= prev {
			d.failAt("", start, fmt.Errorf("%w: record type %d after %d (types must increase)", ErrBadTLV, typ, prev))
			return
		}
		first, prev = false, typ
		rec := name(typ)
		if rec == "" && typ%2 == 0 {
			d.failAt("", start, fmt.Errorf("%w: unknown even record type %d", ErrBadTLV, typ))
			return
		}
		length, ok := d.readBigSize(rec)
		if !ok {
			return
		}
		if length > uint64(d.left()) {
			d.failAt(rec, start, fmt.Errorf("%w: record type %d has length %d, %d bytes left", ErrTruncated, typ, length, d.left()))
			return
		}
		valueEnd := d.off + int(length)
		if rec == "" {
			*unknown = append(*unknown, TLVRecord{Type: typ, Value: append([]byte{}, d.b[d.off:valueEnd]...)})
			d.off = valueEnd
			continue
		}
		outerEnd := d.end
		d.end = valueEnd
		d.enter(rec, -1)
		record(typ)
		d.leave()
		if d.err == nil && d.off != valueEnd {
			d.failAt(rec, start, fmt.Errorf("%w: %d bytes left over in record %s", ErrBadTLV, valueEnd-d.off, rec))
		}
		d.end = outerEnd
	}
}

// record returns an encoder for one TLV record's value.
func (e *encoder) record() *encoder { return &encoder{} }

// endRecord finishes a record started with record.
func (e *encoder) endRecord(typ uint64, r *encoder) TLVRecord {
	if r.err != nil {
		e.fail(r.err)
	}
	return TLVRecord{Type: typ, Value: r.b}
}

// writeTLVStream writes known and unknown records in type order, as CLN's
// towire_tlv does. knownTypes are all types the stream defines: an unknown
// record may use none of them, must be odd, and may appear once.
func (e *encoder) writeTLVStream(known, unknown []TLVRecord, knownTypes ...uint64) {
	all := append(slices.Clip(known), unknown...)
	for _, u := range unknown {
		if u.Type%2 == 0 || slices.Contains(knownTypes, u.Type) {
			e.fail(fmt.Errorf("%w: unknown record type %d is even or defined", ErrBadTLV, u.Type))
		}
	}
	slices.SortStableFunc(all, func(a, b TLVRecord) int {
		switch {
		case a.Type < b.Type:
			return -1
		case a.Type > b.Type:
			return 1
		}
		return 0
	})
	for i, r := range all {
		if i > 0 && all[i-1].Type == r.Type {
			e.fail(fmt.Errorf("%w: record type %d twice", ErrBadTLV, r.Type))
		}
		e.b = appendBigSize(e.b, r.Type)
		e.b = appendBigSize(e.b, uint64(len(r.Value)))
		e.b = append(e.b, r.Value...)
	}
}
