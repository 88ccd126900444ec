package signing

import (
	"context"
	"errors"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
)

// Handle (hsmd serve's seam): lightningd's own hsmd_init and sign_message
// reach the engine; the engine's refusal comes back as it was made, and is
// audited and observed with its tag; an audit failure refuses, fatally on
// lightningd's connection.
func TestHandleForLightningd(t *testing.T) {
	channeld := signer.Client{PeerID: [33]byte{2, 1}, DBID: 7, Capabilities: 447}
	refusal := &signer.RefusalError{MsgType: 3, Tag: "policy-channel-update-chain", Reason: "not bitcoin's"}
	cases := []struct {
		name     string
		client   signer.Client
		typ      uint16
		engErr   error
		auditErr error
		wantTag  string // "" answered
		fatal    bool
	}{
		{"lightningd's hsmd_init", signer.MasterClient, hsmproto.TypeInit, nil, nil, "", false},
		{"lightningd's sign_message", signer.MasterClient, hsmproto.TypeSignMessage, nil, nil, "", false},
		{"a policy refusal", channeld, 3, refusal, nil, refusal.Tag, false},
		{"an untagged engine error", channeld, 3, errors.New("boom"), nil, TagInternal, false},
		{"audit fails on a client", channeld, 3, nil, errors.New("disk full"), TagAudit, false},
		{"audit fails on lightningd's", signer.MasterClient, hsmproto.TypeSignMessage, nil, errors.New("disk full"), TagAudit, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness()
			h.eng.reply, h.eng.err, h.aud.err = []byte{0, 99}, tc.engErr, tc.auditErr
			if tc.engErr != nil {
				h.eng.reply = nil
			}
			var seen []Decision
			h.h.opts.Observe = func(d Decision) { seen = append(seen, d) }
			reply, err := h.h.Handle(context.Background(), tc.client, []byte{byte(tc.typ >> 8), byte(tc.typ)})
			if h.eng.n() != 1 {
				t.Fatalf("engine called %d times", h.eng.n())
			}
			if len(seen) != 1 || seen[0].Tag != tc.wantTag || seen[0].Client != tc.client {
				t.Fatalf("observed %+v; want one decision tagged %q", seen, tc.wantTag)
			}
			if tc.wantTag == "" {
				if err != nil || string(reply) != "\x00\x63" || h.aud.last(t).Outcome != Answered {
					t.Fatalf("reply %x, %v", reply, err)
				}
				return
			}
			if reply != nil || err == nil {
				t.Fatalf("reply %x, %v; want a refusal", reply, err)
			}
			if tc.engErr == refusal && err != refusal {
				t.Errorf("the engine's refusal came back as %#v", err)
			}
			var re *signer.RefusalError
			if tc.auditErr != nil && (!errors.As(err, &re) || re.Tag != TagAudit || re.Fatal != tc.fatal) {
				t.Errorf("audit failure: %#v; want tag %s, fatal %v", err, TagAudit, tc.fatal)
			}
			if tc.auditErr == nil && h.aud.last(t).Tag != tc.wantTag {
				t.Errorf("audited %+v", h.aud.last(t))
			}
		})
	}
}

// While paused, Handle holds a signing request until Resume, answers a
// public one at once, and gives up on a held one when ctx ends.
func TestHandleHoldsWhilePaused(t *testing.T) {
	h := newHarness()
	h.eng.reply = []byte{0, 99}
	h.h.Pause("looking")
	if _, err := h.h.Handle(context.Background(), signer.MasterClient, []byte{0, byte(hsmproto.TypeGetChannelBasepoints)}); err != nil {
		t.Fatalf("public request while paused: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.h.Handle(context.Background(), signer.MasterClient, []byte{0, byte(hsmproto.TypeSignInvoice)})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("sign_invoice answered while paused: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	h.h.Resume()
	if err := <-done; err != nil || h.eng.n() != 2 {
		t.Fatalf("after resume: %v, %d engine calls", err, h.eng.n())
	}

	h.h.Pause("")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := h.h.Handle(ctx, signer.MasterClient, []byte{0, byte(hsmproto.TypeSignInvoice)})
	var re *signer.RefusalError
	if !errors.As(err, &re) || re.Tag != TagPaused || h.eng.n() != 2 {
		t.Fatalf("held request when ctx ended: %v, %d engine calls", err, h.eng.n())
	}
}
