package signer_test

import (
	"context"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/replay"
)

// The transaction handlers replayed against CLN's own answers with
// signer/replay: every line of shared/vectors/public.jsonl whose request
// is a transaction request, and every accept line of the policy vectors,
// must get hsmd's reply byte for byte; every request hsmd refused must be
// refused, fatally where hsmd died. (TestVectors replays whole files; this
// test keeps to the transaction requests so that a failure, and the
// counts, name the handlers at fault.)

// txRequestTypes are the requests the transaction handlers answer.
var txRequestTypes = map[uint16]bool{
	hsmproto.TypeSignRemoteCommitmentTx:    true,
	hsmproto.TypeSignRemoteHtlcTx:          true,
	hsmproto.TypeValidateCommitmentTx:      true,
	hsmproto.TypeValidateRevocation:        true,
	hsmproto.TypeRevokeCommitmentTx:        true,
	hsmproto.TypeSignCommitmentTx:          true,
	hsmproto.TypeSignMutualCloseTx:         true,
	hsmproto.TypeSignSpliceTx:              true,
	hsmproto.TypeSignWithdrawal:            true,
	hsmproto.TypeSignDelayedPaymentToUs:    true,
	hsmproto.TypeSignRemoteHtlcToUs:        true,
	hsmproto.TypeSignPenaltyToUs:           true,
	hsmproto.TypeSignAnyDelayedPaymentToUs: true,
	hsmproto.TypeSignAnyRemoteHtlcToUs:     true,
	hsmproto.TypeSignAnyPenaltyToUs:        true,
	hsmproto.TypeSignAnyLocalHtlcTx:        true,
	hsmproto.TypeSignAnchorspend:           true,
	hsmproto.TypeSignHtlcTxMingle:          true,
}

func isTxLine(l *replay.Line) bool {
	return l.RequestType != nil && *l.RequestType >= 0 && *l.RequestType <= 0xffff && txRequestTypes[uint16(*l.RequestType)]
}

// replayTxLines replays the transaction lines of a vector file (with
// acceptOnly, only its accept lines) after each instance's hsmd_init.
func replayTxLines(t *testing.T, path string, acceptOnly bool) {
	all, err := replay.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []*replay.Line
	for _, l := range all {
		if isTxLine(l) && (!acceptOnly || l.Expect == replay.ExpectAccept) {
			lines = append(lines, l)
		}
	}
	var replied, refused int
	sum, err := replay.Run(context.Background(), lines, replay.Options{Policy: replay.PolicyOff}, func(r replay.Result) {
		switch {
		case !r.Pass:
			t.Errorf("%s %s: %s", r.Line.Where(), r.Line.ID(), r.Explain())
		case r.Reply != nil:
			replied++
		default:
			refused++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d transaction lines: %d replies byte-identical, %d refused as hsmd refused them, %d failed",
		path, len(lines), replied, refused, sum.Failed)
	if len(lines) == 0 || sum.Passed != len(lines) {
		t.Errorf("%d of %d transaction lines passed", sum.Passed, len(lines))
	}
}

func TestTxHandlersPublicVectors(t *testing.T) {
	replayTxLines(t, sharedVectors(t, "public.jsonl"), false)
}

func TestTxHandlersPolicyAcceptVectors(t *testing.T) {
	for _, f := range []string{"policy/benign.jsonl", "policy/attacks.jsonl"} {
		t.Run(f, func(t *testing.T) { replayTxLines(t, sharedVectors(t, f), true) })
	}
}
