package signer

import (
	"errors"
	"fmt"

	"gl-signerd/signer/keys"
)

// The two ways CLN's hsmd turns a request down, for handlers to return.
//
//   - badRequest is hsmd's bad_req / hsmd_status_bad_request: the request
//     is malformed or refused; hsmd closes that client's connection and
//     tells lightningd (hsmstatus_client_bad_request). On lightningd's own
//     connection that is master_badmsg, and hsmd exits: Fatal follows
//     c.IsMaster().
//   - statusFailed is hsmd_status_failed: hsmd exits whoever asked (a
//     check_pubkey mismatch, a BIP32 index ≥ 2^31, a failed derivation).
//
// Reasons read as sentences and never contain a secret; CLN's own log text
// is used where it says something useful.

// badRequest refuses t from c as hsmd's bad_req does.
func badRequest(c Client, t uint16, format string, args ...any) *RefusalError {
	return &RefusalError{MsgType: t, Tag: TagEngine, Reason: fmt.Sprintf(format, args...), Fatal: c.IsMaster()}
}

// statusFailed refuses t as hsmd_status_failed does: fatal to CLN's hsmd
// whoever sent it.
func statusFailed(t uint16, format string, args ...any) *RefusalError {
	return &RefusalError{MsgType: t, Tag: TagEngine, Reason: fmt.Sprintf(format, args...), Fatal: true}
}

// keyFailure maps an error from package keys to the refusal hsmd gives for
// it: a hardened BIP32 index is fatal ("Index %u too great", MASTER_IO),
// as is any other derivation failure (INTERNAL_ERROR); a wiped key ring
// answers nothing.
func keyFailure(t uint16, err error) *RefusalError {
	switch {
	case errors.Is(err, keys.ErrWiped):
		return &RefusalError{MsgType: t, Tag: TagEngine, Reason: "the signer's keys have been wiped", Fatal: true, Err: err}
	case errors.Is(err, keys.ErrIndexTooGreat):
		return &RefusalError{MsgType: t, Tag: TagEngine, Reason: "BIP32 index too great (must be below 2^31)", Fatal: true, Err: err}
	default:
		return &RefusalError{MsgType: t, Tag: TagEngine, Reason: "key derivation failed", Fatal: true, Err: err}
	}
}
