package signer_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// authFixture is an engine with a state store at a fixed path and a clock
// the test moves, restartable; and a traffic generator that issues
// invoices of payees.
type authFixture struct {
	t    *testing.T
	path string
	now  time.Time
	opts []signer.Option
	set  signer.AuthorizationSettings

	st     *state.Store
	e      *signer.Engine
	g      *traffic.Generator
	events []signer.AuthorizationEvent
}

const authSeed = 0x31

func newAuthFixture(t *testing.T, set signer.AuthorizationSettings, opts ...signer.Option) *authFixture {
	f := &authFixture{t: t, path: filepath.Join(t.TempDir(), state.FileName),
		now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), set: set, opts: opts}
	f.start()
	init, err := f.e.InitReply("bitcoin")
	if err != nil {
		t.Fatal(err)
	}
	if f.g, err = traffic.New(init, traffic.EngineSender(f.e), traffic.Options{Seed: 7}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	return f
}

// start opens the store and makes the engine.
func (f *authFixture) start() {
	f.t.Helper()
	var err error
	if f.st, err = state.Open(f.path); err != nil {
		f.t.Fatal(err)
	}
	opts := append([]signer.Option{signer.WithState(f.st), signer.WithAuthorization(f.set),
		signer.WithClock(func() time.Time { return f.now }),
		signer.WithAuthorizationReporter(func(ev signer.AuthorizationEvent) { f.events = append(f.events, ev) })}, f.opts...)
	if f.e, err = signer.NewEngine(bytes.Repeat([]byte{authSeed}, 32), opts...); err != nil {
		f.t.Fatal(err)
	}
}

// restart closes the store and starts again from the file.
func (f *authFixture) restart() {
	f.t.Helper()
	f.e.Wipe()
	if err := f.st.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.start()
}

// pay sends preapprove_invoice of inv and returns the refusal's tag and
// reason ("" when approved).
func (f *authFixture) pay(inv string) (tag, reason string) {
	f.t.Helper()
	return f.send(&hsmproto.PreapproveInvoice{Invstring: inv})
}

func (f *authFixture) send(m hsmproto.Message) (tag, reason string) {
	f.t.Helper()
	raw, err := f.e.Handle(context.Background(), signer.MasterClient, m.Encode())
	var re *signer.RefusalError
	switch {
	case errors.As(err, &re):
		return re.Tag, re.Reason
	case err != nil:
		f.t.Fatalf("%s: %v", m.MsgName(), err)
	}
	reply, err := hsmproto.Decode(raw)
	if err != nil {
		f.t.Fatal(err)
	}
	// A payment is declined with approved=false; the tag and reason are
	// the decision's, as reported.
	approved := true
	switch r := reply.(type) {
	case *hsmproto.PreapproveInvoiceReply:
		approved = r.Approved
	case *hsmproto.PreapproveKeysendReply:
		approved = r.Approved
	}
	if approved {
		return "", ""
	}
	if len(f.events) == 0 || f.events[len(f.events)-1].Tag == "" {
		f.t.Fatalf("%s answered approved=false without a refusal reported", m.MsgName())
	}
	ev := f.events[len(f.events)-1]
	return ev.Tag, ev.Reason
}

func (f *authFixture) wantApproved(what, tag, reason string) {
	f.t.Helper()
	if tag != "" {
		f.t.Fatalf("%s refused: %s: %s", what, tag, reason)
	}
}

func (f *authFixture) wantRefused(what, tag, reason, wantTag, wantIn string) {
	f.t.Helper()
	if tag != wantTag || !strings.Contains(reason, wantIn) {
		f.t.Fatalf("%s: got %q %q, want %s with %q", what, tag, reason, wantTag, wantIn)
	}
}

func (f *authFixture) approval(id uint64) signer.ApprovalInfo {
	f.t.Helper()
	as, err := f.e.Approvals()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, a := range as {
		if a.ID == id {
			return a
		}
	}
	f.t.Fatalf("no approval %d in %+v", id, as)
	return signer.ApprovalInfo{}
}

