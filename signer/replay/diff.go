package replay

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"gl-signerd/hsmproto"
)

// FieldDiff is one field whose value differs between two replies, named by
// its path in hsmd_wire.csv terms ("sig", "psbt.inputs[0].partial_sigs[0].signature").
type FieldDiff struct {
	Path string
	// Got and Want are the values as JSON text; "" means the field is
	// absent from that reply. Got is a placeholder for secret fields.
	Got, Want string
}

func (d FieldDiff) String() string {
	return fmt.Sprintf("%s: got %s, want %s", d.Path, orAbsent(d.Got), orAbsent(d.Want))
}

func orAbsent(s string) string {
	if s == "" {
		return "(absent)"
	}
	return s
}

// secretFields are the reply fields that carry a secret the signer
// derived; Diff never shows the signer's value of them.
var secretFields = map[string]bool{
	"secret":                true, // derive_secret_reply
	"ss":                    true, // ecdh_resp
	"old_commitment_secret": true, // get_per_commitment_point, validate/revoke replies
}

// Diff decodes two replies with hsmproto and lists the fields that differ,
// in wire order. It returns an error when either does not decode; two
// replies of different types differ in their "type".
func Diff(got, want []byte) ([]FieldDiff, error) {
	gm, err := hsmproto.Decode(got)
	if err != nil {
		return nil, fmt.Errorf("signer's reply: %w", err)
	}
	wm, err := hsmproto.Decode(want)
	if err != nil {
		return nil, fmt.Errorf("hsmd's reply: %w", err)
	}
	if gm.MsgType() != wm.MsgType() {
		return []FieldDiff{{
			Path: "type",
			Got:  fmt.Sprintf("%d (%s)", gm.MsgType(), gm.MsgName()),
			Want: fmt.Sprintf("%d (%s)", wm.MsgType(), wm.MsgName()),
		}}, nil
	}
	gf, err := flattenMessage(gm)
	if err != nil {
		return nil, err
	}
	wf, err := flattenMessage(wm)
	if err != nil {
		return nil, err
	}
	var out []FieldDiff
	wantAt := map[string]string{}
	for _, f := range wf {
		wantAt[f.path] = f.value
	}
	seen := map[string]bool{}
	for _, f := range gf {
		seen[f.path] = true
		w, ok := wantAt[f.path]
		if ok && w == f.value {
			continue
		}
		d := FieldDiff{Path: f.path, Got: f.value, Want: w}
		if isSecretPath(f.path) && f.value != "null" {
			d.Got = "(a different secret, not shown)"
		}
		out = append(out, d)
	}
	for _, f := range wf {
		if !seen[f.path] {
			out = append(out, FieldDiff{Path: f.path, Want: f.value})
		}
	}
	if len(out) == 0 {
		// Same decoded fields, different bytes: bytes after the last field
		// (hsmproto ignores them, as CLN does).
		out = append(out, FieldDiff{Path: "(bytes after the last field)", Got: fmt.Sprintf("%d bytes", len(got)), Want: fmt.Sprintf("%d bytes", len(want))})
	}
	return out, nil
}

func isSecretPath(p string) bool {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		p = p[i+1:]
	}
	return secretFields[p]
}

type leaf struct{ path, value string }

// flattenMessage turns a message's JSON form into its leaves, in order.
func flattenMessage(m hsmproto.Message) ([]leaf, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []leaf
	if err := flatten(dec, "", &out); err != nil {
		return nil, err
	}
	return out, nil
}

func flatten(dec *json.Decoder, path string, out *[]leaf) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := 0
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := kt.(string)
				p := key
				if path != "" {
					p = path + "." + key
				}
				if err := flatten(dec, p, out); err != nil {
					return err
				}
				n++
			}
			if n == 0 && path != "" {
				*out = append(*out, leaf{path, "{}"})
			}
		case '[':
			i := 0
			for dec.More() {
				if err := flatten(dec, path+"["+strconv.Itoa(i)+"]", out); err != nil {
					return err
				}
				i++
			}
			if i == 0 {
				*out = append(*out, leaf{path, "[]"})
			}
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case string:
		q, _ := json.Marshal(t)
		*out = append(*out, leaf{path, string(q)})
	case nil:
		*out = append(*out, leaf{path, "null"})
	default:
		*out = append(*out, leaf{path, fmt.Sprint(t)})
	}
	return nil
}

// hexDiff shows two replies that could not be compared field by field:
// their lengths, the first differing byte, and hsmd's bytes. The signer's
// bytes are shown only up to the first difference, which keeps secrets
// that follow out of the output.
func hexDiff(got, want []byte) string {
	var b strings.Builder
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	fmt.Fprintf(&b, "       got %d bytes, want %d bytes; first difference at byte %d\n", len(got), len(want), i)
	fmt.Fprintf(&b, "       want %s\n", hex.EncodeToString(want))
	fmt.Fprintf(&b, "       got  %s…\n", hex.EncodeToString(got[:i]))
	return b.String()
}
