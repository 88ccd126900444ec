package intent

import (
	"strings"
	"testing"
)

// Rows of the runes reference test vectors (rustyrussell/runes
// tests/test_vectors.csv, master secret 16 zero bytes): a rune, then
// values it must pass and fail.
var runeVectors = []struct {
	name   string
	b64    string
	text   string
	pass   []map[string]string
	fail   []map[string]string
	broken string // "malformed" or "derivation": must not parse / not authorize
}{
	{name: "empty rune", b64: "N0cI__dxndWXnsh11WzSKG9tPPfsMXo7JWMqqyjsN7s=", text: "",
		pass: []map[string]string{{}, {"f1": "1"}}},
	{name: "unique id 1", b64: "YDVzGiy7Aiy-tnZFqg-KJmU9jMRU4OCH1NGdKCuNpL09MQ==", text: "=1", pass: []map[string]string{{}}},
	{name: "unique id 2 version 1", b64: "RSB3NAfJZYZGMm_f_mhf-8PIY5oIDa5DELNxgwogXPE9Mi0x", text: "=2-1",
		fail: []map[string]string{{}}, pass: []map[string]string{{"": "2-1"}}},
	{name: "f1 is missing", b64: "ZKkmtxhdfPmOEKB9_E6D0qgmiW69sRKslkVm-i1QtGRmMSE=", text: "f1!",
		pass: []map[string]string{{}, {"f2": "f1"}}, fail: []map[string]string{{"f1": "1"}}},
	{name: "f1 equals v1", b64: "dFxuOc1B7p-DiK-K2IK65O5Oj2s3P3aCzGTYV0VR-l9mMT12MQ==", text: "f1=v1",
		pass: []map[string]string{{"f1": "v1"}}, fail: []map[string]string{{"f1": "v"}, {"f1": "v1a"}, {}, {"f2": "f1"}}},
	{name: "f1 not equal v1", b64: "ySNqZTK_qOJL7Jpm6Wrz-zVfgXdw55xagfbdC17SDkdmMS92MQ==", text: "f1/v1",
		pass: []map[string]string{{"f1": "v2"}, {"f1": "v1a"}}, fail: []map[string]string{{}, {"f2": "v1"}}},
	{name: "f1 ends with v1", b64: "cfKh7JYx78dbAdsV_h8CUyerRn-Kg-a_p1BtoiKtxaJmMSR2MQ==", text: "f1$v1",
		pass: []map[string]string{{"f1": "2v1"}}, fail: []map[string]string{{"f1": "v1a"}, {}}},
	{name: "f1 starts with v1", b64: "WxPf-72fexkbBVdZXRCyLArOwMVn-O_rodfQR5J9e85mMV52MQ==", text: "f1^v1",
		pass: []map[string]string{{"f1": "v1a"}}, fail: []map[string]string{{"f1": "2v1"}, {}}},
	{name: "f1 contains v1", b64: "zL5ZO3LgqylEbkZ5bM0Md17NejJ_zJ3cAP05EM2sygBmMX52MQ==", text: "f1~v1",
		pass: []map[string]string{{"f1": "2v12"}}, fail: []map[string]string{{"f1": "1v2"}, {}}},
	{name: "f1 less than 1", b64: "-XdttU-1TI3WryCmWg8hCnUqDuTRsKDn_Z1-9lr3b4RmMTwx", text: "f1<1",
		pass: []map[string]string{{"f1": "0"}, {"f1": "-10000"}}, fail: []map[string]string{{"f1": "1"}, {"f1": "v1"}, {}}},
	{name: "f1 greater than 1", b64: "hOmZHdlBusl8xoHu_sXdesNmikSQymsPGfDnnSu5x0ZmMT4x", text: "f1>1",
		pass: []map[string]string{{"f1": "2"}}, fail: []map[string]string{{"f1": "1"}, {"f1": "-10000"}, {"f1": "v1"}}},
	{name: "f1 sorts before 11", b64: "uWU60Nytfl7Rg_mM3X5has0HqYzGahB6Z2JikL8AAjZmMXsxMQ==", text: "f1{11",
		pass: []map[string]string{{"f1": "1"}, {"f1": "/"}}, fail: []map[string]string{{"f1": "11"}, {"f1": "111"}, {"f1": ":"}}},
	{name: "f1 sorts after 11", b64: "jB9sfDm63F3qhQGSoKTG6d2WvzPUEK3FoI_DdbIqGlJmMX0xMQ==", text: "f1}11",
		pass: []map[string]string{{"f1": "111"}, {"f1": ":"}}, fail: []map[string]string{{"f1": "11"}, {"f1": "1"}}},
	{name: "comment", b64: "dr3WJd4OEgWJVubIoHysWNfcIlNgmmv7lZ-HzAlPPw9mMSMxMQ==", text: "f1#11",
		pass: []map[string]string{{}, {"f1": "0"}}},
	{name: "f1=1 or f2=3 AND f3 contains v1", b64: "Ht9AaOKwseTgdeZnUcLT9cn8RRXRFPh15txuPmcE76lmMT0xfGYyPTMmZjN-djE=", text: "f1=1|f2=3&f3~v1",
		pass: []map[string]string{{"f1": "1", "f3": "v1"}, {"f2": "3", "f3": "v1x"}},
		fail: []map[string]string{{}, {"f1": "1"}, {"f1": "2", "f3": "v1"}, {"f3": "v1"}}},
	{name: "unique id must use =", b64: "YDVzGiy7Aiy-tnZFqg-KJmU9jMRU4OCH1NGdKCuNpL0hMQ==", broken: "malformed"},
	{name: "unique id cannot be overridden", b64: "emOilm045v7YklbUpumDpoE78ITU_Gwguc2u8ksj-n49MS0yJj0z", broken: "malformed"},
	{name: "bad condition &", b64: "dr3WJd4OEgWJVubIoHysWNfcIlNgmmv7lZ-HzAlPPw9mMSYxMQ==", broken: "malformed"},
	{name: "bad condition _", b64: "dr3WJd4OEgWJVubIoHysWNfcIlNgmmv7lZ-HzAlPPw9mMV8xMQ==", broken: "malformed"},
	{name: "incremented sha", b64: "dr3WJd4OEgWJVubIoHysWNfcIlNgmmv7lZ-HzAlPPw5mMSMxMQ==", broken: "derivation"},
	{name: "unchanged sha", b64: "dr3WJd4OEgWJVubIoHysWNfcIlNgmmv7lZ-HzAlPPw9mMSMxMSZhPTE=", broken: "derivation"},
}

