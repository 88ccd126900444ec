// Package policy holds the validating signer's checks: pure functions (no
// I/O, no keys, no clock) that look at what a request asks the signer to
// sign and return a *Violation when a validating signer must not sign it.
//
// The engine (package signer) runs them where it signs, in the mode it was
// given (Mode): ModeEnforce refuses the request with the violation's tag,
// ModeWarn signs anyway and reports the violation, ModeOff skips the
// checks and answers exactly as CLN's hsmd does (vector replay).
//
// Every violation carries a stable tag, named after VLS's
// (policy-<subject>-<rule>); tests and operators match the tag, never the
// reason's wording. The tags:
//
//	policy-network-unknown                 the signer does not know its network
//	policy-node-announcement-format        not a well-formed BOLT 7 node_announcement
//	policy-node-announcement-node-id       a node_announcement for another node
//	policy-channel-announcement-format     not a well-formed BOLT 7 channel_announcement
//	policy-channel-announcement-chain      a channel_announcement for another chain
//	policy-channel-announcement-node-id    our node id is not one of its nodes
//	policy-channel-announcement-peer-id    its other node is not the channel's peer
//	policy-channel-announcement-funding-key our side's bitcoin key is not the channel's funding key
//	policy-channel-update-format           not a well-formed BOLT 7 channel_update
//	policy-channel-update-chain            a channel_update for another chain
//	policy-invoice-hrp-network             the BOLT 11 hrp is not the configured network's
//	policy-invoice-hrp-amount              the hrp's amount part is not a BOLT 11 amount
//	policy-invoice-format                  the 5-bit data is not a well-formed invoice
//	policy-invoice-payment-hash            the invoice has no payment hash
//	policy-invoice-description             the invoice has neither description nor its hash
//	policy-invoice-payee                   the invoice names another node as payee
//	policy-derive-secret-label             derive_secret for a label the node has no use for
//	policy-onchain-no-unknown-outputs      a withdrawal output pays neither our wallet, the allowlist nor a P2WSH
//	policy-onchain-fee-range               a withdrawal's fee is outside the feerate bounds or share
//	policy-sweep-destination-allowlisted   a sweep pays neither our wallet nor the allowlist
//	policy-sweep-fee-range                 a sweep's fee is outside the feerate bounds or share
//	policy-mutual-destination-allowlisted  no output of a two-output close pays our wallet or the allowlist
//	policy-mutual-fee-range                a close's fee is outside the feerate bounds or share
//	policy-htlc-locktime                   the peer's HTLC tx has the wrong nLockTime for its direction
//	policy-htlc-sequence                   the peer's HTLC tx input's nSequence is not 0 (1 with anchors)
//	policy-htlc-version                    the peer's HTLC tx is not version 2
//	policy-contest-delay-range             a setup_channel to_self_delay is outside the configured range
//	policy-commitment-fee-range            a commitment's feerate or fee share is out of bounds
//	policy-invoice-not-expired             preapprove_invoice of an expired invoice
//	policy-payment-approved                a payment no intent, allowlisted payee, approval or auto-approval authorizes
//	policy-payment-velocity                a payment past the hourly or daily payment limit
//	policy-onchain-velocity                a withdrawal past the hourly or daily withdrawal limit
//	policy-channel-approved                a channel we fund that no intent, allowlisted peer, approval or auto-approval authorizes
//	policy-commitment-holder-not-revoked   sign_commitment_tx of a revoked or not the current holder commitment
//	policy-revoke-new-commitment-signed    a holder secret revealed before the next commitment was countersigned
//	policy-commitment-signature            the peer's commitment or HTLC signature does not verify
//	policy-commitment-previous-revoked     a revealed secret that does not match or chain; a new state before the old one is revoked
//	policy-original-channel-id-reuse       a dbid declared again, or a set-up channel set up differently
//	policy-commitment-retry-same           a counterparty commitment number signed again as another transaction
//	policy-onchain-initial-commitment-countersigned a funding tx signed before the first commitment was countersigned
//	policy-mutual-value-matches-commitment a close that does not pay us our balance
//	policy-mutual-no-pending-htlcs         a close while HTLCs are pending
//	policy-commitment                      a commitment is not the one BOLT 3 builds from the channel's state
//	policy-commitment-input-match-funding  a commitment does not spend exactly the channel's funding output
//	policy-commitment-version              a commitment is not version 2
//	policy-commitment-locktime             a commitment's nLockTime is not its obscured number's
//	policy-commitment-sequence             a commitment's nSequence is not its obscured number's
//	policy-commitment-no-unrecognized-outputs a commitment output pays a script that is none of its outputs
//	policy-commitment-revocation-pubkey    a commitment output's revocation key is not ours to derive
//	policy-commitment-to-self-delay-range  a to_local is delayed otherwise than its owner was imposed
//	policy-commitment-initial-funding-value commitment 0 gives the fundee more than the push
//	policy-routing-deltas-only-htlc        our balance moved by more than the HTLCs settled between two commitments
//	policy-commitment-htlc-count-limit     more than 483 HTLCs in one direction
//	policy-commitment-htlc-inflight-limit  more HTLC value in flight than the limit
//	policy-htlc-to-self-delay              the peer's HTLC tx output is not delayed by the to_self_delay we imposed
//	policy-htlc-revocation-pubkey          the peer's HTLC tx output's revocation key is not ours to derive
//	policy-htlc-delayed-pubkey             the peer's HTLC tx output's delayed key is not the peer's at the point
//	policy-htlc-fee-range                  the peer's HTLC tx pays another fee than BOLT 3's
//	policy-htlc-other                      the peer's HTLC tx is not the one BOLT 3 builds for a commitment we signed
//	policy-commitment-htlc-routing-balance an HTLC we offer neither forwards an incoming one nor pays a preapproved invoice
//
// The commitment and HTLC transaction checks rebuild the transaction BOLT 3
// defines from the channel's set-up, both sides' keys, the per-commitment
// point, the feerate, the balances and the HTLCs (CommitmentSpec.Build,
// checked against BOLT 3's own test vectors), and compare it with the
// node's byte for byte (CheckCommitment, CheckHTLCTx); the balance rules
// (CheckInitialCommitment, CheckBalanceDeltas) judge the balances the
// transaction claims against the channel's previous commitment.
//
// Why these checks (docs/security.md has the whole audit): the node key
// signs a Greenlight scheduler challenge as SHA256d("Lightning Signed
// Message:" ‖ challenge). node_announcement, channel_announcement and
// channel_update are signed as SHA256d of the bytes after their
// signatures, and an invoice as SHA256(hrp ‖ data); without parsing, a
// hostile node chooses those bytes and obtains a challenge signature. A
// well-formed gossip message cannot start with that prefix (its first
// bytes are a feature length or our chain's genesis hash), and a
// well-formed invoice's hashed bytes are longer than the 32 bytes such a
// forgery needs.
package policy
