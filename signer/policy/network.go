package policy

import "gl-signerd/hsmproto"

// Network is what the checks need to know about the network the signer
// serves: its chain hash (BOLT 7 gossip) and its BOLT 11 currency prefix.
type Network struct {
	// Name is CLN's name: "bitcoin", "testnet", "testnet4", "signet",
	// "regtest".
	Name string
	// ChainHash is the genesis block hash in BOLT 7's (internal) byte order.
	ChainHash [32]byte
	// InvoicePrefix is the BOLT 11 hrp prefix, "ln" and the currency
	// ("lnbc", "lntb", "lntbs", "lnbcrt").
	InvoicePrefix string
}

// invoicePrefixes are the BOLT 11 currency prefixes of the networks CLN
// knows (common/bolt11.c with bitcoin/chainparams.c's lightning hrp).
var invoicePrefixes = map[string]string{
	"bitcoin":  "lnbc",
	"testnet":  "lntb",
	"testnet4": "lntb",
	"signet":   "lntbs",
	"regtest":  "lnbcrt",
}

// NetworkFor returns the parameters of a network by CLN's name; ok is
// false for a network the checks do not know.
func NetworkFor(name string) (n Network, ok bool) {
	prefix, ok := invoicePrefixes[name]
	if !ok {
		return Network{}, false
	}
	cp, ok := hsmproto.ChainparamsFor(name)
	if !ok {
		return Network{}, false
	}
	return Network{Name: name, ChainHash: [32]byte(cp), InvoicePrefix: prefix}, true
}
