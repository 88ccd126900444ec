// Package hsmproto encodes and decodes the messages of Core Lightning's
// hsmd wire protocol, the requests lightningd and its subdaemons send to
// the HSM daemon and the replies it writes, byte for byte as CLN v26.06.6
// does (CLNVersion; hsmd wire versions 5 and 6, MinVersion..MaxVersion).
//
// Decode a request with Decode, switch on its type, answer with a reply
// struct's Encode:
//
//	m, err := hsmproto.Decode(raw) // raw = u16 type ‖ payload
//	switch req := m.(type) {
//	case *hsmproto.EcdhReq:
//		reply := &hsmproto.EcdhResp{Ss: secret}
//		return reply.Encode(), nil
//	}
//
// Every message of hsmd_wire.csv is a struct named after it without the
// hsmd_ prefix (hsmd_sign_remote_commitment_tx → SignRemoteCommitmentTx,
// type TypeSignRemoteCommitmentTx). The structs and their codecs are
// generated from messages.tbl (go generate); a new message or CLN release
// is an edit of that table.
//
// What the package promises:
//
//   - Decode accepts what CLN's generated fromwire_ functions accept and
//     rejects what they reject (for PSBTs, with the few differences listed
//     at ParsePSBT), with a *DecodeError naming the message, the field
//     path and its byte offset. It checks what CLN checks:
//     bools are 0 or 1, pubkeys are valid points (node ids are not
//     checked), signatures have R and S below the curve order, sighash
//     bytes are 0x01 or 0x83, wirestrings have no control characters,
//     sides are 0 or 1, extended keys pass libwally's unserialize,
//     transactions are canonical and hold no amount above 21 million
//     BTC (libwally's limit, PSBTs included; Encode still writes them),
//     TLV streams follow BOLT 1 (unknown odd records are kept, even ones
//     rejected). Bytes after the last field are ignored, as in CLN;
//     DecodePrefix reports them.
//   - Decode never panics and never allocates from a length it has not
//     checked against the bytes that remain.
//   - Encode writes the bytes CLN's towire_ functions write. A count
//     field (num_htlcs, len, ...) has no struct field: it is written as
//     the length of the array it counts. Encode(Decode(raw)) == raw for
//     every message CLN writes; a PSBT is written in libwally's layout
//     (see PSBT), also after it was changed.
//   - Marshal returns an error, and Encode panics, only for a value that
//     Decode would reject (an invalid point, a too long array, ...).
//
// Field types: u8…u64 and bool are Go integers and bool; node_id, pubkey,
// secret, privkey, sha256, signatures and ext_key are byte arrays (NodeID,
// Pubkey, Secret, Privkey, SHA256, ECDSASignature, BitcoinSignature,
// RecoverableSignature, BIP340Signature, ExtKey); bitcoin_txid is a
// chainhash.Hash; amounts are AmountMsat and AmountSat; enum side is Side;
// wirestring is string; an optional field (?T) is a pointer, nil when
// absent; an array is a slice (nil when empty); bitcoin_tx is BitcoinTx
// (a btcd wire.MsgTx and a PSBT, which Decode may keep as checked bytes
// until BitcoinTx.ParsedPSBT is called); wally_psbt is *PSBT (nil for the
// zero-length PSBT CLN accepts); a TLV stream is a struct of pointers plus
// the Unknown records.
//
// ReadFrame and WriteFrame handle the 4-byte length that frames each
// message on an hsmd socket.
package hsmproto