func TestRuneVectors(t *testing.T) {
	m, err := NewMaster(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range runeVectors {
		r, err := DecodeRune(v.b64)
		switch v.broken {
		case "malformed":
			if err == nil {
				t.Errorf("%s: a malformed rune parsed: %q", v.name, r.String())
			}
			continue
		case "derivation":
			if err != nil || m.Authorized(r) {
				t.Errorf("%s: parse %v; a rune of bad derivation was authorized", v.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", v.name, err)
			continue
		}
		if !m.Authorized(r) {
			t.Errorf("%s: not authorized by the master", v.name)
		}
		if r.String() != v.text || r.Encode() != v.b64 {
			t.Errorf("%s: reads as %q / %s", v.name, r.String(), r.Encode())
		}
		for _, vals := range v.pass {
			if err := r.Check(vals); err != nil {
				t.Errorf("%s: %v should pass: %v", v.name, vals, err)
			}
		}
		for _, vals := range v.fail {
			if err := r.Check(vals); err == nil {
				t.Errorf("%s: %v should fail", v.name, vals)
			}
		}
	}
}

// Carving from the master, narrowing without it (length extension) and
// reading back give runes the master authorizes; changing a restriction
// does not.
func TestCarveAndRestrict(t *testing.T) {
	m, err := MasterFromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	pub := Restriction{{Field: "pubkey", Cond: '=', Value: "04ab"}}
	r := m.Carve(3, pub)
	if got := r.String(); got != "=3-gl0&pubkey=04ab" {
		t.Fatalf("carved %q", got)
	}
	if !m.Authorized(r) {
		t.Fatal("a carved rune is not authorized")
	}
	// Long restrictions cross SHA-256 blocks.
	long := Restriction{{Field: "method", Cond: '^', Value: strings.Repeat("get", 40)}, {Field: "method", Cond: '=', Value: "a|b&c\\d"}}
	n, err := Restrict(r, long)
	if err == nil {
		n, err = Restrict(n, Restriction{{Field: "time", Cond: '<', Value: "99999999999"}})
	}
	if err != nil {
		t.Fatal(err)
	}
	if !m.Authorized(n) {
		t.Fatal("a narrowed rune is not authorized")
	}
	back, err := DecodeRune(n.Encode())
	if err != nil || !m.Authorized(back) || back.String() != n.String() {
		t.Fatalf("read back: %v %q", err, back)
	}
	if back.Restrictions[2][1].Value != "a|b&c\\d" {
		t.Fatalf("escaped value read as %q", back.Restrictions[2][1].Value)
	}
	forged := *n
	forged.Restrictions = append([]Restriction(nil), n.Restrictions[:2]...) // drop the time limit
	if m.Authorized(&forged) {
		t.Fatal("a rune with a restriction removed is still authorized")
	}
	other, _ := MasterFromSeed(append(make([]byte, 31), 1))
	if other.Authorized(r) {
		t.Fatal("another node's master authorizes our rune")
	}
}

func TestParseRestriction(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "method=pay", want: "method=pay"},
		{in: "method^list|method^get", want: "method^list|method^get"},
		{in: "method=pay&pubkey=00", err: "holds '&'"},
		{in: "=0", err: "empty field name"},
		{in: "method", err: "no operator"},
		{in: "method_x", err: "is not an operator"},
		{in: "", err: "is empty"},
	} {
		r, err := ParseRestriction(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v; want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || r.encode() != tc.want {
			t.Errorf("%q: %v %q", tc.in, err, r.encode())
		}
	}
}
