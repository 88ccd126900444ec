package intent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"gl-signerd/signer/state"
)

// RuneStore keeps the runes issued (signer/state's Store).
type RuneStore interface {
	IssueRune(issue func(id uint64) (state.IssuedRune, error)) (state.IssuedRune, error)
	Runes() ([]state.IssuedRune, error)
}

// IssueRune carves a rune from m for an application, as Greenlight's
// signer's create_rune does: the next unique id from st, then the
// restrictions, one of which must be pubkey=<the device's P-256 key,
// uncompressed, hex> alone, so the rune is worth nothing without that
// device's signatures. The rune is recorded in st before it is returned.
func IssueRune(m *Master, st RuneStore, restrictions []string, now time.Time) (state.IssuedRune, error) {
	var rs []Restriction
	bound := false
	for _, text := range restrictions {
		r, err := ParseRestriction(strings.TrimSpace(text))
		if err != nil {
			return state.IssuedRune{}, err
		}
		if len(r) == 1 && r[0].Field == "pubkey" {
			if r[0].Cond != '=' {
				return state.IssuedRune{}, fmt.Errorf("the restriction %q: a device key is bound with pubkey=, not %q", text, r[0].Cond)
			}
			if err := checkDeviceKey(r[0].Value); err != nil {
				return state.IssuedRune{}, fmt.Errorf("the restriction %q: %w", text, err)
			}
			bound = true
		}
		rs = append(rs, r)
	}
	if !bound {
		return state.IssuedRune{}, fmt.Errorf("a rune needs a restriction pubkey=<the device's public key, hex>: without one any device could use it")
	}
	return st.IssueRune(func(id uint64) (state.IssuedRune, error) {
		r := m.Carve(id, rs...)
		parts := make([]string, len(rs))
		for i, x := range rs {
			parts[i] = x.encode()
		}
		return state.IssuedRune{Created: now.UTC().Truncate(time.Second), Rune: r.Encode(), Restrictions: strings.Join(parts, "&")}, nil
	})
}

// checkDeviceKey checks that s is a P-256 public key as Greenlight clients
// send it: 65 bytes, uncompressed, in hex.
func checkDeviceKey(s string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 65 {
		return fmt.Errorf("%q is not a device key: 130 hex digits (an uncompressed P-256 point) are expected", printable(s))
	}
	if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b); err != nil {
		return fmt.Errorf("%q is not a P-256 point: %v", printable(s), err)
	}
	return nil
}
