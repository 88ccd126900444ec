package signer_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/replay"
	"gl-signerd/signer/state"
)

// recording is a Sender that keeps every request and its answer.
type recording struct {
	mu      sync.Mutex
	send    traffic.Sender
	reqs    []traffic.Request
	answers [][]byte
}

func (r *recording) sender(ctx context.Context, req traffic.Request) ([]byte, error) {
	out, err := r.send(ctx, req)
	if err == nil {
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.answers = append(r.answers, out)
		r.mu.Unlock()
	}
	return out, err
}

func statefulEngine(t testing.TB, seed byte) (*signer.Engine, *state.Store) {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := signer.NewEngine(bytes.Repeat([]byte{seed}, 32), signer.WithState(st),
		// The generated payments and channels are the test's own: auto-approved.
		signer.WithAuthorization(signer.AuthorizationSettings{AutoApproveBelowMsat: 1 << 62, AutoApproveChannelsBelowSat: 1 << 62}))
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}

// policyOffEngine is another engine of the same seed on st, policy off.
func policyOffEngine(t testing.TB, seed byte, st *state.Store) *signer.Engine {
	e, err := signer.NewEngine(bytes.Repeat([]byte{seed}, 32), signer.WithState(st), signer.WithPolicyMode(policy.ModeOff))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestStateFollowsLifecycles runs whole channel lifecycles (the traffic
// generator plays lightningd and the peer) through an engine with state and
// checks what it remembered against what the generator knows; then
// resends every request and checks that the answers are the same bytes and
// nothing advanced.
func TestStateFollowsLifecycles(t *testing.T) {
	ctx := context.Background()
	e, st := statefulEngine(t, 0x21)
	rec := &recording{send: traffic.EngineSender(e)}
	init, err := e.InitReply("bitcoin")
	if err != nil {
		t.Fatal(err)
	}
	g, err := traffic.New(init, rec.sender, traffic.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		l    traffic.Lifecycle
	}{
		{"we fund, anchors, open", traffic.Lifecycle{Channel: traffic.ChannelOptions{WeFund: true, Anchors: true}, Payments: 6, FeeUpdates: 1, Close: traffic.CloseNone}},
		{"they fund, static remotekey, open", traffic.Lifecycle{Channel: traffic.ChannelOptions{}, Payments: 5, Close: traffic.CloseNone}},
		{"they fund, anchors, open", traffic.Lifecycle{Channel: traffic.ChannelOptions{Anchors: true}, Payments: 4, Close: traffic.CloseNone}},
		{"mutual close", traffic.Lifecycle{Channel: traffic.ChannelOptions{WeFund: true}, Payments: 3, Close: traffic.CloseMutual}},
		{"force close", traffic.Lifecycle{Channel: traffic.ChannelOptions{Anchors: true}, Payments: 3, Close: traffic.CloseForce}},
	}
	var maxDBID uint64
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch, err := g.RunLifecycle(ctx, c.l)
			if err != nil {
				t.Fatal(err)
			}
			maxDBID = max(maxDBID, ch.DBID())
			got, ok := st.Channel(state.ChannelID{Peer: ch.PeerID(), DBID: ch.DBID()})
			if !ok {
				t.Fatal("the channel was not remembered")
			}
			if c.l.Close != traffic.CloseNone {
				if got.Status != state.StatusForgotten || got.Secrets.Count() != 0 || got.LastCounterparty != nil {
					t.Fatalf("closed channel: status %v, %d secrets, last counterparty %v; want a tombstone", got.Status, got.Secrets.Count(), got.LastCounterparty)
				}
				return
			}
			local, remote := ch.Commitments()
			if got.Status != state.StatusOpen || !got.FundingLocked || got.Setup == nil {
				t.Fatalf("status %v, locked %v, setup %v", got.Status, got.FundingLocked, got.Setup != nil)
			}
			if got.Setup.IsOutbound != c.l.Channel.WeFund || got.Setup.Anchors() != c.l.Channel.Anchors || !got.Setup.StaticRemoteKey() {
				t.Fatalf("setup: outbound %v anchors %v", got.Setup.IsOutbound, got.Setup.Anchors())
			}
			if got.HolderCommitNum != local || got.LastHolder == nil || got.LastHolder.Num != local {
				t.Fatalf("holder commitment %d (%v), want %d", got.HolderCommitNum, got.LastHolder, local)
			}
			if got.CounterpartyCommitNum != remote || got.LastCounterparty == nil || got.LastCounterparty.Num != remote {
				t.Fatalf("counterparty commitment %d, want %d", got.CounterpartyCommitNum, remote)
			}
			if got.HolderRevokedNext != local || got.Secrets.Count() != remote {
				t.Fatalf("revoked: ours up to %d, theirs %d secrets; want %d and %d", got.HolderRevokedNext, got.Secrets.Count(), local, remote)
			}
			// The non-funder's output is its balance, no fee taken.
			ours, theirs := ch.Balances()
			for _, cm := range []*state.Commitment{got.LastHolder, got.LastCounterparty} {
				if !cm.BalancesKnown || len(cm.HTLCs) != 0 {
					t.Fatalf("commitment %d: balances known %v, %d HTLCs", cm.Num, cm.BalancesKnown, len(cm.HTLCs))
				}
				if c.l.Channel.WeFund && cm.CounterpartySat != theirs/1000 {
					t.Errorf("commitment %d: counterparty %d sat, want %d", cm.Num, cm.CounterpartySat, theirs/1000)
				}
				if !c.l.Channel.WeFund && cm.HolderSat != ours/1000 {
					t.Errorf("commitment %d: holder %d sat, want %d", cm.Num, cm.HolderSat, ours/1000)
				}
				if cm.HolderSat+cm.CounterpartySat > uint64(got.Setup.ChannelValueSat) || cm.HolderSat+cm.CounterpartySat < uint64(got.Setup.ChannelValueSat)-20_000 {
					t.Errorf("commitment %d: %d + %d sat of a %d sat channel", cm.Num, cm.HolderSat, cm.CounterpartySat, got.Setup.ChannelValueSat)
				}
			}
		})
	}
	if n := st.Node(); n.DBIDHighWater != maxDBID || len(n.Addresses) == 0 {
		t.Fatalf("node: dbid high water %d (want %d), %d addresses", n.DBIDHighWater, maxDBID, len(n.Addresses))
	}

	// Resending everything changes nothing and answers the same bytes (with
	// the policy off: it refuses some repeats, e.g. a forgotten dbid's
	// new_channel).
	before := st.Stats().Commits
	snapshot := encodeAll(t, st)
	off := policyOffEngine(t, 0x21, st)
	for i, req := range rec.reqs {
		out, err := off.Handle(ctx, req.Client, req.Raw)
		if err != nil || !bytes.Equal(out, rec.answers[i]) {
			t.Fatalf("resent %s: %v, different bytes %v", req.Name, err, !bytes.Equal(out, rec.answers[i]))
		}
	}
	if after := st.Stats().Commits; after != before {
		t.Fatalf("resending %d requests made %d commits", len(rec.reqs), after-before)
	}
	if !bytes.Equal(snapshot, encodeAll(t, st)) {
		t.Fatal("resending the requests changed the state")
	}
}

