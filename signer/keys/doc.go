// Package keys derives every key Core Lightning's hsmd derives from its
// secret, and signs the way hsmd signs, so that the same secret and the same
// request give the same bytes as CLN v26.06.6's lightning_hsmd.
//
// It knows nothing about the hsmd wire format: it takes and returns plain
// byte arrays and btcec types, and the engine (package signer) does the
// parsing and the replies.
//
// # Which API to reach for
//
//   - [New] (or [NewFromMnemonic]) turns the secret into a [Ring]: the node
//     key, the BIP32 wallet tree, the bolt12 base key, the derived-secret base
//     and the channel-seed base, all derived once.  The caller may wipe its
//     copy of the secret as soon as New returns; the Ring keeps no copy.
//     The init reply's fields are [Ring.NodeID], [Ring.WalletExtKey],
//     [Ring.Bolt12PubKey], [Ring.SecretType] and [Ring.BIP86BaseExtKey].
//   - Node-key handlers have one Ring method each, named after the hsmd
//     handler it reproduces: [Ring.SignNodeAnnouncement],
//     [Ring.SignChannelUpdate], [Ring.SignChannelAnnouncement],
//     [Ring.SignLightningMessage], [Ring.SignInvoice],
//     [Ring.SignBIP137Message], [Ring.SignWillFundOffer], [Ring.SignBolt12],
//     [Ring.SignBolt12V2], [Ring.DeriveSecret], [Ring.ECDHNode].
//   - Wallet keys: [Ring.WalletKey] (m/0/0/i), [Ring.BIP86Key], and
//     [Ring.UTXOKey], which picks between them as hsm_key_for_utxo does.
//     Each is an HMAC-SHA512 from the parent prepared by New; their public
//     keys are cached (a bounded LRU of public keys only), so
//     [PrivateKey.PubKey] on a wallet key seen before costs no point
//     multiplication.
//   - [Ring.Channel] gives the [ChannelKeys] of one channel (peer id, dbid):
//     funding key, basepoints, per-commitment secrets and points, and the
//     per-commitment htlc / delayed / payment / revocation keys.  Results are
//     cached, so handlers may call it on every request.
//   - [DeriveSimplePubKey], [DeriveSimplePrivKey], [DeriveRevocationPubKey],
//     [DeriveRevocationPrivKey] are the BOLT 3 per-commitment tweaks;
//     [ShachainStore] keeps a peer's revealed secrets.
//   - Signing schedules on [PrivateKey]: [PrivateKey.SignLowR] is CLN's
//     sign_hash() (every transaction, gossip and channel_announcement
//     signature); [PrivateKey.SignLowRWally] is libwally's EC_FLAG_GRIND_R
//     (the wallet's own PSBT inputs); [PrivateKey.SignRFC6979] is a bare
//     secp256k1_ecdsa_sign; [PrivateKey.SignRecoverable] is
//     secp256k1_ecdsa_sign_recoverable in CLN's 65-byte wire layout;
//     [PrivateKey.SignSchnorr] is secp256k1_schnorrsig_sign32 with no aux
//     randomness; [PrivateKey.TaprootTweak] is libwally's BIP341 key tweak.
//
// # Compatibility
//
// Derivations follow hsmd/libhsmd.c, common/derive_basepoints.c,
// common/key_derive.c, common/hsm_secret.c and bitcoin/signature.c of CLN
// v26.06.6, with libwally-core and libsecp256k1 as CLN builds them.  A change
// of any output for the same input is a compatibility break; the tests
// re-make hsmd's replies from shared/vectors.
//
// # Secrets
//
// Types that hold secrets ([Ring], [ChannelKeys], [PrivateKey], [Secret],
// [ShachainStore]) format as a redacted placeholder with every fmt verb, and
// have a Wipe method that zeroes what Go lets us zero (not copies made by
// the standard library's HMAC/HKDF internals, nor strings such as a
// mnemonic).  A point made from a secret (a public key, a nonce's R) is
// turned affine with a blinded inversion, and a nonce inverted modulo n
// blinded too, so math/big's variable-time ModInverse never sees a value
// tied to a secret (affine.go).
package keys
