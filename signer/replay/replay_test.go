package replay

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/sharedfiles"
	"gl-signerd/signer"
)

// Lines of S1 (secret 01×32, bitcoin, [5, 6]) from shared/vectors, so
// these tests run without shared/.
const (
	s1Secret = "0101010101010101010101010101010101010101010101010101010101010101"
	s1Init   = "000b0488b21e0488ade46fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d619000000000000000000000000000500000006"
	// The init reply: version 6, hsmd's 13 capabilities, node id, xpub,
	// bolt12 base key, hsm_secret_type 0.
	s1InitReply         = "007200000006000d0000001c000000380000008e00000093000000950000001d000000200000002200000028000000290000002d0000003300000034026f61d7ee82f937f9697f4f3e44bfaaa25849cc4f526b3a57326130eba63460020488b21e02b7c1af190000000012efaf332fe286265e337116048425e4b36450eca083325421f3e88f23dda21a0364e5b8630f2d545edcba31fe699eb4be168695b55641a190547348c61f55c4da020174484267a2a41ed28c7e923bab4ababafa883e1ac5f256caed2c8fa9abaf22010100"
	s1CheckPubkey3      = "001c0000000302439c2071934d9f656d8907261f83ad5bfe2cef6f60d8fbbfcb73fe5578d5119b"
	s1DeriveCommando    = "001b0008636f6d6d616e646f"
	s1DeriveCommandoRep = "007fdecbd66284b24b557e8522bc995c15b74f9d3ed1c652b2b1706bf43b157fe8b6"
	s1SignMessage       = "0017000b68656c6c6f20776f726c64"
	s1Basepoints        = "000a034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa0000000000000001"
)

// line builds a JSON vector line.
func line(scenario string, seq int, name, request string, response any, extra string) string {
	resp := "null"
	if s, ok := response.(string); ok {
		resp = `"` + s + `"`
	}
	return fmt.Sprintf(`{"name": %q, "scenario": %q, "seq": %d, "secret": %q, "network": "bitcoin", "hsm_versions": [5, 6], "client": "master", "context": null, "request": %q, "response": %s%s}`,
		name, scenario, seq, s1Secret, request, resp, extra)
}

