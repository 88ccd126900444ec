// Package intent decides whether the user asked for what a signer request
// does, from the user's own gRPC calls that a Greenlight node attaches to
// every request (HsmRequest.requests, each a PendingRequest).
//
// A call counts only when it is authentic and fresh (Verifier): the
// device's P-256 ECDSA signature (r‖s) over the framed request body
// followed by its big-endian u64 millisecond timestamp, exactly as
// Greenlight clients sign it (libs/gl-client's AuthService); a rune
// derived from our master rune as Greenlight's signer derives it
// (HKDF-SHA256 of the 32-byte node secret, info "gl-commando"; runes
// version "gl0"), bound to that device key (a restriction of pubkey=
// alone) and whose restrictions hold for the method; and a timestamp
// within a window of our clock (DefaultMaxAge; Greenlight checks none).
//
// Source is the engine's signer.IntentSource: it maps a verified call to
// the hsmd request it asks for (Matches: Pay ↔ preapprove_invoice,
// KeySend ↔ preapprove_keysend, Withdraw ↔ sign_withdrawal, FundChannel ↔
// setup_channel and its funding, Close ↔ sign_mutual_close_tx, Invoice ↔
// sign_invoice) and consumes it once, in the state store: a call
// authorizes the request it matched, that request resent and the other
// requests of the same payment, channel or close, never a second one,
// across restarts. Whether a request without intent is then
// refused, allowlisted or approved is the engine's decision, not this
// package's.
//
// Runes (Master, Rune) follow the runes specification
// (rustyrussell/runes; the tests run its vectors): Master.Carve issues
// one, Restrict narrows one without the secret, Rune.Check tests its
// restrictions.
package intent
