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
//   - [Ring.Channel] gives the [ChannelKeys] of one channel (peer id, dbid):
//     funding key, basepoints, shachain seed, per-commitment secrets and
//     points.  Results are cached, so handlers may call it on every request.
//   - [DeriveSimplePubKey], [DeriveSimplePrivKey], [DeriveRevocationPubKey],
//     [DeriveRevocationPrivKey] are the BOLT 3 per-commitment tweaks.
//   - [PrivateKey.SignLowR] signs like CLN's sign_hash() (all transaction and
//     gossip signatures); [PrivateKey.SignRFC6979] like a bare
//     secp256k1_ecdsa_sign; [PrivateKey.SignRecoverable] like
//     secp256k1_ecdsa_sign_recoverable (sign_message, invoices);
//     [PrivateKey.SignSchnorr] like secp256k1_schnorrsig_sign32 with no aux
//     randomness (bolt12); [PrivateKey.SignLowRWally] like libwally's
//     EC_FLAG_GRIND_R (PSBT wallet inputs).
//   - Ring also implements lnd's keychain.SecretKeyRing (and so
//     keychain.ECDHRing and keychain.MessageSignerRing) over key families that
//     name CLN's derivations; see [FamilyWalletBIP32] and friends.
//
// # Compatibility
//
// Derivations follow hsmd/libhsmd.c, common/derive_basepoints.c,
// common/key_derive.c, common/hsm_secret.c and bitcoin/signature.c of CLN
// v26.06.6, with libwally-core and libsecp256k1 as CLN builds them.  A change
// of any output for the same input is a compatibility break.
//
// # Secrets
//
// Types that hold secrets ([Ring], [ChannelKeys], [PrivateKey], [Secret])
// format as a redacted placeholder with every fmt verb, and have a Wipe method
// that zeroes what Go lets us zero.
package keys
