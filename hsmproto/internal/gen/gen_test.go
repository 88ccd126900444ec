package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gl-signerd/internal/sharedfiles"
)

func loadTable(t *testing.T) *table {
	t.Helper()
	f, err := os.Open("../../messages.tbl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tb, err := parseTable(f)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestGeneratedUpToDate fails when messages_gen.go was not regenerated
// after a change to messages.tbl or to this generator.
func TestGeneratedUpToDate(t *testing.T) {
	code, err := generate(loadTable(t), "messages.tbl")
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../messages_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code, have) {
		t.Fatal("hsmproto/messages_gen.go is stale: run go generate ./hsmproto")
	}
}

// TestTableMatchesCSV checks every message, record and subtype field of
// CLN's CSV against the table (shared/ is cloned next to the repo).
func TestTableMatchesCSV(t *testing.T) {
	tb := loadTable(t)
	dir := filepath.Join("..", "..", "..", "..", "shared", "reference", "cln-"+tb.cln)
	files, _ := filepath.Glob(filepath.Join(dir, "*_wire.csv"))
	if len(files) == 0 {
		sharedfiles.Missing(t, "CLN %s CSV files not found in %s", tb.cln, dir)
	}
	msgs := 0
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		fieldIndex := map[string]int{} // next field of each item
		for sc.Scan() {
			col := strings.Split(strings.TrimSpace(sc.Text()), ",")
			var fields []*field
			var item, fname, ftype, count string
			switch col[0] {
			case "msgtype":
				it := tb.byName[col[1]]
				if it == nil || it.kind != kindMsg || it.typ != mustUint(t, col[2]) {
					t.Errorf("%s: message %s %s missing or different", name, col[1], col[2])
				}
				msgs++
				continue
			case "tlvtype":
				if r := findRecord(tb, col[1], col[2]); r == nil || r.typ != mustUint(t, col[3]) {
					t.Errorf("%s: record %s/%s %s missing or different", name, col[1], col[2], col[3])
				}
				continue
			case "msgdata", "subtypedata":
				if it := tb.byName[col[1]]; it != nil {
					fields = it.fields
				}
				item, fname, ftype, count = col[1], col[2], col[3], col[4]
			case "tlvdata":
				if r := findRecord(tb, col[1], col[2]); r != nil {
					fields = r.fields
				}
				item, fname, ftype, count = col[1]+"/"+col[2], col[3], col[4], col[5]
			default:
				continue
			}
			i := fieldIndex[item]
			fieldIndex[item]++
			if i >= len(fields) {
				t.Errorf("%s: %s has no field %d (%s)", name, item, i, fname)
				continue
			}
			f := fields[i]
			want := strings.TrimPrefix(ftype, "enum ")
			if want == "byte" {
				want = "u8"
			}
			got := f.typeName
			if f.optional {
				got = "?" + got
			}
			if f.name != fname || got != want || f.count != count {
				t.Errorf("%s: %s field %d is %s %s[%s] in the CSV, %s %s[%s] in the table",
					name, item, i, fname, want, count, f.name, got, f.count)
			}
		}
		f.Close()
	}
	if msgs != len(tb.msgs) {
		t.Errorf("the CSV has %d messages, the table %d", msgs, len(tb.msgs))
	}
}

func findRecord(tb *table, stream, name string) *record {
	if s := tb.byName[stream]; s != nil {
		for _, r := range s.records {
			if r.name == name {
				return r
			}
		}
	}
	return nil
}

func mustUint(t *testing.T, s string) uint64 {
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}

func TestTableErrors(t *testing.T) {
	head := "cln v0\nprotocol 1 2\n"
	for _, c := range []struct{ tbl, err string }{
		{"msg a 1\n    x nosuchtype\n", "unknown type"},
		{"msg a 1\n    x u8[n]\n    n u16\n", "not an earlier field"},
		{"msg a 1\n    n bool\n    x u8[n]\n", "plain u8/u16/u32/u64"},
		{"msg a 1\n    t s_tlvs\n    x u8\nrecord s_tlvs r 1\n    v u8\n", "last field"},
		{"msg a 1\nmsg b 1\n", "type 1 used by"},
		{"msg a 1\n    x u8\n    x u8\n", "duplicate field"},
		{"subtype s\n    x s\nmsg a 1\n    y s\n", "contains itself"},
		{"record s r 3\n    v u8\nrecord s q 1\n    v u8\n", "type order"},
		{"    x u8\n", "outside a definition"},
		{"msg a_b 1\nmsg hsmd_a_b 2\n", "both become Go type AB"},
		{"msg a 1\n    x ?u8[n]\n", "cannot be optional"},
	} {
		_, err := parseTable(strings.NewReader(head + c.tbl))
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: got %v, want %q", c.tbl, err, c.err)
		}
	}
	if _, err := parseTable(strings.NewReader("msg a 1\n")); err == nil {
		t.Error("a table without cln/protocol lines was accepted")
	}
}

func TestCamel(t *testing.T) {
	for in, want := range map[string]string{
		"sign_remote_commitment_tx": "SignRemoteCommitmentTx",
		"peer_id":                   "PeerID",
		"channel_dbid":              "ChannelDBID",
		"sign_bolt12_2":             "SignBolt12_2",
		"init_reply_v4":             "InitReplyV4",
		"script_pubkey":             "ScriptPubkey",
	} {
		if got := camel(in); got != want {
			t.Errorf("camel(%q) = %q, want %q", in, got, want)
		}
	}
}