func readLines(t *testing.T, text ...string) []*Line {
	t.Helper()
	lines, err := Read(strings.NewReader(strings.Join(text, "\n")), "test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func run(t *testing.T, lines []*Line, opts Options) (Summary, []Result) {
	t.Helper()
	var results []Result
	sum, err := Run(context.Background(), lines, opts, func(r Result) { results = append(results, r) })
	if err != nil {
		t.Fatal(err)
	}
	return sum, results
}

func TestRunPassAndFail(t *testing.T) {
	wrongSecret := "007f" + strings.Repeat("00", 32)
	lines := readLines(t,
		line("S1/boot", 0, "init", s1Init, s1InitReply, ""),
		// Out of seq order in the file: replayed in seq order.
		line("S1/boot", 2, "check_pubkey 3", s1CheckPubkey3, "008001", ""),
		line("S1/boot", 1, "derive_secret commando", s1DeriveCommando, s1DeriveCommandoRep, ""),
		line("S1/other", 0, "derive_secret, wrong reply", s1DeriveCommando, wrongSecret, ""),
		line("S1/other", 1, "check_pubkey said to fail but fine", s1CheckPubkey3, nil, `, "error": "made up"`),
		line("S1/other", 2, "preapprove must be refused", "00266c6e6263316200", "008a01", `, "expect": "reject", "policy": "policy-test"`),
	)
	sum, results := run(t, lines, Options{Policy: PolicyOff})
	if sum.Passed != 3 || sum.Failed != 3 || sum.NeedPolicy != 1 {
		t.Errorf("summary %+v, want 3 passed, 3 failed, 1 needing policy", sum)
	}
	var order []string
	for _, r := range results {
		order = append(order, fmt.Sprintf("%s/%d:%v", r.Line.Scenario, r.Line.Seq, r.Pass))
	}
	if got, want := strings.Join(order, " "), "S1/boot/0:true S1/boot/1:true S1/boot/2:true S1/other/0:false S1/other/1:false S1/other/2:false"; got != want {
		t.Errorf("replay order\n got %s\nwant %s", got, want)
	}

	wrong := results[3]
	if len(wrong.Diff) != 1 || wrong.Diff[0].Path != "secret" {
		t.Fatalf("diff of a wrong derive_secret reply: %+v", wrong.Diff)
	}
	ex := wrong.Explain()
	if strings.Contains(ex, "decbd662") || !strings.Contains(ex, "not shown") {
		t.Errorf("the engine's derived secret must not be printed:\n%s", ex)
	}
	if !strings.Contains(ex, "FAIL S1/other/000 derive_secret, wrong reply [master] (test.jsonl:4)") {
		t.Errorf("explanation does not name the line:\n%s", ex)
	}
	if ex := results[4].Explain(); !strings.Contains(ex, "CLN's hsmd refused this (made up), but the signer answered with hsmd_check_pubkey_reply") {
		t.Errorf("unexpected explanation:\n%s", ex)
	}
	if ex := results[5].Explain(); !results[5].NeedsPolicy || !strings.Contains(ex, "policy-test") || !strings.Contains(ex, "the policy is off") {
		t.Errorf("a reject line answered with the policy off must say so:\n%s", ex)
	}
}

func TestRunOtherPolicy(t *testing.T) {
	lines := readLines(t, line("S1/boot", 0, "init", s1Init, s1InitReply, ""))
	if _, err := Run(context.Background(), lines, Options{Policy: "strict"}, nil); err == nil || !strings.Contains(err.Error(), `not one of enforce, warn or off`) {
		t.Errorf("policy strict: %v", err)
	}
}

// fakeHandler refuses or answers as told, to test the refusal checks.
type fakeHandler struct {
	reply []byte
	err   error
}

func (f fakeHandler) Handle(ctx context.Context, c signer.Client, raw []byte) ([]byte, error) {
	if len(raw) >= 2 && raw[1] == byte(hsmproto.TypeInit) {
		return hexDecode(s1InitReply), nil
	}
	return f.reply, f.err
}

func hexDecode(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestRefusalChecks(t *testing.T) {
	client := `, "client": "channeld", "context": {"peer_id": "02` + strings.Repeat("11", 32) + `", "dbid": 3, "capabilities": 447}`
	masterLine := line("S/x", 0, "refused on master", s1SignMessage, nil, `, "hsmd_exited": true, "error": "status_fail MASTER_IO"`)
	clientLine := strings.Replace(line("S/x", 0, "refused on a client", s1SignMessage, nil, `, "hsmd_exited": false, "error": "client_bad_request"`), `, "client": "master", "context": null`, "", 1)
	clientLine = strings.TrimSuffix(clientLine, "}") + client + "}"
	crashLine := strings.Replace(clientLine, `"hsmd_exited": false`, `"hsmd_exited": true`, 1)
	fatal := &signer.RefusalError{Reason: "x", Fatal: true}
	benign := &signer.RefusalError{Reason: "x"}
	for _, tc := range []struct {
		name string
		line string
		h    fakeHandler
		pass bool
		msg  string
	}{
		{"master, fatal", masterLine, fakeHandler{err: fatal}, true, ""},
		{"master, not fatal", masterLine, fakeHandler{err: benign}, false, "not as fatal"},
		{"client, not fatal", clientLine, fakeHandler{err: benign}, true, ""},
		{"client, fatal", clientLine, fakeHandler{err: fatal}, false, "refused as fatal"},
		{"client where hsmd crashed, either", crashLine, fakeHandler{err: fatal}, true, ""},
		{"not a RefusalError", clientLine, fakeHandler{err: errors.New("boom")}, false, "not a *signer.RefusalError"},
		{"answered", clientLine, fakeHandler{reply: hexDecode("008001")}, false, "answered with hsmd_check_pubkey_reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := readLines(t, line("S/boot", 0, "init", s1Init, s1InitReply, ""), tc.line)
			_, results := run(t, lines, Options{NewHandler: func([]byte) (Handler, error) { return tc.h, nil }})
			r := results[1]
			if r.Pass != tc.pass || !strings.Contains(r.Problem, tc.msg) {
				t.Errorf("pass %v, problem %q; want pass %v, problem containing %q", r.Pass, r.Problem, tc.pass, tc.msg)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	want := hexDecode(s1InitReply)
	got := bytes.Clone(want)
	got[5] = 5          // hsm_version 6 → 5
	got[len(got)-1] = 2 // hsm_secret_type 0 → 2
	d, err := Diff(got, want)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, f := range d {
		s = append(s, f.String())
	}
	if g, w := strings.Join(s, "\n"), "hsm_version: got 5, want 6\ntlvs.hsm_secret_type: got 2, want 0"; g != w {
		t.Errorf("diff\n got %s\nwant %s", g, w)
	}

	// Different types.
	d, err = Diff(hexDecode("008001"), hexDecode("008a01"))
	if err != nil || len(d) != 1 || d[0].Path != "type" || !strings.Contains(d[0].String(), "hsmd_check_pubkey_reply") {
		t.Errorf("type diff: %v %v", d, err)
	}
	// A field present in one reply only (optional old_commitment_secret).
	point := "0076036f61d7ee82f937f9697f4f3e44bfaaa25849cc4f526b3a57326130eba6346002"
	d, err = Diff(hexDecode(point+"00"), hexDecode(point+"01"+strings.Repeat("ab", 32)))
	if err != nil || len(d) != 1 || d[0].Path != "old_commitment_secret" || d[0].Got != "null" {
		t.Errorf("optional field diff: %+v %v", d, err)
	}
	// Undecodable: an error, and Explain falls back to bytes.
	if _, err := Diff([]byte{0x00}, want); err == nil {
		t.Error("Diff of a one-byte reply: no error")
	}
	hd := hexDiff([]byte{0x00, 0x72, 0x99, 0x42}, want)
	if !strings.Contains(hd, "first difference at byte 2") || strings.Contains(hd, "9942") {
		t.Errorf("hexDiff:\n%s", hd)
	}
}

func TestReadErrors(t *testing.T) {
	good := line("S1/boot", 0, "init", s1Init, s1InitReply, "")
	for _, tc := range []struct{ name, text, want string }{
		{"not json", good + "\n{not json", "test.jsonl:2: not a vector line"},
		{"short secret", strings.Replace(good, s1Secret, "0101", 1), `test.jsonl:1: "secret" must be 32 or 64 bytes, got 2`},
		{"no request", strings.Replace(good, `"request": "`+s1Init+`"`, `"request": ""`, 1), `"request" is missing or empty`},
		{"bad hex", strings.Replace(good, s1InitReply, "zz", 1), "not hex"},
		{"bad expect", strings.TrimSuffix(good, "}") + `, "expect": "maybe"}`, `"expect" must be "accept" or "reject"`},
		{"empty", "\n\n", "no vector lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.text), "test.jsonl")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	t.Run("duplicate seq", func(t *testing.T) {
		lines := readLines(t, line("S1/boot", 0, "a", s1Init, s1InitReply, ""), line("S1/boot", 0, "b", s1Init, s1InitReply, ""))
		if _, err := Plan(lines); err == nil || !strings.Contains(err.Error(), "seq 0 twice") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("scenario across instances", func(t *testing.T) {
		other := strings.Replace(line("S1/boot", 1, "b", s1Init, s1InitReply, ""), `"bitcoin"`, `"regtest"`, 1)
		lines := readLines(t, line("S1/boot", 0, "a", s1Init, s1InitReply, ""), other)
		if _, err := Plan(lines); err == nil || !strings.Contains(err.Error(), "mixes signer instances") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("instances and made-up init", func(t *testing.T) {
		v5 := strings.Replace(line("S2/v5", 0, "basepoints", s1Basepoints, "006e", ""), `[5, 6]`, `[5, 5]`, 1)
		lines := readLines(t, line("S1/boot", 0, "a", s1Init, s1InitReply, ""), v5, line("S1/more", 0, "b", s1SignMessage, "007b", ""))
		plan, err := Plan(lines)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan) != 2 || len(plan[0].Scenarios) != 2 || plan[0].InitLine != lines[0] || plan[1].InitLine != nil {
			t.Fatalf("plan: %d instances", len(plan))
		}
		if s := plan[0].String(); strings.Contains(s, "0101") || !strings.Contains(s, "bitcoin") {
			t.Errorf("instance description %q", s)
		}
		want, _ := SynthesizeInit("bitcoin", [2]uint32{5, 5})
		if !bytes.Equal(plan[1].Init, want) {
			t.Errorf("made-up init %x, want %x", plan[1].Init, want)
		}
	})
}

// The made-up hsmd_init equals lightningd's own, for every instance of the
// shared vectors.
func TestSynthesizeInitMatchesVectors(t *testing.T) {
	if got, _ := SynthesizeInit("bitcoin", [2]uint32{5, 6}); hex.EncodeToString(got) != s1Init {
		t.Errorf("bitcoin [5, 6]: %x", got)
	}
	p := filepath.Join("..", "..", "..", "shared", "vectors", "public.jsonl")
	if _, err := os.Stat(p); err != nil {
		sharedfiles.Missing(t, "the shared vectors: %v", err)
	}
	lines, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Plan(lines)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range plan {
		if in.InitLine == nil {
			t.Errorf("%s: no init line", in)
			continue
		}
		got, err := SynthesizeInit(in.Network, in.Versions)
		if err != nil || !bytes.Equal(got, in.Init) {
			t.Errorf("%s: made-up init %x, lightningd's %x (%v)", in, got, in.Init, err)
		}
	}
	if len(plan) != 4 {
		t.Errorf("%d instances in public.jsonl, want 4 (S1, S2, S1 regtest, S2 v5)", len(plan))
	}
}

func TestSecretNeverFormats(t *testing.T) {
	lines := readLines(t, line("S1/boot", 0, "init", s1Init, s1InitReply, ""))
	for _, s := range []string{fmt.Sprint(lines[0].Secret), fmt.Sprintf("%x %v %+v %#v %s", lines[0].Secret, lines[0].Secret, *lines[0], lines[0].Secret, lines[0].Secret)} {
		if strings.Contains(s, "0101") || strings.Contains(s, "[1 1 1") {
			t.Errorf("secret formatted: %s", s)
		}
	}
}

// A reject line passes only when it is refused with exactly the tag the
// vector names, and its verdict says so.
func TestRejectNeedsTheVectorsTag(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		pass bool
		says string
	}{
		{"policy-invoice-format", true, "refused with policy-invoice-format, the tag the vector expects"},
		{"policy-test", false, "must be refused with tag policy-test, but was refused with tag policy-invoice-format"},
	} {
		lines := readLines(t,
			line("S1/boot", 0, "init", s1Init, s1InitReply, ""),
			line("S1/boot", 1, "preapprove of no invoice", "00266c6e6263316200", "008a01", `, "expect": "reject", "policy": "`+tc.tag+`"`),
		)
		sum, results := run(t, lines, Options{Policy: PolicyEnforce})
		r := results[1]
		if r.Pass != tc.pass || !strings.Contains(r.Explain(), tc.says) {
			t.Errorf("%s: pass %v, explanation:\n%s", tc.tag, r.Pass, r.Explain())
		}
		if want := map[bool]int{true: 1, false: 0}[tc.pass]; sum.Rejects != 1 || sum.RejectsRefused != want {
			t.Errorf("%s: summary %+v", tc.tag, sum)
		}
	}
}