// TestApprovalLifeCycle: a payment nothing authorizes is refused and asks
// the operator; approved, the node's retry is signed (until the approval's
// validity ends); denied or timed out, it stays refused, and the decision
// cannot be changed; all of it across a restart.
func TestApprovalLifeCycle(t *testing.T) {
	f := newAuthFixture(t, signer.AuthorizationSettings{ApprovalTimeout: time.Hour, ApprovalValidFor: 10 * time.Minute})
	ctx := context.Background()
	invA := f.g.PayeeInvoice(f.g.NewPayee(), 1_000_000)
	tag, reason := f.pay(invA)
	f.wantRefused("an unauthorized payment", tag, reason, policy.TagPaymentApproved, "gl-signerd ctl approve 1")
	if a := f.approval(1); a.Status != "pending" || a.Kind != "payment" || a.AmountMsat != 1_000_000 {
		t.Fatalf("approval 1: %+v", a)
	}
	tag, reason = f.pay(invA)
	f.wantRefused("the retry before a decision", tag, reason, policy.TagPaymentApproved, "waits for the operator's approval 1")

	f.restart() // the pending approval survives
	if _, err := f.e.Decide(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	tag, reason = f.pay(invA)
	f.wantApproved("the retry after ctl approve", tag, reason)
	f.restart()
	tag, reason = f.pay(invA)
	f.wantApproved("the retry after ctl approve and a restart", tag, reason)

	invB := f.g.PayeeInvoice(f.g.NewPayee(), 2_000_000)
	tag, reason = f.pay(invB)
	f.wantRefused("a second payment", tag, reason, policy.TagPaymentApproved, "ctl approve 2")
	if _, err := f.e.Decide(ctx, 2, false); err != nil {
		t.Fatal(err)
	}
	tag, reason = f.pay(invB)
	f.wantRefused("the retry of a denied payment", tag, reason, policy.TagPaymentApproved, "denied by the operator (approval 2)")
	if _, err := f.e.Decide(ctx, 2, true); err == nil || !strings.Contains(err.Error(), "final") {
		t.Fatalf("approving a denied approval: %v", err)
	}

	invC := f.g.PayeeInvoice(f.g.NewPayee(), 3_000_000)
	tag, reason = f.pay(invC)
	f.wantRefused("a third payment", tag, reason, policy.TagPaymentApproved, "ctl approve 3")
	f.now = f.now.Add(time.Hour)
	if a := f.approval(3); a.Status != "timed-out" {
		t.Fatalf("approval 3 an hour later: %+v", a)
	}
	if _, err := f.e.Decide(ctx, 3, true); err == nil || !strings.Contains(err.Error(), "timed-out") {
		t.Fatalf("approving a timed-out approval: %v", err)
	}
	tag, reason = f.pay(invC)
	f.wantRefused("the retry of a timed-out payment", tag, reason, policy.TagPaymentApproved, "approval 3 timed out")
	// Approval 1 was usable for 10 minutes only.
	tag, reason = f.pay(invA)
	f.wantRefused("a retry after the approval's validity", tag, reason, policy.TagPaymentApproved, "approval 1 timed out")
	if _, err := f.e.Decide(ctx, 99, true); err == nil || !strings.Contains(err.Error(), "no approval 99") {
		t.Fatalf("deciding an unknown approval: %v", err)
	}

	// Every decision was reported (the daemon writes them to the audit log).
	var got []string
	for _, ev := range f.events {
		got = append(got, ev.Event)
	}
	want := "approval-requested refused approved authorized authorized approval-requested denied refused approval-requested refused refused"
	if strings.Join(got, " ") != want {
		t.Errorf("events:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

// fakeIntents authorizes the requests whose payment hash it lists.
type fakeIntents map[[32]byte]bool

func (fi fakeIntents) Authorize(_ context.Context, _ signer.Client, m hsmproto.Message) (*signer.Intent, error) {
	var hash [32]byte
	switch r := m.(type) {
	case *hsmproto.PreapproveKeysend:
		hash = r.PaymentHash
	case *hsmproto.PreapproveInvoice:
		inv, v := policy.ParseInvoiceString(r.Invstring, policy.Network{Name: "bitcoin", InvoicePrefix: "lnbc"})
		if v != nil {
			return nil, nil
		}
		hash = inv.PaymentHash
	}
	if fi[hash] {
		return &signer.Intent{Method: "/cln.Node/Pay", Summary: "pay"}, nil
	}
	return nil, nil
}

// TestAuthorizationGrounds: each ground authorizes a payment alone, and
// without any the payment is refused with its tag.
func TestAuthorizationGrounds(t *testing.T) {
	type request func(f *authFixture, payee *traffic.Payee) hsmproto.Message
	invoice := func(msat uint64) request {
		return func(f *authFixture, p *traffic.Payee) hsmproto.Message {
			return &hsmproto.PreapproveInvoice{Invstring: f.g.PayeeInvoice(p, msat)}
		}
	}
	keysend := func(f *authFixture, p *traffic.Payee) hsmproto.Message {
		return &hsmproto.PreapproveKeysend{Destination: p.ID(), PaymentHash: [32]byte{9}, AmountMsat: 5_000}
	}
	invoiceCheck := func(f *authFixture, p *traffic.Payee) hsmproto.Message {
		return &hsmproto.PreapproveInvoiceCheck{Invstring: f.g.PayeeInvoice(p, 5_000)}
	}
	keysendCheck := func(f *authFixture, p *traffic.Payee) hsmproto.Message {
		return &hsmproto.PreapproveKeysendCheck{Destination: p.ID(), PaymentHash: [32]byte{9}, AmountMsat: 5_000, CheckOnly: true}
	}
	allowPayee := func(f *authFixture, p *traffic.Payee) {
		id := p.ID()
		if _, err := f.e.AllowlistAdd(context.Background(), "payee:"+hex.EncodeToString(id[:])); err != nil {
			f.t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		set     signer.AuthorizationSettings
		opts    func(p *traffic.Payee) []signer.Option
		prepare func(f *authFixture, p *traffic.Payee)
		req     request
		wantTag string
	}{
		{name: "invoice, no ground", req: invoice(5_000), wantTag: policy.TagPaymentApproved},
		{name: "invoice_check, no ground", req: invoiceCheck, wantTag: policy.TagPaymentApproved},
		{name: "keysend, no ground", req: keysend, wantTag: policy.TagPaymentApproved},
		{name: "keysend_check, no ground", req: keysendCheck, wantTag: policy.TagPaymentApproved},
		{name: "payee in the configuration", req: invoice(5_000), opts: func(p *traffic.Payee) []signer.Option {
			id := p.ID()
			return []signer.Option{signer.WithPolicyAllowlist([]string{"payee:" + hex.EncodeToString(id[:])})}
		}},
		{name: "payee added at run time", prepare: allowPayee, req: invoice(5_000)},
		{name: "keysend payee added at run time", prepare: allowPayee, req: keysend},
		{name: "invoice_check payee added at run time", prepare: allowPayee, req: invoiceCheck},
		{name: "keysend_check payee added at run time", prepare: allowPayee, req: keysendCheck},
		{name: "below the auto-approve threshold", set: signer.AuthorizationSettings{AutoApproveBelowMsat: 5_001}, req: invoice(5_000)},
		{name: "at the auto-approve threshold", set: signer.AuthorizationSettings{AutoApproveBelowMsat: 5_000}, req: invoice(5_000), wantTag: policy.TagPaymentApproved},
		{name: "an amountless invoice is never auto-approved", set: signer.AuthorizationSettings{AutoApproveBelowMsat: 1 << 40}, req: invoice(0), wantTag: policy.TagPaymentApproved},
		{name: "the user's intent", req: keysend, opts: func(*traffic.Payee) []signer.Option {
			return []signer.Option{signer.WithIntentSource(fakeIntents{{9}: true})}
		}},
		{name: "an intent for another payment", req: keysend, wantTag: policy.TagPaymentApproved, opts: func(*traffic.Payee) []signer.Option {
			return []signer.Option{signer.WithIntentSource(fakeIntents{{8}: true})}
		}},
		{name: "policy off: CLN's behaviour", req: invoice(5_000), opts: func(*traffic.Payee) []signer.Option {
			return []signer.Option{signer.WithPolicyMode(policy.ModeOff)}
		}},
		{name: "the tag on warn", req: invoice(5_000), opts: func(*traffic.Payee) []signer.Option {
			return []signer.Option{signer.WithPolicyWarn([]string{policy.TagPaymentApproved})}
		}},
		{name: "an allowlisted amountless invoice under a velocity limit", prepare: allowPayee, req: invoice(0),
			set: signer.AuthorizationSettings{Payments: policy.VelocityLimit{PerDay: 1 << 40}}, wantTag: policy.TagPaymentVelocity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAuthFixture(t, tc.set)
			p := f.g.NewPayee()
			if tc.opts != nil {
				f.opts = tc.opts(p)
				f.restart()
			}
			if tc.prepare != nil {
				tc.prepare(f, p)
			}
			tag, reason := f.send(tc.req(f, p))
			if tag != tc.wantTag {
				t.Fatalf("got %q (%s), want %q", tag, reason, tc.wantTag)
			}
		})
	}
}

// TestAuthorizationWarn: a payment refused for want of authorization is
// signed under warn, the violation reported, and no approval asked for.
func TestAuthorizationWarn(t *testing.T) {
	var reported []string
	f := newAuthFixture(t, signer.AuthorizationSettings{}, signer.WithPolicyMode(policy.ModeWarn),
		signer.WithPolicyReporter(func(_ signer.Client, _ uint16, v *policy.Violation) { reported = append(reported, v.Tag) }))
	tag, reason := f.pay(f.g.PayeeInvoice(f.g.NewPayee(), 5_000))
	f.wantApproved("a payment under warn", tag, reason)
	if len(reported) != 1 || reported[0] != policy.TagPaymentApproved {
		t.Fatalf("reported %v", reported)
	}
	if as, _ := f.e.Approvals(); len(as) != 0 {
		t.Fatalf("approvals asked for under warn: %+v", as)
	}
}

// TestStatelessEngineAuthorizesEverything: without a state store the
// engine keeps CLN's hsmd behaviour for payments.
func TestStatelessEngineAuthorizesEverything(t *testing.T) {
	e, err := signer.NewEngine(bytes.Repeat([]byte{authSeed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	init, _ := e.InitReply("bitcoin")
	g, err := traffic.New(init, traffic.EngineSender(e), traffic.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.PreapproveInvoice(context.Background(), "preapprove", g.PayeeInvoice(g.NewPayee(), 5_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Approvals(); !errors.Is(err, signer.ErrNoState) {
		t.Fatalf("Approvals of a stateless engine: %v", err)
	}
}

// TestAllowlistAcrossRestarts: entries added at run time are kept, merged
// with the configuration's, removed again; configuration entries cannot
// be removed at run time; bad entries are refused with the reason.
func TestAllowlistAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	cfgEntry := "payee:034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa"
	f := newAuthFixture(t, signer.AuthorizationSettings{}, signer.WithNetwork("bitcoin"), signer.WithPolicyAllowlist([]string{cfgEntry}))
	p := f.g.NewPayee()
	id := p.ID()
	entry := "payee:" + hex.EncodeToString(id[:])
	inv := f.g.PayeeInvoice(p, 7_000)
	tag, reason := f.pay(inv)
	f.wantRefused("before the payee is allowlisted", tag, reason, policy.TagPaymentApproved, "ctl approve 1")

	if added, err := f.e.AllowlistAdd(ctx, entry); err != nil || !added {
		t.Fatalf("AllowlistAdd: %v %v", added, err)
	}
	if added, err := f.e.AllowlistAdd(ctx, entry); err != nil || added {
		t.Fatalf("AllowlistAdd again: %v %v", added, err)
	}
	f.restart()
	cfg, run := f.e.Allowlist()
	if len(cfg) != 1 || cfg[0] != cfgEntry || len(run) != 1 || run[0] != entry {
		t.Fatalf("after a restart: config %v, run time %v", cfg, run)
	}
	inv2 := f.g.PayeeInvoice(p, 8_000)
	tag, reason = f.pay(inv2)
	f.wantApproved("a payment to a payee allowlisted before the restart", tag, reason)

	if err := f.e.AllowlistRemove(ctx, cfgEntry); err == nil || !strings.Contains(err.Error(), "configuration file") {
		t.Fatalf("removing a configuration entry: %v", err)
	}
	if err := f.e.AllowlistRemove(ctx, entry); err != nil {
		t.Fatal(err)
	}
	f.restart()
	tag, reason = f.pay(f.g.PayeeInvoice(p, 9_000))
	f.wantRefused("after the entry was removed and a restart", tag, reason, policy.TagPaymentApproved, "not authorized")

	for _, bad := range []string{"payee:02", "payee:04" + strings.Repeat("11", 32), "payee:02fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f", "address:tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "xpub:nope", "nonsense"} {
		if _, err := f.e.AllowlistAdd(ctx, bad); err == nil {
			t.Errorf("AllowlistAdd(%q) accepted", bad)
		}
	}
	if _, run := f.e.Allowlist(); len(run) != 0 {
		t.Fatalf("bad entries were kept: %v", run)
	}
}

// TestVelocityAcrossRestarts: the payment limits count each payment once
// (its retries and _check forms too), hold across a restart, refuse with
// their tag and ask the operator, whose approval passes the limit; the
// window slides.
func TestVelocityAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	f := newAuthFixture(t, signer.AuthorizationSettings{AutoApproveBelowMsat: 1 << 40,
		Payments: policy.VelocityLimit{PerHour: 250_000, PerDay: 400_000}})
	p := f.g.NewPayee()
	inv1 := f.g.PayeeInvoice(p, 200_000)
	tag, reason := f.pay(inv1)
	f.wantApproved("the first payment", tag, reason)
	tag, reason = f.pay(inv1)
	f.wantApproved("its retry (counted once)", tag, reason)
	tag, reason = f.send(&hsmproto.PreapproveInvoiceCheck{Invstring: inv1})
	f.wantApproved("its _check form", tag, reason)
	u, err := f.e.Velocity()
	if err != nil || u.PaymentsHourMsat != 200_000 || u.PaymentsDayMsat != 200_000 || u.PaymentsHourLimit != 250_000 {
		t.Fatalf("use %+v %v", u, err)
	}

	f.restart()
	inv2 := f.g.PayeeInvoice(p, 100_000)
	tag, reason = f.pay(inv2)
	f.wantRefused("past the hourly limit after a restart", tag, reason, policy.TagPaymentVelocity, "in the last hour, above the limit of 250000 msat")
	f.now = f.now.Add(61 * time.Minute)
	tag, reason = f.pay(inv2)
	f.wantRefused("an hour later, the same payment, whose approval timed out", tag, reason, policy.TagPaymentApproved, "approval 1 timed out")
	inv3 := f.g.PayeeInvoice(p, 150_000)
	tag, reason = f.pay(inv3)
	f.wantApproved("an hour later, a new payment within both limits", tag, reason)
	inv4 := f.g.PayeeInvoice(p, 100_000)
	tag, reason = f.pay(inv4)
	f.wantRefused("past the daily limit", tag, reason, policy.TagPaymentVelocity, "in the last day, above the limit of 400000 msat")
	if _, err := f.e.Decide(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	tag, reason = f.pay(inv4)
	f.wantApproved("the operator's approval passes the limit", tag, reason)
	f.now = f.now.Add(24 * time.Hour)
	if u, _ := f.e.Velocity(); u.PaymentsDayMsat != 0 {
		t.Fatalf("a day later the use is %+v", u)
	}
}

// authorizationTags are the tags of the authorization decision, each
// tested in every mode by TestAuthorizationTagsEveryMode.
var authorizationTags = map[string]bool{
	policy.TagPaymentApproved: true, policy.TagPaymentVelocity: true, policy.TagOnchainVelocity: true,
	policy.TagChannelApproved: true,
}

// benchAuthorization auto-approves the payments and channels of generated
// traffic (the benchmarks' own).
var benchAuthorization = signer.WithAuthorization(signer.AuthorizationSettings{AutoApproveBelowMsat: 1 << 62, AutoApproveChannelsBelowSat: 1 << 62})

// failingIntents fails to check any intent.
type failingIntents struct{}

func (failingIntents) Authorize(context.Context, signer.Client, hsmproto.Message) (*signer.Intent, error) {
	return nil, errors.New("the intent's signature field does not decode")
}

// TestFailingIntentSource: an intent source that fails is no ground, but
// the other grounds still hold, and a refusal says why the intents did
// not count.
func TestFailingIntentSource(t *testing.T) {
	f := newAuthFixture(t, signer.AuthorizationSettings{AutoApproveBelowMsat: 6_000}, signer.WithIntentSource(failingIntents{}))
	tag, reason := f.pay(f.g.PayeeInvoice(f.g.NewPayee(), 5_000))
	f.wantApproved("a payment below the threshold", tag, reason)
	tag, reason = f.pay(f.g.PayeeInvoice(f.g.NewPayee(), 7_000))
	f.wantRefused("a payment above it", tag, reason, policy.TagPaymentApproved, "the intents attached could not be used: the intent's signature field does not decode")
}

// BenchmarkPreapproveAuthorization answers the same preapprove_invoice
// with a bare engine and with one that decides authorization (state
// store; a ground found, nothing written), alternating the two in every
// round, and reports each one's time and their ratio. With a payee
// allowlisted the invoice's payee is recovered from its signature once,
// then read from the engine's cache (the same invoice every round: the
// node's retries and _check forms); below the auto-approve threshold it
// is not recovered at all.
func BenchmarkPreapproveAuthorization(b *testing.B) {
	for _, tc := range []struct {
		name string
		opt  func(id [33]byte) signer.Option
	}{
		{"auto-approve", func([33]byte) signer.Option {
			return signer.WithAuthorization(signer.AuthorizationSettings{AutoApproveBelowMsat: 1 << 40})
		}},
		{"payee-allowlisted", func(id [33]byte) signer.Option {
			return signer.WithPolicyAllowlist([]string{"payee:" + hex.EncodeToString(id[:])})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			bare, err := signer.NewEngine(bytes.Repeat([]byte{authSeed}, 32))
			if err != nil {
				b.Fatal(err)
			}
			st, err := state.Open(filepath.Join(b.TempDir(), state.FileName))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			init, _ := bare.InitReply("bitcoin")
			g, err := traffic.New(init, traffic.EngineSender(bare), traffic.Options{Seed: 7})
			if err != nil {
				b.Fatal(err)
			}
			p := g.NewPayee()
			authorizing, err := signer.NewEngine(bytes.Repeat([]byte{authSeed}, 32), signer.WithState(st), tc.opt(p.ID()))
			if err != nil {
				b.Fatal(err)
			}
			raw := (&hsmproto.PreapproveInvoice{Invstring: g.PayeeInvoice(p, 5_000)}).Encode()
			var tBare, tAuth time.Duration
			rounds := 0
			for b.Loop() {
				for _, x := range []struct {
					e *signer.Engine
					d *time.Duration
				}{{bare, &tBare}, {authorizing, &tAuth}} {
					start := time.Now()
					if _, err := x.e.Handle(ctx, signer.MasterClient, raw); err != nil {
						b.Fatal(err)
					}
					*x.d += time.Since(start)
				}
				rounds++
			}
			b.ReportMetric(float64(tBare.Nanoseconds())/float64(rounds), "bare-ns/op")
			b.ReportMetric(float64(tAuth.Nanoseconds())/float64(rounds), "authorizing-ns/op")
			b.ReportMetric(float64(tAuth)/float64(tBare), "authorizing/bare")
			b.ReportMetric(float64(st.Stats().Commits)/float64(rounds), "commits/op")
		})
	}
}
