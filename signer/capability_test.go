package signer

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gl-signerd/hsmproto"
)

// clnCapability is hsmd_check_client_capabilities of CLN v26.06.6
// (hsmd/libhsmd.c), transcribed by hand: the capability each request needs.
// Requests CLN routes but this engine does not answer (dev_preinit,
// client_hsmfd, dev_memleak: developer-mode or fd passing) are absent, as
// are reply types, which no client may send.
var clnCapability = map[uint16]uint64{
	hsmproto.TypeEcdhReq: CapECDH,

	hsmproto.TypeCannouncementSigReq:    CapSignGossip,
	hsmproto.TypeCupdateSigReq:          CapSignGossip,
	hsmproto.TypeNodeAnnouncementSigReq: CapSignGossip,

	hsmproto.TypeSignDelayedPaymentToUs: CapSignOnchainTx,
	hsmproto.TypeSignRemoteHtlcToUs:     CapSignOnchainTx,
	hsmproto.TypeSignPenaltyToUs:        CapSignOnchainTx,

	hsmproto.TypeGetPerCommitmentPoint: CapCommitmentPoint,
	hsmproto.TypeCheckFutureSecret:     CapCommitmentPoint,
	hsmproto.TypeSetupChannel:          CapCommitmentPoint,

	hsmproto.TypeSignRemoteCommitmentTx: CapSignRemoteTx,
	hsmproto.TypeSignRemoteHtlcTx:       CapSignRemoteTx,
	hsmproto.TypeValidateCommitmentTx:   CapSignRemoteTx,
	hsmproto.TypeRevokeCommitmentTx:     CapSignRemoteTx,
	hsmproto.TypeValidateRevocation:     CapSignRemoteTx,

	hsmproto.TypeSignMutualCloseTx:       CapSignClosingTx,
	hsmproto.TypeSignSpliceTx:            CapSignSpliceTx,
	hsmproto.TypeSignOptionWillFundOffer: CapSignWillFundOffer,

	hsmproto.TypeCheckOutpoint: CapLockOutpoint,
	hsmproto.TypeLockOutpoint:  CapLockOutpoint,

	hsmproto.TypeCheckBip86Pubkey:          CapMaster,
	hsmproto.TypeInit:                      CapMaster,
	hsmproto.TypeNewChannel:                CapMaster,
	hsmproto.TypeForgetChannel:             CapMaster,
	hsmproto.TypeSignWithdrawal:            CapMaster,
	hsmproto.TypeSignInvoice:               CapMaster,
	hsmproto.TypeSignCommitmentTx:          CapMaster,
	hsmproto.TypeGetChannelBasepoints:      CapMaster,
	hsmproto.TypeSignMessage:               CapMaster,
	hsmproto.TypeBip137SignMessage:         CapMaster,
	hsmproto.TypeGetOutputScriptpubkey:     CapMaster,
	hsmproto.TypeSignBolt12:                CapMaster,
	hsmproto.TypeSignBolt12_2:              CapMaster,
	hsmproto.TypePreapproveInvoice:         CapMaster,
	hsmproto.TypePreapproveKeysend:         CapMaster,
	hsmproto.TypePreapproveInvoiceCheck:    CapMaster,
	hsmproto.TypePreapproveKeysendCheck:    CapMaster,
	hsmproto.TypeDeriveSecret:              CapMaster,
	hsmproto.TypeCheckPubkey:               CapMaster,
	hsmproto.TypeSignAnyPenaltyToUs:        CapMaster,
	hsmproto.TypeSignAnyDelayedPaymentToUs: CapMaster,
	hsmproto.TypeSignAnyRemoteHtlcToUs:     CapMaster,
	hsmproto.TypeSignAnyLocalHtlcTx:        CapMaster,
	hsmproto.TypeSignAnchorspend:           CapMaster,
	hsmproto.TypeSignHtlcTxMingle:          CapMaster,
	hsmproto.TypeSignAnyCannouncementReq:   CapMaster,
}

// TestRoutesMatchCLN checks the dispatch table against CLN's capability
// switch, both ways.
func TestRoutesMatchCLN(t *testing.T) {
	for mt, want := range clnCapability {
		r, ok := routes[mt]
		if !ok {
			t.Errorf("%s (%d): CLN answers it, the dispatch table has no route", hsmproto.MessageName(mt), mt)
			continue
		}
		if r.capability != want {
			t.Errorf("%s (%d): route needs capability %d, CLN needs %d", hsmproto.MessageName(mt), mt, r.capability, want)
		}
	}
	for mt := range routes {
		if _, ok := clnCapability[mt]; !ok {
			t.Errorf("%s (%d): routed, but CLN's hsmd does not answer it", hsmproto.MessageName(mt), mt)
		}
	}
}

