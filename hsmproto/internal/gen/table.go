package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A table is the parsed messages.tbl.
type table struct {
	cln              string
	minProto         int
	maxProto         int
	msgs             []*item // in table order
	subtypes         []*item // in table order
	tlvs             []*item // in order of first record
	byName           map[string]*item
	haveCLN, haveVer bool
}

type itemKind int

const (
	kindMsg itemKind = iota
	kindSubtype
	kindTLV
)

// An item is a message, a subtype or a TLV stream.
type item struct {
	kind    itemKind
	name    string   // as in the table: hsmd_init, hsm_htlc, hsmd_init_tlvs
	typ     uint64   // message type (kindMsg)
	doc     []string // comment lines above the definition
	fields  []*field // kindMsg, kindSubtype
	records []*record
	line    int
}

// A record is one record type of a TLV stream.
type record struct {
	name   string
	typ    uint64
	doc    []string
	fields []*field
	line   int
}

// A field is one field of a message, subtype or TLV record.
type field struct {
	name     string
	typeName string // element type, without ? and [n]
	optional bool
	count    string // name of the count field, for arrays
	countOf  *field // set on a count field: the array it counts
	doc      []string
	line     int
}

func parseTable(r io.Reader) (*table, error) {
	t := &table{byName: map[string]*item{}}
	var doc []string
	var cur *item        // item receiving fields
	var curRec *record   // record receiving fields, if any
	var fields *[]*field // where fields go
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" {
			doc = nil
			continue
		}
		if strings.HasPrefix(line, "#") {
			doc = append(doc, strings.TrimPrefix(line, "#"))
			continue
		}
		errf := func(format string, args ...any) error {
			return fmt.Errorf("messages.tbl:%d: %s", n, fmt.Sprintf(format, args...))
		}
		words := strings.Fields(line)
		indented := raw[0] == ' ' || raw[0] == '\t'
		if indented {
			if fields == nil {
				return nil, errf("field outside a definition")
			}
			if len(words) != 2 {
				return nil, errf("a field is `name type`")
			}
			f := &field{name: words[0], doc: doc, line: n}
			typ := words[1]
			if strings.HasPrefix(typ, "?") {
				f.optional = true
				typ = typ[1:]
			}
			if i := strings.IndexByte(typ, '['); i >= 0 {
				if !strings.HasSuffix(typ, "]") {
					return nil, errf("bad array type %q", words[1])
				}
				f.count = typ[i+1 : len(typ)-1]
				typ = typ[:i]
				if f.optional {
					return nil, errf("an array cannot be optional")
				}
			}
			f.typeName = typ
			for _, g := range *fields {
				if g.name == f.name {
					return nil, errf("duplicate field %q", f.name)
				}
			}
			*fields = append(*fields, f)
			doc = nil
			continue
		}
		switch words[0] {
		case "cln":
			if len(words) != 2 {
				return nil, errf("usage: cln <tag>")
			}
			t.cln, t.haveCLN = words[1], true
			fields = nil
		case "protocol":
			if len(words) != 3 {
				return nil, errf("usage: protocol <min> <max>")
			}
			var err1, err2 error
			t.minProto, err1 = strconv.Atoi(words[1])
			t.maxProto, err2 = strconv.Atoi(words[2])
			if err1 != nil || err2 != nil || t.minProto > t.maxProto {
				return nil, errf("bad protocol range")
			}
			t.haveVer = true
			fields = nil
		case "msg":
			if len(words) != 3 {
				return nil, errf("usage: msg <name> <type>")
			}
			typ, err := strconv.ParseUint(words[2], 10, 16)
			if err != nil {
				return nil, errf("bad message type %q", words[2])
			}
			cur = &item{kind: kindMsg, name: words[1], typ: typ, doc: doc, line: n}
			if err := t.add(cur); err != nil {
				return nil, errf("%v", err)
			}
			t.msgs = append(t.msgs, cur)
			fields = &cur.fields
		case "subtype":
			if len(words) != 2 {
				return nil, errf("usage: subtype <name>")
			}
			cur = &item{kind: kindSubtype, name: words[1], doc: doc, line: n}
			if err := t.add(cur); err != nil {
				return nil, errf("%v", err)
			}
			t.subtypes = append(t.subtypes, cur)
			fields = &cur.fields
		case "record":
			if len(words) != 4 {
				return nil, errf("usage: record <stream> <name> <type>")
			}
			typ, err := strconv.ParseUint(words[3], 10, 64)
			if err != nil {
				return nil, errf("bad record type %q", words[3])
			}
			stream := t.byName[words[1]]
			if stream == nil {
				stream = &item{kind: kindTLV, name: words[1], line: n}
				if err := t.add(stream); err != nil {
					return nil, errf("%v", err)
				}
				t.tlvs = append(t.tlvs, stream)
			} else if stream.kind != kindTLV {
				return nil, errf("%s is not a TLV stream", words[1])
			}
			for _, r := range stream.records {
				if r.name == words[2] || r.typ == typ {
					return nil, errf("duplicate record %s/%d", words[2], typ)
				}
				if r.typ > typ {
					return nil, errf("records must be listed in type order")
				}
			}
			curRec = &record{name: words[2], typ: typ, doc: doc, line: n}
			stream.records = append(stream.records, curRec)
			fields = &curRec.fields
		default:
			return nil, errf("unknown keyword %q", words[0])
		}
		doc = nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !t.haveCLN || !t.haveVer {
		return nil, fmt.Errorf("messages.tbl: missing `cln` or `protocol` line")
	}
	return t, t.check()
}

