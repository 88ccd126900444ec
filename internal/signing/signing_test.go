package signing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/audit"
	"gl-signerd/signer"
	"gl-signerd/streamer"
)

type call struct {
	client signer.Client
	raw    []byte
}

type fakeEngine struct {
	mu    sync.Mutex
	calls []call
	reply []byte
	err   error
	block chan struct{} // if set, Handle waits for it or ctx
}

func (f *fakeEngine) Handle(ctx context.Context, c signer.Client, raw []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{c, raw})
	f.mu.Unlock()
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return f.reply, f.err
}

func (f *fakeEngine) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
	err  error
}

func (m *memAudit) Append(_ context.Context, r audit.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.recs = append(m.recs, r)
	return nil
}

func (m *memAudit) last(t *testing.T) audit.Record {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recs) == 0 {
		t.Fatal("nothing audited")
	}
	return m.recs[len(m.recs)-1]
}

type harness struct {
	eng       *fakeEngine
	aud       *memAudit
	h         *Handler
	decisions []Decision
}

func newHarness() *harness {
	hs := &harness{eng: &fakeEngine{reply: []byte{0x00, 0x7f, 1, 2}}, aud: &memAudit{}}
	hs.h = NewHandler(hs.eng, Options{Audit: hs.aud, Observe: func(d Decision) { hs.decisions = append(hs.decisions, d) }})
	return hs
}

var peer = [33]byte{0x02, 0xaa, 0xbb}

func channelReq(typ uint16) streamer.Request {
	return streamer.Request{ID: 1001, Raw: []byte{byte(typ >> 8), byte(typ), 0, 0},
		Context: &streamer.RequestContext{PeerID: peer, DBID: 7, Capabilities: signer.CapSignRemoteTx | signer.CapCommitmentPoint}}
}

func TestAnswered(t *testing.T) {
	hs := newHarness()
	resp := hs.h.HandleHsmRequest(context.Background(), channelReq(hsmproto.TypeSignRemoteCommitmentTx))
	if resp.Err != nil || !bytes.Equal(resp.Raw, hs.eng.reply) {
		t.Fatalf("response %x, %v; want the engine's reply", resp.Raw, resp.Err)
	}
	c := hs.eng.calls[0]
	if c.client.PeerID != peer || c.client.DBID != 7 || c.client.Capabilities != signer.CapSignRemoteTx|signer.CapCommitmentPoint {
		t.Errorf("engine called with client %+v", c.client)
	}
	// lightningd's own connection has no context.
	hs.h.HandleHsmRequest(context.Background(), streamer.Request{ID: 1002, Raw: []byte{0, byte(hsmproto.TypeEcdhReq), 0}})
	if got := hs.eng.calls[1].client; got != signer.MasterClient {
		t.Errorf("no context: engine called with %+v, want signer.MasterClient", got)
	}
	r := hs.aud.recs[0]
	if r.Outcome != audit.OutcomeAnswered || r.RequestID != 1001 || r.TypeName != "hsmd_sign_remote_commitment_tx" ||
		!strings.HasPrefix(r.Peer, "02aabb") || r.DBID != 7 || r.Reason != "" {
		t.Errorf("audit record %+v", r)
	}
	if hs.aud.recs[1].Peer != "" || hs.aud.recs[1].Capabilities != signer.MasterClient.Capabilities {
		t.Errorf("master audit record %+v", hs.aud.recs[1])
	}
	if len(hs.decisions) != 2 || hs.decisions[0].Outcome != Answered ||
		hs.decisions[0].Client.IsMaster() || !hs.decisions[1].Client.IsMaster() {
		t.Errorf("decisions %+v", hs.decisions)
	}
}

func TestSignMessageFromNodeRefused(t *testing.T) {
	for _, rc := range []*streamer.RequestContext{nil, {PeerID: peer, DBID: 3, Capabilities: signer.CapMaster}} {
		hs := newHarness()
		raw := []byte{0, 23, 0, 32}
		raw = append(raw, bytes.Repeat([]byte{0x11}, 32)...)
		resp := hs.h.HandleHsmRequest(context.Background(), streamer.Request{ID: 5, Raw: raw, Context: rc})
		if resp.Err == nil || resp.Raw != nil {
			t.Fatalf("sign_message answered: %x", resp.Raw)
		}
		if !strings.Contains(resp.Err.Error(), "refusing hsmd_sign_message from the node") {
			t.Errorf("error text %q", resp.Err)
		}
		if hs.eng.n() != 0 {
			t.Error("the engine saw the sign_message request")
		}
		if r := hs.aud.last(t); r.Outcome != audit.OutcomeRefused || r.Tag != TagSignMessage || r.Reason != resp.Err.Error() {
			t.Errorf("audit %+v", r)
		}
	}
}