func encodeAll(t testing.TB, st *state.Store) []byte {
	var out []byte
	for _, ch := range st.Channels() {
		b, err := state.EncodeChannel(ch)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	b, err := state.EncodeNode(st.Node())
	if err != nil {
		t.Fatal(err)
	}
	return append(out, b...)
}

// TestStateKeepsOnlyMatchingSecrets: a revealed secret that is not the
// one of the counterparty commitment we signed is not kept, even with the
// policy off (which answers it; under enforce it is refused). Both kinds of check
// are exercised: an even commitment's secret against its point, an odd
// one's against the secrets held (state.Secrets.HashChecked).
func TestStateKeepsOnlyMatchingSecrets(t *testing.T) {
	ctx := context.Background()
	parities := map[uint64]bool{}
	for _, fees := range []int{0, 1} {
		e, st := statefulEngine(t, 0x22)
		rec := &recording{send: traffic.EngineSender(e)}
		init, _ := e.InitReply("bitcoin")
		g, err := traffic.New(init, rec.sender, traffic.Options{Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{Anchors: true}, Payments: 2, FeeUpdates: fees, Close: traffic.CloseNone})
		if err != nil {
			t.Fatal(err)
		}
		id := state.ChannelID{Peer: ch.PeerID(), DBID: ch.DBID()}
		var channeld signer.Client
		for _, r := range rec.reqs {
			if r.Type() == hsmproto.TypeValidateRevocation {
				channeld = r.Client
			}
		}
		before, _ := st.Channel(id)
		n := before.Secrets.Count()
		parities[n%2] = true
		bad := &hsmproto.ValidateRevocation{RevokeNum: n, PerCommitmentSecret: hsmproto.Secret{1, 2, 3}}
		// The policy off, and enforced but with the tag only warned:
		// both answer, neither may keep the secret.
		warned, err := signer.NewEngine(bytes.Repeat([]byte{0x22}, 32), signer.WithState(st), signer.WithPolicyWarn([]string{policy.TagCommitmentPreviousRevoked}))
		if err != nil {
			t.Fatal(err)
		}
		for name, e := range map[string]*signer.Engine{"policy off": policyOffEngine(t, 0x22, st), "tag warned": warned} {
			if _, err := e.Handle(ctx, channeld, bad.Encode()); err != nil {
				t.Fatalf("%s: validate_revocation with a wrong secret was refused: %v", name, err)
			}
			after, _ := st.Channel(id)
			if after.Secrets.Count() != n || after.Version != before.Version {
				t.Fatalf("%s, %d fee updates: a wrong secret for commitment %d was kept: %d secrets (was %d), version %d (was %d)", name, fees, n, after.Secrets.Count(), n, after.Version, before.Version)
			}
		}
		if _, err := e.Handle(ctx, channeld, bad.Encode()); err == nil {
			t.Fatal("enforced: validate_revocation with a wrong secret was answered")
		}
	}
	if len(parities) != 2 {
		t.Fatalf("the lifecycles left only next secrets of parity %v; both kinds of check need testing", parities)
	}
}

// TestVectorsWithState replays the public vectors and the policy vectors'
// benign lifecycles through engines with state: every reply stays CLN's,
// and the stores did remember channels.
func TestVectorsWithState(t *testing.T) {
	for _, f := range []string{"public.jsonl", "policy/benign.jsonl"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			lines, err := replay.ReadFile(sharedVectors(t, f))
			if err != nil {
				t.Fatal(err)
			}
			var stores []*state.Store
			opts := replay.Options{Policy: replay.PolicyOff, EngineOptions: func() ([]signer.Option, error) {
				_, st := statefulEngine(t, 0)
				stores = append(stores, st)
				return []signer.Option{signer.WithState(st)}, nil
			}}
			sum, err := replay.Run(context.Background(), lines, opts, func(r replay.Result) {
				if !r.Pass {
					t.Error(r.Explain())
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			channels := 0
			for _, st := range stores {
				channels += len(st.Channels())
			}
			t.Logf("%d passed, %d failed; %d channels remembered in %d stores", sum.Passed, sum.Failed, channels, len(stores))
			if sum.Failed != 0 || channels == 0 {
				t.Fatalf("%d failed, %d channels remembered", sum.Failed, channels)
			}
		})
	}
}

// TestStateRecordsPreapprovals: an approved invoice or keysend is kept in
// the node record (hash, amount, expiry); a check_only one is not.
func TestStateRecordsPreapprovals(t *testing.T) {
	ctx := context.Background()
	// Invoices the traffic generator makes, from a bare engine's run.
	src, _ := statefulEngine(t, 0x23)
	rec := &recording{send: traffic.EngineSender(src)}
	init, _ := src.InitReply("bitcoin")
	g, err := traffic.New(init, rec.sender, traffic.Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.RunLifecycle(ctx, traffic.Lifecycle{Channel: traffic.ChannelOptions{WeFund: true}, Payments: 4, Close: traffic.CloseNone}); err != nil {
		t.Fatal(err)
	}
	var invoices []string
	for _, r := range rec.reqs {
		if r.Type() == hsmproto.TypePreapproveInvoice {
			m, err := hsmproto.Decode(r.Raw)
			if err != nil {
				t.Fatal(err)
			}
			invoices = append(invoices, m.(*hsmproto.PreapproveInvoice).Invstring)
		}
	}
	if len(invoices) < 2 {
		t.Fatalf("the lifecycle preapproved %d invoices; the test needs 2", len(invoices))
	}
	mainnet, _ := policy.NetworkFor("bitcoin")
	parse := func(s string) *policy.Invoice {
		inv, v := policy.ParseInvoiceString(s, mainnet)
		if v != nil {
			t.Fatal(v)
		}
		return inv
	}
	hash := [32]byte{7, 7}
	cases := []struct {
		name string
		req  hsmproto.Message
		hash [32]byte
		want *state.Invoice // nil: not kept
	}{
		{"preapprove_invoice", &hsmproto.PreapproveInvoice{Invstring: invoices[0]}, parse(invoices[0]).PaymentHash,
			&state.Invoice{PaymentHash: parse(invoices[0]).PaymentHash, AmountMsat: parse(invoices[0]).AmountMsat, Expiry: parse(invoices[0]).Timestamp + parse(invoices[0]).ExpirySeconds}},
		{"preapprove_invoice_check, check only", &hsmproto.PreapproveInvoiceCheck{Invstring: invoices[1], CheckOnly: true}, parse(invoices[1]).PaymentHash, nil},
		{"preapprove_invoice_check", &hsmproto.PreapproveInvoiceCheck{Invstring: invoices[1]}, parse(invoices[1]).PaymentHash,
			&state.Invoice{PaymentHash: parse(invoices[1]).PaymentHash, AmountMsat: parse(invoices[1]).AmountMsat, Expiry: parse(invoices[1]).Timestamp + parse(invoices[1]).ExpirySeconds}},
		{"preapprove_keysend_check, check only", &hsmproto.PreapproveKeysendCheck{PaymentHash: hash, AmountMsat: 9000, CheckOnly: true}, hash, nil},
		{"preapprove_keysend", &hsmproto.PreapproveKeysend{PaymentHash: hash, AmountMsat: 9000}, hash, &state.Invoice{PaymentHash: hash, AmountMsat: 9000, Keysend: true}},
	}
	e, st := statefulEngine(t, 0x23) // no hsmd_init: a mainnet engine's network
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := e.Handle(ctx, signer.MasterClient, c.req.Encode()); err != nil {
				t.Fatal(err)
			}
			got, ok := st.Node().Invoice(c.hash)
			switch {
			case c.want == nil && ok:
				t.Fatalf("kept %+v", got)
			case c.want != nil && (!ok || got != *c.want):
				t.Fatalf("kept %+v (%v), want %+v", got, ok, *c.want)
			}
		})
	}
}