func testEngine(t testing.TB, opts ...Option) *Engine {
	t.Helper()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = 1
	}
	e, err := NewEngine(secret, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var testPeer = func() (p [33]byte) {
	p[0] = 2
	p[32] = 7
	return p
}()

// TestCapabilities sends every request type from clients that lack exactly
// the capability it needs, from a client that has only that capability,
// and from lightningd: a missing capability is refused before the request
// is parsed, fatally only on lightningd's connection.
func TestCapabilities(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	const all = CapECDH | CapSignGossip | CapSignOnchainTx | CapCommitmentPoint | CapSignRemoteTx |
		CapSignClosingTx | CapSignWillFundOffer | CapSignSpliceTx | CapLockOutpoint | CapMaster
	for mt, need := range clnCapability {
		// Only the type: whoever lacks the capability must be refused
		// before anything looks at the (missing) payload.
		raw := []byte{byte(mt >> 8), byte(mt)}
		without := Client{PeerID: testPeer, DBID: 5, Capabilities: all &^ need}
		_, err := e.Handle(ctx, without, raw)
		re := refusal(t, err)
		if re == nil {
			t.Errorf("%s without capability %d: answered", hsmproto.MessageName(mt), need)
			continue
		}
		if want := "client does not have capability to run"; !strings.Contains(re.Reason, want) || re.MsgType != mt {
			t.Errorf("%s without capability: refusal %q (type %d), want %q", hsmproto.MessageName(mt), re.Reason, re.MsgType, want)
		}
		// Fatal exactly when the client still has Master (lightningd).
		if re.Fatal != without.IsMaster() {
			t.Errorf("%s without capability: Fatal = %v", hsmproto.MessageName(mt), re.Fatal)
		}

		// With the capability the type passes the check, and the empty
		// payload is a parse error (every request has fields).
		with := Client{PeerID: testPeer, DBID: 5, Capabilities: need}
		_, err = e.Handle(ctx, with, raw)
		re = refusal(t, err)
		if re == nil {
			t.Errorf("%s with capability, no payload: answered", hsmproto.MessageName(mt))
			continue
		}
		if re.Reason != "could not parse request" {
			t.Errorf("%s with capability, no payload: refusal %q, want a parse error", hsmproto.MessageName(mt), re.Reason)
		}
		var de *hsmproto.DecodeError
		if !errors.As(re, &de) {
			t.Errorf("%s parse refusal does not wrap a *hsmproto.DecodeError: %v", hsmproto.MessageName(mt), re)
		}
		if re.Fatal != with.IsMaster() {
			t.Errorf("%s parse refusal: Fatal = %v for a client with capabilities %d", hsmproto.MessageName(mt), re.Fatal, need)
		}
	}
}

// TestNotRequests: reply types, status messages, undefined types, the
// developer-only and fd-passing requests, and messages shorter than their
// type are refused on every connection, fatally on lightningd's.
func TestNotRequests(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	client := Client{PeerID: testPeer, DBID: 9, Capabilities: 447}
	var raws [][]byte
	for _, mt := range hsmproto.MessageTypes() {
		if _, ok := clnCapability[mt]; !ok {
			raws = append(raws, []byte{byte(mt >> 8), byte(mt)})
		}
	}
	raws = append(raws, []byte{0x12, 0x34}, []byte{0x13, 0x88}, []byte{0xff, 0xff}, []byte{0x00}, nil)
	for _, raw := range raws {
		for _, c := range []Client{MasterClient, client} {
			reply, err := e.Handle(ctx, c, raw)
			re := refusal(t, err)
			if re == nil {
				t.Errorf("%x from %d: answered %x", raw, c.Capabilities, reply)
				continue
			}
			if !strings.HasPrefix(re.Reason, "client does not have capability to run") {
				t.Errorf("%x: refusal %q", raw, re.Reason)
			}
			if re.Fatal != c.IsMaster() {
				t.Errorf("%x from %d: Fatal = %v", raw, c.Capabilities, re.Fatal)
			}
		}
	}
}

// refusal returns err as a *RefusalError, failing the test for any other
// non-nil error.
func refusal(t testing.TB, err error) *RefusalError {
	t.Helper()
	if err == nil {
		return nil
	}
	var re *RefusalError
	if !errors.As(err, &re) {
		t.Fatalf("error is not a *RefusalError: %T %v", err, err)
	}
	return re
}
