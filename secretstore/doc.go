// Package secretstore keeps gl-signerd's one secret, the node's seed, in a
// single passphrase-encrypted file, and imports the secrets of an existing
// Core Lightning node.
//
// # Common use
//
// Create writes a new store, Open reads one back:
//
//	err := secretstore.Create(path, &secretstore.Seed{Type: secretstore.TypeGreenlight, Network: "bitcoin", Secret: s}, pass)
//	seed, err := secretstore.Open(path, pass)
//	defer seed.Wipe()
//
// GreenlightSeed turns a BIP39 mnemonic into the Greenlight-compatible secret
// (the first 32 bytes of the BIP39 seed with an empty BIP39 passphrase);
// ImportHSMSecret reads every hsm_secret layout of CLN up to v26.06 (plain
// 32 bytes, 73-byte passphrase-encrypted, and the mnemonic layout).
// ReadPassphrase finds the passphrase (a file, a systemd credential, or the
// terminal). ChangePassphrase re-encrypts a store under a new passphrase,
// atomically; Seed.MatchesMnemonic checks a written copy of the recovery
// words against a store's seed.
//
// # File format (version 1)
//
// All integers are big-endian. The file is exactly 110 bytes for a 32-byte
// secret and 142 bytes for a 64-byte one.
//
//	offset size field
//	0      8    magic "GLSDSEED"
//	8      1    format version, 1
//	9      1    KDF, 1 = Argon2id (v1.3)
//	10     4    Argon2id time cost (passes)
//	14     4    Argon2id memory cost, KiB
//	18     1    Argon2id parallelism (lanes)
//	19     16   salt, random
//	35     24   XChaCha20-Poly1305 nonce, random
//	59     ...  XChaCha20-Poly1305 ciphertext of the payload, with bytes 0..58
//	            (the whole header) as additional data; 16-byte tag last
//
// The key is Argon2id(passphrase, salt, time, memory, lanes) with a 32-byte
// output. The payload is:
//
//	0      1    secret type: 1 greenlight, 2 CLN hsm_secret (plain layout),
//	            3 CLN hsm_secret (encrypted layout), all 32 bytes;
//	            4 BIP39 seed (CLN mnemonic layout), 5 the same with a BIP39
//	            passphrase, both 64 bytes
//	1      1    network: 1 bitcoin, 2 testnet, 3 signet, 4 regtest
//	2      1    secret length n (32 or 64, as the type says)
//	3      n    the secret
//
// The BIP39 mnemonic is never stored, not even for secrets imported from
// CLN's mnemonic layout: signing needs only the secret, the Greenlight secret
// cannot be turned back into words, and the user's written copy stays the one
// backup, kept offline.
//
// # Guarantees
//
//   - The secret is only ever written encrypted. Create writes a temporary
//     file (mode 0600) in the target directory, fsyncs it, renames it into
//     place without replacing anything (an existing store is never
//     overwritten: ErrExists), and fsyncs the directory. After an error no
//     temporary file is left behind.
//   - Open refuses a store that group or others may access or another user
//     owns, a directory that group or others may write or another user owns,
//     and a store reached through a symlink into a directory others can
//     write, with a *PermissionError naming the file, what is wrong, and the
//     chmod or chown that fixes it. Create refuses such a directory too.
//   - The Argon2id costs in a header are checked before the key is derived
//     (at most 16 passes, 512 MiB, 16 lanes, and passes × memory at most 8 ×
//     256 MiB): a tampered header cannot make Open allocate or grind more.
//     Every store gl-signerd has written is within these bounds.
//   - Create's temporary file (.seed.enc.tmp-*) is locked while it is
//     written; RemoveLeftovers removes the ones whose writer died (an
//     interrupted init) and leaves a running writer's alone.
//   - ReadPassphrase strips exactly one trailing LF or CRLF from a file,
//     after which the passphrase may be up to 4096 bytes.
//   - A wrong passphrase (or any change to the file) gives ErrWrongPassphrase:
//     the header is authenticated, so no field can be altered unnoticed.
//   - Errors and String methods never contain secret bytes, passphrases or
//     mnemonic words.
//   - Secret buffers are locked in memory where the system allows (Mlock) and
//     zeroed after use (Wipe); Go may still hold copies it made internally, so
//     this is best effort. DisableCoreDumps keeps secrets out of core files.
//
// Version 1 is the only format; a later version will keep opening version 1
// files. An unknown version is refused with a message asking for a newer
// gl-signerd.
package secretstore
