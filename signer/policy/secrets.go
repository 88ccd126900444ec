package policy

// DeriveSecretLabels are the derive_secret labels a Greenlight node needs:
// lightningd's own at start-up (the BOLT 12 invoice-path base, the node
// alias base, commando's rune secret) and the chanbackup plugin's
// encryption key. Greenlight stashes the answers to "bolt12-invoice-base",
// "scb secret" and "commando" at the scheduler so that the node starts
// without its signer (gl-client's get_startup_messages): the node has
// those secrets whatever we answer, by Greenlight's design.
var DeriveSecretLabels = []string{"bolt12-invoice-base", "node-alias-base", "scb secret", "commando"}

// CheckDeriveSecret is the check before derive_secret hands the node a
// secret derived from the seed: only for the labels above. Any other label
// comes from makesecret, an RPC any holder of a rune with that permission
// (or a hostile node) can call with labels that other programs use for
// their own keys (a plugin's Nostr identity, say); a derived secret is
// given to the node in the clear, so we hand out none it does not need.
func CheckDeriveSecret(label []byte) *Violation {
	for _, l := range DeriveSecretLabels {
		if string(label) == l {
			return nil
		}
	}
	return violation(TagDeriveSecretLabel, "derive_secret for label %q: only %q are derived for the node", printable(string(label)), DeriveSecretLabels)
}
