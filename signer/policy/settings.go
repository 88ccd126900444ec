package policy

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"gl-signerd/signer/curve"
)

// WarnList is the setting policy.warn: tags ("policy-mutual-fee-range")
// and prefixes ending in * ("policy-onchain-*") whose violations are
// logged and signed instead of refused.
type WarnList []string

// ParseWarnList checks each entry names a known tag or a prefix of one.
func ParseWarnList(entries []string) (WarnList, error) {
	for _, w := range entries {
		ok := false
		for _, t := range Tags {
			ok = ok || WarnList{w}.Matches(t)
		}
		if !ok {
			return nil, fmt.Errorf("policy.warn entry %q matches no policy tag (see docs/policy.md)", w)
		}
	}
	return WarnList(entries), nil
}

// Matches reports whether tag is listed.
func (l WarnList) Matches(tag string) bool {
	for _, w := range l {
		if p, ok := strings.CutSuffix(w, "*"); ok {
			if strings.HasPrefix(tag, p) {
				return true
			}
		} else if w == tag {
			return true
		}
	}
	return false
}

// Allowlist is the setting policy.allowlist (with the entries added at
// run time): destinations the operator accepts besides our wallet, as
// "address:<addr>" (that script), "xpub:<xpub>" (any key of it at a
// non-hardened path below it, as P2WPKH, P2SH-P2WPKH or key-path P2TR) or
// "payee:<node id>" (payments to that node).
type Allowlist struct {
	scripts map[string]bool
	xpubs   []*hdkeychain.ExtendedKey
	payees  map[[33]byte]bool
}

// ParseAllowlist reads the entries for network.
func ParseAllowlist(entries []string, network Network) (*Allowlist, error) {
	a := &Allowlist{scripts: map[string]bool{}, payees: map[[33]byte]bool{}}
	params := chainParams(network)
	for _, entry := range entries {
		kind, val, _ := strings.Cut(entry, ":")
		switch kind {
		case "address":
			addr, err := btcutil.DecodeAddress(val, params)
			if err != nil || !addr.IsForNet(params) {
				return nil, fmt.Errorf("policy.allowlist entry %q is not an address of %s", entry, network.Name)
			}
			s, err := txscript.PayToAddrScript(addr)
			if err != nil {
				return nil, fmt.Errorf("policy.allowlist entry %q: %v", entry, err)
			}
			a.scripts[string(s)] = true
		case "xpub":
			k, err := hdkeychain.NewKeyFromString(val)
			if err != nil || k.IsPrivate() {
				return nil, fmt.Errorf("policy.allowlist entry %q is not an extended public key (never list a private one)", kind+":…")
			}
			a.xpubs = append(a.xpubs, k)
		case "payee":
			id, err := hex.DecodeString(val)
			if err != nil || len(id) != 33 || (id[0] != 2 && id[0] != 3) {
				return nil, fmt.Errorf("policy.allowlist entry %q is not payee:<node id> (66 hex digits, starting 02 or 03)", printable(entry))
			}
			if _, err := btcec.ParsePubKey(id); err != nil {
				return nil, fmt.Errorf("policy.allowlist entry %q: the node id is not a point on the curve", entry)
			}
			a.payees[[33]byte(id)] = true
		default:
			return nil, fmt.Errorf("policy.allowlist entry %q is not address:<addr>, xpub:<xpub> or payee:<node id>", printable(entry))
		}
	}
	return a, nil
}

// HasPayees reports whether any payee is allowlisted (finding an
// invoice's payee costs a key recovery: not done when none is).
func (a *Allowlist) HasPayees() bool { return a != nil && len(a.payees) > 0 }

// HasPayee reports whether payments to node id are allowlisted.
func (a *Allowlist) HasPayee(id [33]byte) bool {
	return a != nil && a.payees[id]
}

// Matches reports whether script is allowlisted: listed as an address,
// or paying a key of a listed xpub along the last one or two steps of one
// of paths (the derivation a PSBT claims; the key is derived, not read).
func (a *Allowlist) Matches(script []byte, paths [][]uint32) bool {
	if a == nil {
		return false
	}
	if a.scripts[string(script)] {
		return true
	}
	for _, x := range a.xpubs {
		for _, p := range paths {
			for n := 1; n <= 2 && n <= len(p); n++ {
				k, ok := x, true
				for _, i := range p[len(p)-n:] {
					var err error
					if i >= hdkeychain.HardenedKeyStart {
						ok = false
						break
					}
					if k, err = k.Derive(i); err != nil {
						ok = false
						break
					}
				}
				if !ok {
					continue
				}
				if pub, err := k.ECPubKey(); err == nil && scriptPays(script, pub) {
					return true
				}
			}
		}
	}
	return false
}

// scriptPays reports whether script is the P2WPKH, P2SH-P2WPKH or
// key-path P2TR script of pub.
func scriptPays(script []byte, pub *btcec.PublicKey) bool {
	h := btcutil.Hash160(pub.SerializeCompressed())
	wpkh := append([]byte{0x00, 20}, h...)
	switch {
	case string(script) == string(wpkh):
		return true
	case len(script) == 34 && script[0] == 0x51 && script[1] == 32:
		q, err := curve.TaprootOutputKey(pub)
		return err == nil && string(script[2:]) == string(schnorr.SerializePubKey(q))
	case len(script) == 23:
		sh := append([]byte{0xa9, 20}, btcutil.Hash160(wpkh)...)
		return string(script) == string(append(sh, 0x87))
	}
	return false
}

// chainParams are btcd's parameters of network (bech32 prefixes).
func chainParams(n Network) *chaincfg.Params {
	switch n.Name {
	case "testnet", "testnet4":
		return &chaincfg.TestNet3Params
	case "signet":
		return &chaincfg.SigNetParams
	case "regtest":
		return &chaincfg.RegressionNetParams
	}
	return &chaincfg.MainNetParams
}