func (t *table) add(it *item) error {
	if _, dup := t.byName[it.name]; dup {
		return fmt.Errorf("%s defined twice", it.name)
	}
	if prim[it.name] != nil {
		return fmt.Errorf("%s is a primitive type", it.name)
	}
	t.byName[it.name] = it
	return nil
}

// check resolves every field type and count reference.
func (t *table) check() error {
	types := map[uint64]string{}
	for _, m := range t.msgs {
		if other, dup := types[m.typ]; dup {
			return fmt.Errorf("messages.tbl:%d: type %d used by %s and %s", m.line, m.typ, other, m.name)
		}
		types[m.typ] = m.name
	}
	goNames := map[string]string{}
	for _, group := range [][]*item{t.msgs, t.subtypes, t.tlvs} {
		for _, it := range group {
			g := it.goName()
			if other, dup := goNames[g]; dup {
				return fmt.Errorf("messages.tbl:%d: %s and %s both become Go type %s", it.line, other, it.name, g)
			}
			goNames[g] = it.name
		}
	}
	for _, it := range append(append([]*item{}, t.msgs...), t.subtypes...) {
		if err := t.checkFields(it.fields, it.kind == kindMsg); err != nil {
			return err
		}
	}
	for _, s := range t.tlvs {
		for _, r := range s.records {
			if len(r.fields) == 0 {
				return fmt.Errorf("messages.tbl:%d: record %s has no fields", r.line, r.name)
			}
			if err := t.checkFields(r.fields, false); err != nil {
				return err
			}
			if len(r.fields) == 1 && r.fields[0].optional {
				return fmt.Errorf("messages.tbl:%d: a record's only field cannot be optional", r.line)
			}
		}
	}
	return t.checkSubtypeCycles()
}

func (t *table) checkFields(fields []*field, isMsg bool) error {
	for i, f := range fields {
		errf := func(format string, args ...any) error {
			return fmt.Errorf("messages.tbl:%d: %s", f.line, fmt.Sprintf(format, args...))
		}
		if prim[f.typeName] == nil {
			it := t.byName[f.typeName]
			switch {
			case it == nil:
				return errf("unknown type %q", f.typeName)
			case it.kind == kindMsg:
				return errf("a message cannot be a field type")
			case it.kind == kindTLV:
				if !isMsg || i != len(fields)-1 || f.optional || f.count != "" {
					return errf("a TLV stream can only be the last field of a message")
				}
			}
		}
		if f.count == "" {
			continue
		}
		var cf *field
		for _, g := range fields[:i] {
			if g.name == f.count {
				cf = g
			}
		}
		if cf == nil {
			return errf("count %q is not an earlier field", f.count)
		}
		if p := prim[cf.typeName]; p == nil || p.countBits == 0 || cf.optional || cf.count != "" {
			return errf("count %q must be a plain u8/u16/u32/u64 field", f.count)
		}
		if cf.countOf != nil {
			return errf("count %q already counts %s", f.count, cf.countOf.name)
		}
		cf.countOf = f
	}
	return nil
}

func (t *table) checkSubtypeCycles() error {
	state := map[*item]int{}
	var visit func(it *item) error
	visit = func(it *item) error {
		switch state[it] {
		case 1:
			return fmt.Errorf("messages.tbl:%d: subtype %s contains itself", it.line, it.name)
		case 2:
			return nil
		}
		state[it] = 1
		for _, f := range it.fields {
			if sub := t.byName[f.typeName]; sub != nil && sub.kind == kindSubtype {
				if err := visit(sub); err != nil {
					return err
				}
			}
		}
		state[it] = 2
		return nil
	}
	for _, s := range t.subtypes {
		if err := visit(s); err != nil {
			return err
		}
	}
	return nil
}

// goName is the Go type name of an item: CamelCase, without "hsmd_".
func (it *item) goName() string {
	return camel(strings.TrimPrefix(it.name, "hsmd_"))
}

// camel turns snake_case into CamelCase; id and dbid become ID and DBID.
// An underscore stays between two digits: sign_bolt12_2 → SignBolt12_2.
func camel(s string) string {
	var b strings.Builder
	for _, w := range strings.Split(s, "_") {
		if w != "" && b.Len() > 0 && isDigit(w[0]) && isDigit(b.String()[b.Len()-1]) {
			b.WriteByte('_')
		}
		switch w {
		case "":
			continue
		case "id":
			b.WriteString("ID")
		case "dbid":
			b.WriteString("DBID")
		default:
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