// A node-sent hsmd_init (version 5, mainnet) is refused on lightningd's
// connection and on a client's, paused or not, and changes nothing: the
// engine still answers get_per_commitment_point as version 6 (no old
// secret) for the configured network.
func TestInitFromNodeRefused(t *testing.T) {
	eng, err := signer.NewEngine(bytes.Repeat([]byte{1}, 32), signer.WithFixedNetwork("regtest"))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Wipe()
	aud := &memAudit{}
	h := NewHandler(eng, Options{Audit: aud})
	cp, _ := hsmproto.ChainparamsFor("bitcoin")
	init := (&hsmproto.Init{
		Bip32KeyVersion: hsmproto.Bip32KeyVersion{Bip32PubkeyVersion: 0x0488b21e, Bip32PrivkeyVersion: 0x0488ade4},
		Chainparams:     cp, HsmWireMinVersion: 5, HsmWireMaxVersion: 5,
	}).Encode()
	ctx := context.Background()
	for i, rc := range []*streamer.RequestContext{nil, {PeerID: peer, DBID: 3, Capabilities: signer.CapMaster}, nil} {
		if i == 2 {
			h.Pause("")
		}
		resp := h.HandleHsmRequest(ctx, streamer.Request{ID: uint32(10 + i), Raw: init, Context: rc})
		if resp.Err == nil || !strings.Contains(resp.Err.Error(), "refusing hsmd_init from the node") {
			t.Fatalf("hsmd_init %d: answered %x, error %v", i, resp.Raw, resp.Err)
		}
		if r := aud.last(t); r.Tag != TagInit || r.Outcome != audit.OutcomeRefused {
			t.Errorf("hsmd_init %d: audit %+v", i, r)
		}
	}
	h.Resume()
	if eng.Version() != 6 || eng.Network() != "regtest" {
		t.Errorf("after the node's hsmd_init: version %d, network %q; want 6, regtest", eng.Version(), eng.Network())
	}
	resp := h.HandleHsmRequest(ctx, streamer.Request{ID: 20, Raw: (&hsmproto.GetPerCommitmentPoint{N: 5}).Encode(),
		Context: &streamer.RequestContext{PeerID: peer, DBID: 7, Capabilities: signer.CapCommitmentPoint}})
	if resp.Err != nil {
		t.Fatal(resp.Err)
	}
	m, err := hsmproto.Decode(resp.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if reply, ok := m.(*hsmproto.GetPerCommitmentPointReply); !ok || reply.OldCommitmentSecret != nil {
		t.Errorf("get_per_commitment_point 5 after the node's hsmd_init: %T with an old secret", m)
	}
}

func TestRefusalErrorMapped(t *testing.T) {
	// The real engine refuses a request the client lacks the capability
	// for before any handler runs.
	eng, err := signer.NewEngine(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Wipe()
	aud := &memAudit{}
	h := NewHandler(eng, Options{Audit: aud})
	req := channelReq(hsmproto.TypeSignWithdrawal) // master-only
	resp := h.HandleHsmRequest(context.Background(), req)
	want := (&signer.RefusalError{MsgType: hsmproto.TypeSignWithdrawal, Reason: fmt.Sprintf("client does not have capability to run %d", hsmproto.TypeSignWithdrawal)}).Error()
	if resp.Err == nil || resp.Err.Error() != want {
		t.Fatalf("response error %v, want %q", resp.Err, want)
	}
	if r := aud.last(t); r.Tag != TagCapability || r.Outcome != audit.OutcomeRefused {
		t.Errorf("audit %+v", r)
	}

	hs := newHarness()
	hs.eng.err = &signer.RefusalError{MsgType: 4, Tag: signer.TagParse, Reason: "could not parse request", Err: &hsmproto.DecodeError{Message: "hsmd_ecdh_req", Field: "point"}}
	resp = hs.h.HandleHsmRequest(context.Background(), channelReq(4))
	if resp.Err == nil || resp.Err.Error() != hs.eng.err.Error() || hs.aud.last(t).Tag != TagParse {
		t.Errorf("parse refusal: %v, tag %q", resp.Err, hs.aud.last(t).Tag)
	}
	hs.eng.err = &signer.RefusalError{MsgType: 4, Reason: "feerate 99999999 above the maximum"}
	resp = hs.h.HandleHsmRequest(context.Background(), channelReq(4))
	if resp.Err == nil || resp.Err.Error() != hs.eng.err.Error() || hs.aud.last(t).Tag != TagEngine {
		t.Errorf("engine refusal: %v, tag %q", resp.Err, hs.aud.last(t).Tag)
	}
	// A policy refusal keeps the policy's own tag.
	hs.eng.err = &signer.RefusalError{MsgType: 4, Tag: "policy-channel-announcement-chain", Reason: "the channel_announcement's chain_hash is not regtest's"}
	resp = hs.h.HandleHsmRequest(context.Background(), channelReq(4))
	if resp.Err == nil || resp.Err.Error() != hs.eng.err.Error() || !strings.Contains(resp.Err.Error(), "policy-channel-announcement-chain: ") ||
		hs.aud.last(t).Tag != "policy-channel-announcement-chain" {
		t.Errorf("policy refusal: %v, tag %q", resp.Err, hs.aud.last(t).Tag)
	}
	// Any other error is internal; its text stays home.
	hs.eng.err = errors.New("derivation detail 0badc0de")
	resp = hs.h.HandleHsmRequest(context.Background(), channelReq(4))
	if resp.Err == nil || strings.Contains(resp.Err.Error(), "0badc0de") || hs.aud.last(t).Tag != TagInternal {
		t.Errorf("internal error: %v, tag %q", resp.Err, hs.aud.last(t).Tag)
	}
}

func TestPaused(t *testing.T) {
	hs := newHarness()
	st := hs.h.Pause("checking a suspicious channel")
	if !st.Paused || st.Since.IsZero() {
		t.Errorf("Pause returned %+v", st)
	}
	resp := hs.h.HandleHsmRequest(context.Background(), channelReq(hsmproto.TypeSignRemoteCommitmentTx))
	if resp.Err == nil || !strings.Contains(resp.Err.Error(), "paused") || !strings.Contains(resp.Err.Error(), "checking a suspicious channel") {
		t.Fatalf("paused: %v", resp.Err)
	}
	if hs.eng.n() != 0 {
		t.Error("the engine was asked while paused")
	}
	if r := hs.aud.last(t); r.Tag != TagPaused || r.Outcome != audit.OutcomeRefused {
		t.Errorf("audit %+v", r)
	}
	// The named leaks are refused while paused, whatever their
	// class says; public data is still answered.
	for _, typ := range []uint16{hsmproto.TypeEcdhReq, hsmproto.TypeGetPerCommitmentPoint, hsmproto.TypeDeriveSecret,
		hsmproto.TypeRevokeCommitmentTx, hsmproto.TypeSignWithdrawal, hsmproto.TypePreapproveInvoice, hsmproto.TypeInit} {
		if resp := hs.h.HandleHsmRequest(context.Background(), channelReq(typ)); resp.Err == nil {
			t.Errorf("paused: %s answered", hsmproto.MessageName(typ))
		}
	}
	if hs.eng.n() != 0 {
		t.Errorf("the engine was asked %d times while paused for secrets and signatures", hs.eng.n())
	}
	for _, typ := range []uint16{hsmproto.TypeGetChannelBasepoints, hsmproto.TypeValidateCommitmentTx, hsmproto.TypeCheckPubkey} {
		if resp := hs.h.HandleHsmRequest(context.Background(), channelReq(typ)); resp.Err != nil {
			t.Errorf("paused: %s refused: %v", hsmproto.MessageName(typ), resp.Err)
		}
	}
	hs.h.Resume()
	if hs.h.Paused().Paused {
		t.Error("still paused after Resume")
	}
	if resp := hs.h.HandleHsmRequest(context.Background(), channelReq(hsmproto.TypeSignRemoteCommitmentTx)); resp.Err != nil {
		t.Errorf("after Resume: %v", resp.Err)
	}
}

// refusedAlways are the requests the seam refuses from the node, paused or
// not (with their own tags).
var refusedAlways = map[uint16]bool{hsmproto.TypeInit: true, hsmproto.TypeSignMessage: true}

// While paused, every route the engine classes as signing or revealing a
// secret is refused before the engine sees it, and every public one is
// answered.
func TestPausedByClass(t *testing.T) {
	classes := signer.Classes()
	for typ, class := range classes {
		t.Run(hsmproto.MessageName(typ), func(t *testing.T) {
			hs := newHarness()
			hs.h.Pause("")
			resp := hs.h.HandleHsmRequest(context.Background(), channelReq(typ))
			switch {
			case class == signer.Public && resp.Err != nil:
				t.Errorf("public data refused while paused: %v", resp.Err)
			case class != signer.Public && resp.Err == nil:
				t.Errorf("a %v request answered while paused", class)
			case class != signer.Public && hs.eng.n() != 0:
				t.Errorf("the engine saw a %v request while paused", class)
			case class != signer.Public && !refusedAlways[typ] && hs.aud.last(t).Tag != TagPaused:
				t.Errorf("refused with tag %q, want %q", hs.aud.last(t).Tag, TagPaused)
			}
		})
	}
}

// The node chooses the request context, capabilities included (none at
// all is lightningd's master connection), so no refusal of the seam may
// depend on them: each is the same from every context.
func TestRefusalsIgnoreCapabilities(t *testing.T) {
	const all = signer.CapECDH | signer.CapSignGossip | signer.CapSignOnchainTx | signer.CapCommitmentPoint | signer.CapSignRemoteTx |
		signer.CapSignClosingTx | signer.CapSignWillFundOffer | signer.CapSignSpliceTx | signer.CapLockOutpoint | signer.CapMaster
	contexts := []*streamer.RequestContext{nil, {PeerID: peer, DBID: 1}, {PeerID: peer, DBID: 1, Capabilities: all},
		{Capabilities: signer.CapMaster}, {PeerID: peer, DBID: 2, Capabilities: signer.CapECDH | signer.CapCommitmentPoint}}
	for _, tc := range []struct {
		typ    uint16
		paused bool
		tag    string
	}{
		{hsmproto.TypeSignMessage, false, TagSignMessage},
		{hsmproto.TypeInit, false, TagInit},
		{hsmproto.TypeEcdhReq, true, TagPaused},
		{hsmproto.TypeGetPerCommitmentPoint, true, TagPaused},
		{hsmproto.TypeDeriveSecret, true, TagPaused},
		{hsmproto.TypeSignWithdrawal, true, TagPaused},
	} {
		for _, rc := range contexts {
			hs := newHarness()
			if tc.paused {
				hs.h.Pause("")
			}
			req := channelReq(tc.typ)
			req.Context = rc
			resp := hs.h.HandleHsmRequest(context.Background(), req)
			if resp.Err == nil || hs.eng.n() != 0 || hs.aud.last(t).Tag != tc.tag {
				t.Errorf("%s (paused %v) from %+v: error %v, engine asked %d times, tag %q; want tag %q",
					hsmproto.MessageName(tc.typ), tc.paused, rc, resp.Err, hs.eng.n(), hs.aud.last(t).Tag, tc.tag)
			}
		}
	}
}

func TestAuditFailureRefuses(t *testing.T) {
	hs := newHarness()
	hs.aud.err = errors.New("disk full")
	resp := hs.h.HandleHsmRequest(context.Background(), channelReq(hsmproto.TypeSignRemoteCommitmentTx))
	if resp.Err == nil || resp.Raw != nil || !strings.Contains(resp.Err.Error(), "audit log") {
		t.Fatalf("unaudited answer went out: %x, %v", resp.Raw, resp.Err)
	}
	if d := hs.decisions[0]; d.Outcome != Refused || d.Tag != TagAudit {
		t.Errorf("decision %+v", d)
	}
}

// When the stream ends mid-request nothing is answered, audited or
// counted: the node replays the request.
func TestStreamGone(t *testing.T) {
	hs := newHarness()
	hs.eng.block = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for hs.eng.n() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	resp := hs.h.HandleHsmRequest(ctx, channelReq(hsmproto.TypeSignRemoteCommitmentTx))
	if !errors.Is(resp.Err, context.Canceled) || len(hs.aud.recs) != 0 || len(hs.decisions) != 0 {
		t.Errorf("response %v, %d audited, %d decisions", resp.Err, len(hs.aud.recs), len(hs.decisions))
	}
}
