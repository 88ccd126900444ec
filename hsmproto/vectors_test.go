package hsmproto

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gl-signerd/internal/sharedfiles"
)

// vectorLine is the part of a shared/vectors jsonl line these tests use.
type vectorLine struct {
	Name         string  `json:"name"`
	Scenario     string  `json:"scenario"`
	RequestName  *string `json:"request_name"`
	RequestType  *int    `json:"request_type"`
	Request      string  `json:"request"`
	Response     *string `json:"response"`
	ResponseName string  `json:"response_name"`
	Error        *string `json:"error"`

	file string
	line int
}

// sharedDir finds shared/ next to the repository (../../shared from this
// package, as in CI where the repo is cloned beside it).
func sharedDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared")
	if _, err := os.Stat(filepath.Join(dir, "vectors", "public.jsonl")); err != nil {
		sharedfiles.Missing(t, "shared vectors not found at %s (clone the repo next to shared/): %v", dir, err)
	}
	return dir
}

func vectorFiles(t testing.TB) []string {
	dir := filepath.Join(sharedDir(t), "vectors")
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	more, _ := filepath.Glob(filepath.Join(dir, "policy", "*.jsonl"))
	files = append(files, more...)
	if len(files) < 3 {
		t.Fatalf("expected public.jsonl and policy/{benign,attacks}.jsonl in %s, found %v", dir, files)
	}
	return files
}

func loadVectors(t testing.TB) []vectorLine {
	var all []vectorLine
	for _, name := range vectorFiles(t) {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 64<<20)
		for n := 1; sc.Scan(); n++ {
			var v vectorLine
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s:%d: %v", name, n, err)
			}
			v.file, v.line = filepath.Base(name), n
			all = append(all, v)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Requests hsmd refused with "could not parse request" (fromwire_ failed):
// Decode must fail too, on this field.
var unparseable = map[string]string{
	"ecdh from connectd truncated (32-byte point)":            "point",
	"ecdh point not on curve":                                 "point",
	"get_per_commitment_point truncated u64":                  "n",
	"check_future_secret truncated secret":                    "commitment_secret",
	"validate_commitment_tx with sighash byte 0x02":           "sig",
	"validate_commitment_tx with s >= n in signature":         "sig",
	"setup_channel with bool byte 0x02":                       "is_outbound",
	"setup_channel with invalid remote funding pubkey":        "remote_funding_pubkey",
	"sign_remote_commitment_tx with htlc count 1 but no htlc": "htlcs[0].amount", // feerate read as side
	"sign_remote_commitment_tx with htlc side 2":              "htlcs[0].side",
	"sign_remote_commitment_tx with tx length one too large":  "tx",
	"sign_remote_htlc_tx with empty psbt":                     "tx.psbt",
	"sign_remote_htlc_tx option_anchor_outputs byte 0x05":     "option_anchor_outputs",
	// On the master connection the same failure is fatal ("Error
	// parsing"), but it is still a parse failure.
	"sign_message truncated (master: fatal)":                                   "msg",
	"preapprove_invoice with a control character (master: fatal)":              "invstring",
	"get_output_scriptpubkey with an invalid commitment point (master: fatal)": "commitment_point",
	"unknown message type 5000 (master: fatal)":                                "type",
	"unknown message type 0x1234":                                              "type",
	"one-byte message":                                                         "type",
}

// Master-connection requests hsmd answered with "Error parsing" although
// they parse: its handler refused them. Decode must accept them.
var parseableMasterErrors = map[string]bool{
	"check_bip86_pubkey on a legacy 32-byte secret (master: fatal)": true, // no BIP86 base
	"dev_memleak without --developer (master: fatal)":               true, // dev-only message
	"sign_any_delayed_payment_to_us input 1 of 1 (master: fatal)":   true, // input index out of range
	"sign_commitment_tx with no outputs (master: fatal)":            true, // "tx must have > 0 outputs"
}

// TestVectors decodes every request and response of shared/vectors and
// encodes it again: the bytes must be the same, except for the bytes CLN
// ignores after the last field of the two "trailing bytes" requests.
func TestVectors(t *testing.T) {
	vectors := loadVectors(t)
	var decoded, rejected, trailing int
	seenUnparseable := map[string]bool{}
	for _, v := range vectors {
		where := v.file + ":" + itoa(v.line) + " " + v.Scenario + " " + v.Name
		raw := mustHex(t, v.Request)
		errText := ""
		if v.Error != nil {
			errText = *v.Error
		}
		wantField, mustFail := unparseable[v.Name]
		switch {
		case strings.Contains(errText, "could not parse request") && !mustFail:
			t.Errorf("%s: hsmd could not parse it; add it to unparseable with the failing field", where)
		case strings.Contains(errText, "Error parsing") && !mustFail && !parseableMasterErrors[v.Name]:
			t.Errorf("%s: hsmd reported %q; classify it in unparseable or parseableMasterErrors", where, errText)
		}

		m, n, err := DecodePrefix(raw)
		if mustFail {
			seenUnparseable[v.Name] = true
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Errorf("%s: decoded (%v), hsmd could not parse it", where, err)
				continue
			}
			if de.Field != wantField {
				t.Errorf("%s: error names field %q, want %q: %v", where, de.Field, wantField, err)
			}
			rejected++
			continue
		}
		if err != nil {
			t.Errorf("%s: request: %v", where, err)
			continue
		}
		if v.RequestName == nil || m.MsgName() != *v.RequestName || int(m.MsgType()) != *v.RequestType {
			t.Errorf("%s: decoded as %s (%d)", where, m.MsgName(), m.MsgType())
		}
		if enc := m.Encode(); !bytes.Equal(enc, raw[:n]) {
			t.Errorf("%s: request re-encodes differently\n got %x\nwant %x", where, enc, raw[:n])
		}
		if n < len(raw) {
			trailing++
			if !strings.Contains(v.Name, "trailing bytes") {
				t.Errorf("%s: %d bytes after the last field", where, len(raw)-n)
			}
		}
		decoded++

		if v.Response == nil {
			continue
		}
		rawResp := mustHex(t, *v.Response)
		resp, n, err := DecodePrefix(rawResp)
		if err != nil {
			t.Errorf("%s: response: %v", where, err)
			continue
		}
		if resp.MsgName() != v.ResponseName {
			t.Errorf("%s: response decoded as %s, want %s", where, resp.MsgName(), v.ResponseName)
		}
		if n != len(rawResp) {
			t.Errorf("%s: response has %d trailing bytes", where, len(rawResp)-n)
		}
		if enc := resp.Encode(); !bytes.Equal(enc, rawResp) {
			t.Errorf("%s: response re-encodes differently\n got %x\nwant %x", where, enc, rawResp)
		}
		decoded++
	}
	for name := range unparseable {
		if !seenUnparseable[name] {
			t.Errorf("no vector named %q", name)
		}
	}
	// Two trailing-bytes requests per bad-requests scenario (S1, S2).
	if trailing != 4 {
		t.Errorf("%d requests with trailing bytes, want 4", trailing)
	}
	t.Logf("%d vector lines: %d messages decoded and re-encoded, %d requests rejected as hsmd rejects them",
		len(vectors), decoded, rejected)
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
