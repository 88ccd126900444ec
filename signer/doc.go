// Package signer is the signing engine: it answers Core Lightning's hsmd
// requests exactly as CLN v26.06.6's lightning_hsmd does for the same
// secret — same request, same reply bytes — over hsmd wire versions 5 and
// 6 (and 4, which hsmd also accepts).
//
// # Using it
//
// Make an Engine from the node's secret and hand it raw requests (u16 type
// ‖ payload, Greenlight's HsmRequest.raw) with the Client that sent them:
//
//	e, err := signer.NewEngine(seed) // 32-byte hsm_secret or 64-byte BIP39 seed
//	reply, err := e.Handle(ctx, signer.MasterClient, raw)
//
// A Client is the connection lightningd opened for a subdaemon
// (hsmd_client_hsmfd: peer id, channel dbid, capability bits; Greenlight's
// HsmRequestContext), or MasterClient for lightningd's own connection.
// Per-channel requests from a subdaemon (get_per_commitment_point,
// sign_remote_commitment_tx, …) act on the client's own channel;
// lightningd's requests name the channel in the message.
//
// A request is either answered (the reply, ready to send) or refused with a
// *RefusalError: a missing capability, a message that does not parse (the
// Err is then the *hsmproto.DecodeError), a request hsmd itself turns
// down, or one the policy refuses (RefusalError.Tag is then the
// violation's tag, package signer/policy). RefusalError.Fatal marks the refusals on which CLN's hsmd would
// exit (every bad request on lightningd's connection, and hsmd's
// status_failed cases such as a check_pubkey mismatch); the engine itself
// keeps running. The engine never panics on any input.
//
// hsmd_init sets the network's BIP32 key versions and the negotiated wire
// version (min(max_version, 6); with 5, get_per_commitment_point also
// reveals secret n−2). A Greenlight node never forwards hsmd_init to its
// signer: the engine answers from the start as version 6, and InitReply
// computes the hsmd_init reply to register as the node's init_msg. A
// Greenlight signer builds its engine WithFixedNetwork, which fixes the
// network and version 6 and refuses hsmd_init, so a hostile node cannot
// choose either.
//
// # Shape
//
// As in CLN's libhsmd.c, there is one handler per request, named after it
// (handleEcdh for hsmd_ecdh_req, handleSignRemoteCommitmentTx, …), and one
// dispatch table (routes, engine.go) from message type to the capability
// the client needs, the message's Class (public data, signs, reveals a
// secret: what a paused signer may answer) and the handler. Anyone can see at a glance which
// messages exist and what guards them; TestRoutesMatchCLN checks the table
// against CLN's hsmd_check_client_capabilities.
//
// Handlers parse nothing themselves (package hsmproto decodes, as CLN's
// generated fromwire_ does, trailing bytes included) and implement no
// cryptography (package signer/keys holds every derivation and CLN's exact
// signing schedules).
//
// # Policy
//
// Where the node key signs bytes the node chose (node_announcement,
// channel_announcement, channel_update, sign_invoice) and where
// derive_secret hands out a secret, the handler runs a check of package
// signer/policy after CLN's own checks (policy_checks.go): a hostile node
// could otherwise have the node key sign a Greenlight scheduler challenge.
// WithPolicyMode chooses enforce (the default: refuse), warn (sign, tell
// the WithPolicyReporter) or off (CLN's exact behaviour, for replaying
// CLN's vectors); WithNetwork names the network the checks hold requests
// to. docs/security.md has the audit of every message.
//
// # Secrets
//
// Secrets leave the engine only inside the replies hsmd defines to carry
// them: derive_secret, ecdh, a per-commitment secret revealed by
// get_per_commitment_point (version 5) or revoke_commitment_tx. They never
// appear in a RefusalError, a log or a String method.
//
// # Compatibility
//
// shared/vectors holds hsmd's own answers; the tests replay every line of
// them (package signer/replay, and gl-signerd replay). Where CLN's hsmd
// only parses a request (new_channel, setup_channel, check_outpoint,
// lock_outpoint, validate_*), or always approves (preapprove_*), so does
// the engine: the transaction policy and channel state come on top of it.
package signer
