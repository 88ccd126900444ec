package signer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// Authorization: whether the user or the operator wants what a request
// sends out of the node. A payment (preapprove_invoice, preapprove_keysend
// and their _check forms), a withdrawal output that pays neither our
// wallet nor a channel, a cooperative close none of whose outputs is ours
// — each is signed only when an intent of the user's asks for it
// (IntentSource), its destination is allowlisted (a payee's node id, an
// address or xpub), the operator approved it, or (payments of a known
// amount) it is below the auto-approve threshold; and payments and
// withdrawals stay within the velocity limits unless the operator
// approved them. Otherwise the request is refused with its tag and the
// operator is asked: a pending approval (gl-signerd ctl approve|deny). A
// payment is refused as hsmd refuses one, with approved=false (declined);
// its tag and reason go to the AuthorizationReporter (the audit log).
//
// The decision needs the state store (approvals, the run-time allowlist
// and the velocity count live there): a stateless engine, like CLN's
// hsmd, authorizes nothing and refuses nothing here. With the policy off
// nothing is asked either. The decision and what it records (a pending
// approval, the spend counted) are committed before the answer leaves.

// AuthorizationSettings are the operator's settings of the decision.
type AuthorizationSettings struct {
	// AutoApproveBelowMsat: payments of a known amount below it need no
	// other ground (0: none).
	AutoApproveBelowMsat uint64
	// AutoApproveChannelsBelowSat: channels we fund with a capacity
	// below it need no other ground (0: none).
	AutoApproveChannelsBelowSat uint64
	// ApprovalTimeout is how long a pending approval waits for the
	// operator; ApprovalValidFor how long an approved request may be
	// retried. Zero takes the default (an hour each).
	ApprovalTimeout, ApprovalValidFor time.Duration
	// Payments (msat) and Withdrawals (sat) are the velocity limits.
	Payments, Withdrawals policy.VelocityLimit
}

// Defaults of AuthorizationSettings.
const (
	DefaultApprovalTimeout  = time.Hour
	DefaultApprovalValidFor = time.Hour
	// approvalRetention is how long a decided approval is kept after it
	// ends, so that the node's retries meet the same final answer.
	approvalRetention = 24 * time.Hour
	// maxPendingApprovals bounds the operator's queue: a hostile node
	// could otherwise fill it with payments nobody asked for.
	maxPendingApprovals = 100
)

// WithAuthorization sets the operator's authorization settings.
func WithAuthorization(a AuthorizationSettings) Option {
	return func(o *engineOptions) { o.authorization = a }
}

// AuthorizationEvent is one authorization decision, or one decision of
// the operator's: for the audit log.
type AuthorizationEvent struct {
	// Event is "authorized", "refused", "approval-requested",
	// "approved", "denied", "allowlist-added", "allowlist-removed".
	Event string
	// MsgType is the request's type (0 for an operator's action).
	MsgType uint16
	Client  Client
	// Kind is what the request does: payment, withdrawal, close.
	Kind string
	// Summary says what, By on which ground ("intent", "allowlist",
	// "approval", "auto-approve", "warn"); Tag and Reason why it was
	// refused.
	Summary, By, Tag, Reason string
	ApprovalID               uint64
}

// AuthorizationReporter hears of every authorization decision, before the
// request's answer leaves. It must not block for long.
type AuthorizationReporter func(AuthorizationEvent)

// WithAuthorizationReporter sets who hears of authorization decisions.
func WithAuthorizationReporter(r AuthorizationReporter) Option {
	return func(o *engineOptions) { o.authReport = r }
}

// authRequest is what a request asks to be authorized.
type authRequest struct {
	kind state.ApprovalKind
	// key names the request for approvals and the velocity count.
	key [32]byte
	// tag is the refusal's tag; what describes the request in reasons.
	tag, what string
	// detail, if set, describes the request better than what at a cost
	// (an invoice's payee recovered from its signature): for refusals,
	// which the operator reads.
	detail func() string
	// amountMsat is the amount (0: unknown).
	amountMsat  uint64
	allowlisted bool
	autoApprove bool
	// velocity is the amount the velocity limit counts, in lim's unit;
	// count is false when nothing is counted (a check-only request).
	velocity    uint64
	velocityLim *policy.VelocityLimit
	velocityTag string
	count       bool
	// unknownAmount: a payment of an amount the invoice does not say.
	unknownAmount bool
}

// authorize decides r for request m; nil means it may be signed.
func (e *Engine) authorize(ctx context.Context, c Client, m hsmproto.Message, r authRequest) error {
	t := m.MsgType()
	// An intent source that fails gives no ground (the node chooses what
	// it attaches); the other grounds still hold.
	intent, intentErr := e.intentFor(ctx, c, m)
	if intentErr != nil {
		intent = nil
	}
	set := e.authSettings
	var ev AuthorizationEvent
	var refusal *policy.Violation
	err := e.state.UpdateOperator(ctx, func(op *state.Operator) error {
		now := e.policy.now()
		expireApprovals(op, now, set)
		a, _ := op.Approval(r.kind, r.key)
		g := policy.Grounds{Allowlisted: r.allowlisted, BelowAutoApprove: r.autoApprove && r.amountMsat > 0}
		if intent != nil {
			g.Intent = intent.Summary
			if g.Intent == "" {
				g.Intent = intent.Method
			}
		}
		if a != nil {
			g.Approval, g.ApprovalID = approvalGround(a.Status), a.ID
		}
		by, v := policy.Authorize(r.tag, r.what, g)
		// The velocity limits hold whatever the ground, except the
		// operator's own approval of this request.
		approved := a != nil && a.Status == state.ApprovalApproved
		limited := r.velocityLim != nil && (r.velocityLim.PerHour > 0 || r.velocityLim.PerDay > 0)
		if v == nil && limited && !approved && !op.Spent(r.kind, r.key) {
			if r.unknownAmount {
				v = &policy.Violation{Tag: r.velocityTag, Reason: r.what + " has no amount, so the velocity limits cannot count it; only the operator can approve it"}
			} else {
				v = policy.CheckVelocity(r.velocityTag, spentOf(op, r.kind), r.velocity, now.Unix(), *r.velocityLim)
			}
		}
		what := r.what
		if v != nil && r.detail != nil {
			what = r.detail()
			v = &policy.Violation{Tag: v.Tag, Reason: strings.Replace(v.Reason, r.what, what, 1)}
		}
		ev = AuthorizationEvent{MsgType: t, Client: c, Kind: r.kind.String(), Summary: what, By: by, ApprovalID: g.ApprovalID}
		if v != nil && e.warnsOf(v.Tag) {
			e.reportViolation(c, t, v)
			v, ev.By = nil, "warn"
		}
		if v != nil {
			if intentErr != nil {
				v = &policy.Violation{Tag: v.Tag, Reason: v.Reason + "; the intents attached could not be used: " + intentErr.Error()}
			}
			refusal = v
			ev.Event, ev.Tag, ev.Reason = "refused", v.Tag, v.Reason
			if a == nil {
				r.what = what
				id, ok := addApproval(op, r, now)
				if ok {
					ev.Event, ev.ApprovalID = "approval-requested", id
					refusal = &policy.Violation{Tag: v.Tag, Reason: fmt.Sprintf("%s; the operator is asked: gl-signerd ctl approve %d", v.Reason, id)}
				} else {
					refusal = &policy.Violation{Tag: v.Tag, Reason: v.Reason + fmt.Sprintf("; %d approvals are already pending, so the operator is not asked", maxPendingApprovals)}
				}
				ev.Reason = refusal.Reason
			}
			return nil
		}
		ev.Event = "authorized"
		// Spends are counted while a limit is set: without one, a
		// payment writes nothing.
		if r.count && limited && !op.Spent(r.kind, r.key) && len(op.Spends) < state.MaxSpends {
			op.Spends = append(op.Spends, state.Spend{Kind: r.kind, Key: r.key, Amount: r.velocity, Time: now.Unix()})
		}
		return nil
	})
	if err != nil {
		return &RefusalError{MsgType: t, Tag: r.tag, Reason: "the signer could not record its authorization decision", Err: err}
	}
	if e.authReport != nil {
		e.authReport(ev)
	}
	if refusal != nil {
		return &RefusalError{MsgType: t, Tag: refusal.Tag, Reason: refusal.Reason}
	}
	return nil
}

// warnsOf reports whether a violation of tag is signed and reported
// rather than refused (policy mode warn, or the tag in policy.warn).
func (e *Engine) warnsOf(tag string) bool {
	return e.policyMode == policy.ModeWarn || e.policy.warn.Matches(tag)
}

// enforces reports whether a violation of tag is refused.
func (e *Engine) enforces(tag string) bool {
	return e.policyMode == policy.ModeEnforce && !e.policy.warn.Matches(tag)
}

func (e *Engine) reportViolation(c Client, t uint16, v *policy.Violation) {
	if e.policyReport != nil {
		e.policyReport(c, t, v)
	}
}

// approvalGround maps a stored status to the policy's view.
func approvalGround(s state.ApprovalStatus) policy.ApprovalState {
	switch s {
	case state.ApprovalPending:
		return policy.ApprovalPending
	case state.ApprovalApproved:
		return policy.ApprovalGranted
	case state.ApprovalDenied:
		return policy.ApprovalDenied
	case state.ApprovalTimedOut:
		return policy.ApprovalTimedOut
	}
	return policy.ApprovalNone
}

// expireApprovals times out what waited or was usable too long, and
// forgets what ended more than a day ago, with spends older than a day.
func expireApprovals(op *state.Operator, now time.Time, set AuthorizationSettings) {
	n := now.Unix()
	kept := op.Approvals[:0]
	for _, a := range op.Approvals {
		switch {
		case a.Status == state.ApprovalPending && n-a.Created >= int64(set.ApprovalTimeout/time.Second):
			a.Status, a.Decided = state.ApprovalTimedOut, n
		case a.Status == state.ApprovalApproved && n-a.Decided >= int64(set.ApprovalValidFor/time.Second):
			a.Status = state.ApprovalTimedOut
		}
		if a.Status != state.ApprovalPending && a.Status != state.ApprovalApproved && n-a.Decided >= int64(approvalRetention/time.Second) {
			continue
		}
		kept = append(kept, a)
	}
	op.Approvals = kept
	spends := op.Spends[:0]
	for _, s := range op.Spends {
		if n-s.Time < 24*3600 {
			spends = append(spends, s)
		}
	}
	op.Spends = spends
}

// addApproval adds a pending approval for r, unless too many are pending.
func addApproval(op *state.Operator, r authRequest, now time.Time) (uint64, bool) {
	pending := 0
	for _, a := range op.Approvals {
		if a.Status == state.ApprovalPending {
			pending++
		}
	}
	if pending >= maxPendingApprovals || len(op.Approvals) >= state.MaxApprovals {
		return 0, false
	}
	if op.NextApprovalID == 0 {
		op.NextApprovalID = 1
	}
	id := op.NextApprovalID
	op.NextApprovalID++
	summary := r.what
	if len(summary) > 1000 {
		summary = summary[:1000] + "…"
	}
	op.Approvals = append(op.Approvals, state.Approval{ID: id, Kind: r.kind, Status: state.ApprovalPending,
		Key: r.key, AmountMsat: r.amountMsat, Summary: summary, Created: now.Unix()})
	return id, true
}

// spentOf lists the spends of kind for the velocity check.
func spentOf(op *state.Operator, kind state.ApprovalKind) []policy.Spent {
	var out []policy.Spent
	for _, s := range op.Spends {
		if s.Kind == kind {
			out = append(out, policy.Spent{Amount: s.Amount, Time: s.Time})
		}
	}
	return out
}

// authorizing reports whether the engine makes authorization decisions.
func (e *Engine) authorizing() bool {
	return e.state != nil && e.policyMode != policy.ModeOff
}

// The authorize column of the route table.

// authorizeInvoice is the decision on preapprove_invoice(_check).
func (e *Engine) authorizeInvoice(ctx context.Context, c Client, m hsmproto.Message, invstring string, checkOnly bool) error {
	n, v := e.policyNetwork()
	if v != nil {
		return nil // the stateless check refused it already
	}
	inv, v := policy.ParseInvoiceString(invstring, n)
	if v != nil {
		return nil
	}
	// The payee is the n field, or the key the signature recovers: a
	// recovery (a fifth of a millisecond) is made now only when a payee is
	// allowlisted, otherwise only to tell the operator of a refusal.
	describe := func(payee string) string {
		amount := fmt.Sprintf("%d msat", inv.AmountMsat)
		if inv.AmountMsat == 0 {
			amount = "an amount the invoice leaves open"
		}
		if payee != "" {
			payee = " to " + payee
		}
		return fmt.Sprintf("a payment of %s%s (payment hash %x)", amount, payee, inv.PaymentHash[:])
	}
	what, allowlisted := describe(""), false
	detail := func() string {
		id, v := e.invoicePayee(invstring, inv)
		if v != nil {
			return describe("a payee its signature does not name")
		}
		return describe(hex.EncodeToString(id[:]))
	}
	if inv.HasPayee || e.allowlist().HasPayees() {
		id, v := e.invoicePayee(invstring, inv)
		if v != nil {
			return &RefusalError{MsgType: m.MsgType(), Tag: v.Tag, Reason: v.Reason}
		}
		what, allowlisted, detail = describe(hex.EncodeToString(id[:])), e.allowlist().HasPayee(id), nil
	}
	lim := e.authSettings.Payments
	return e.authorize(ctx, c, m, authRequest{
		kind: state.ApprovalPayment, key: inv.PaymentHash, tag: policy.TagPaymentApproved, what: what, detail: detail,
		amountMsat: inv.AmountMsat, allowlisted: allowlisted,
		autoApprove: inv.AmountMsat < e.authSettings.AutoApproveBelowMsat,
		velocity:    inv.AmountMsat, velocityLim: &lim, velocityTag: policy.TagPaymentVelocity,
		count: !checkOnly, unknownAmount: inv.AmountMsat == 0,
	})
}

// invoicePayee is policy.InvoicePayee through a cache of recovered
// payees (public data): lightningd sends preapprove_invoice_check and
// the node retries, with the same invoice.
func (e *Engine) invoicePayee(invstring string, inv *policy.Invoice) ([33]byte, *policy.Violation) {
	if inv.HasPayee {
		return inv.Payee, nil
	}
	key := sha256.Sum256([]byte(invstring))
	if id, ok := e.payees.Get(key); ok {
		return id, nil
	}
	id, v := policy.InvoicePayee(invstring, inv)
	if v == nil {
		e.payees.Add(key, id)
	}
	return id, v
}

// authorizeKeysend is the decision on preapprove_keysend(_check).
func (e *Engine) authorizeKeysend(ctx context.Context, c Client, m hsmproto.Message, dest [33]byte, hash [32]byte, amount uint64, checkOnly bool) error {
	key := sha256.Sum256(binary.BigEndian.AppendUint64(append(append([]byte("keysend"), dest[:]...), hash[:]...), amount))
	lim := e.authSettings.Payments
	return e.authorize(ctx, c, m, authRequest{
		kind: state.ApprovalPayment, key: key, tag: policy.TagPaymentApproved,
		what:       fmt.Sprintf("a keysend of %d msat to %x (payment hash %x)", amount, dest[:], hash[:]),
		amountMsat: amount, allowlisted: e.allowlist().HasPayee(dest),
		autoApprove: amount < e.authSettings.AutoApproveBelowMsat,
		velocity:    amount, velocityLim: &lim, velocityTag: policy.TagPaymentVelocity,
		count: !checkOnly, unknownAmount: amount == 0,
	})
}

func authorizePreapproveInvoice(e *Engine, ctx context.Context, c Client, m *hsmproto.PreapproveInvoice) error {
	return e.authorizeInvoice(ctx, c, m, m.Invstring, false)
}

func authorizePreapproveInvoiceCheck(e *Engine, ctx context.Context, c Client, m *hsmproto.PreapproveInvoiceCheck) error {
	return e.authorizeInvoice(ctx, c, m, m.Invstring, m.CheckOnly)
}

func authorizePreapproveKeysend(e *Engine, ctx context.Context, c Client, m *hsmproto.PreapproveKeysend) error {
	return e.authorizeKeysend(ctx, c, m, m.Destination, m.PaymentHash, uint64(m.AmountMsat), false)
}

func authorizePreapproveKeysendCheck(e *Engine, ctx context.Context, c Client, m *hsmproto.PreapproveKeysendCheck) error {
	return e.authorizeKeysend(ctx, c, m, m.Destination, m.PaymentHash, uint64(m.AmountMsat), m.CheckOnly)
}

// leaving are the outputs of a spend that leave the node: neither our
// wallet nor a P2WSH (a channel's funding output, still ours). unknown
// tells whether any of them is not allowlisted either.
func leaving(s *policy.Spend) (outs []policy.Output, unknown bool) {
	for _, o := range s.Outputs {
		if o.Ours || isP2WSHScript(o.Script) {
			continue
		}
		outs = append(outs, o)
		unknown = unknown || !o.Allowlisted
	}
	return outs, unknown
}

func isP2WSHScript(s []byte) bool { return len(s) == 34 && s[0] == 0x00 && s[1] == 32 }

// outputsKey names a set of outputs (a retry with other inputs or change
// is the same request).
func outputsKey(label string, outs []policy.Output) [32]byte {
	h := sha256.New()
	h.Write([]byte(label))
	for _, o := range outs {
		h.Write(binary.BigEndian.AppendUint64(nil, o.Value))
		h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(o.Script))))
		h.Write(o.Script)
	}
	return [32]byte(h.Sum(nil))
}

// describeOutputs lists outputs for the operator: value and script.
func describeOutputs(outs []policy.Output) string {
	var b strings.Builder
	for i, o := range outs {
		if i == 3 {
			fmt.Fprintf(&b, ", and %d more", len(outs)-3)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d sat to script %s", o.Value, hex.EncodeToString(o.Script))
	}
	return b.String()
}

// authorizeWithdrawal is the decision on sign_withdrawal: the channels
// it funds for us must be authorized, and so must the outputs that leave
// the node (unless all are allowlisted), which count against the
// withdrawal limits.
func authorizeWithdrawal(e *Engine, ctx context.Context, c Client, m *hsmproto.SignWithdrawal) error {
	if err := authorizeFunding(e, ctx, c, m); err != nil {
		return err
	}
	outs, unknown := leaving(e.spendOfPSBT(m.Psbt))
	if len(outs) == 0 {
		return nil
	}
	var sum uint64
	for _, o := range outs {
		sum += o.Value
	}
	lim := e.authSettings.Withdrawals
	return e.authorize(ctx, c, m, authRequest{
		kind: state.ApprovalWithdrawal, key: outputsKey("withdrawal", outs), tag: policy.TagOnchainNoUnknownOutputs,
		what:       "a withdrawal of " + describeOutputs(outs),
		amountMsat: sum * 1000, allowlisted: !unknown,
		velocity: sum, velocityLim: &lim, velocityTag: policy.TagOnchainVelocity, count: true,
	})
}

// authorizeFunding is the decision on the channels a withdrawal funds:
// each output that is the funding outpoint of a channel we fund (its
// setup_channel) opens a channel to its peer, which the user's intent,
// the peer on the allowlist (payee:<node id>), the operator's approval
// or a capacity below the channel auto-approve threshold authorizes.
func authorizeFunding(e *Engine, ctx context.Context, c Client, m *hsmproto.SignWithdrawal) error {
	if m.Psbt == nil || m.Psbt.UnsignedTx == nil {
		return nil
	}
	tx := m.Psbt.UnsignedTx
	txid := tx.TxHash()
	var funded, channels []*state.Channel
	for i, out := range tx.TxOut {
		if !isP2WSHScript(out.PkScript) {
			continue
		}
		if channels == nil {
			channels = e.state.Channels()
		}
		for _, ch := range channels {
			if s := ch.Setup; s != nil && s.IsOutbound && s.FundingTxid == txid && int(s.FundingVout) == i && ch.Status != state.StatusForgotten {
				funded = append(funded, ch)
			}
		}
	}
	for _, ch := range funded {
		s := ch.Setup
		key := sha256.Sum256(binary.BigEndian.AppendUint64(append([]byte("channel"), []byte(ch.ID.String())...), s.ChannelValueSat))
		err := e.authorize(ctx, c, m, authRequest{
			kind: state.ApprovalChannel, key: key, tag: policy.TagChannelApproved,
			what:        fmt.Sprintf("a channel of %d sat we fund with %x (dbid %d)", s.ChannelValueSat, ch.ID.Peer[:], ch.ID.DBID),
			amountMsat:  s.ChannelValueSat * 1000,
			allowlisted: e.allowlist().HasPayee(ch.ID.Peer),
			autoApprove: s.ChannelValueSat < e.authSettings.AutoApproveChannelsBelowSat,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// authorizeMutualClose is the decision on a cooperative close with more
// than one output none of which pays our wallet or the allowlist: a close
// to a foreign address, which only the user's intent or the operator
// allows. Which output carries our balance is the channel state's check.
func authorizeMutualClose(e *Engine, ctx context.Context, c Client, m *hsmproto.SignMutualCloseTx) error {
	s := e.spendOfBitcoinTx(&m.Tx, 71)
	if len(s.Outputs) < 2 {
		return nil
	}
	for _, o := range s.Outputs {
		if o.Ours || o.Allowlisted {
			return nil
		}
	}
	peer, dbid := clientChannel(c)
	return e.authorize(ctx, c, m, authRequest{
		kind: state.ApprovalClose, key: outputsKey(fmt.Sprintf("close %x/%d", peer[:], dbid), s.Outputs),
		tag:  policy.TagMutualDestinationAllowlisted,
		what: fmt.Sprintf("a close of channel %x/%d paying none of our addresses (%s)", peer[:], dbid, describeOutputs(s.Outputs)),
	})
}

// authorized builds a route's authorize column from a function of the
// decoded request's own type.
func authorized[M hsmproto.Message](fn func(*Engine, context.Context, Client, M) error) func(*Engine, context.Context, Client, hsmproto.Message) error {
	return func(e *Engine, ctx context.Context, c Client, m hsmproto.Message) error {
		if req, ok := m.(M); ok {
			return fn(e, ctx, c, req)
		}
		return nil
	}
}

// authorizedBy returns r with its authorize column set.
func (r route) authorizedBy(fn func(*Engine, context.Context, Client, hsmproto.Message) error) route {
	r.authorize = fn
	return r
}

// declined is the reply that refuses a payment the authorization refused
// (err, a policy refusal): preapprove_invoice and preapprove_keysend (and
// their _check forms) answer approved=false, which lightningd takes as
// the signer's refusal of that payment (an error would be fatal on its
// connection). nil for any other request: it is refused with err.
func declined(m hsmproto.Message, err error) hsmproto.Message {
	var re *RefusalError
	if !errors.As(err, &re) || !re.ByPolicy() {
		return nil
	}
	switch m.(type) {
	case *hsmproto.PreapproveInvoice, *hsmproto.PreapproveInvoiceCheck:
		return &hsmproto.PreapproveInvoiceReply{Approved: false}
	case *hsmproto.PreapproveKeysend, *hsmproto.PreapproveKeysendCheck:
		return &hsmproto.PreapproveKeysendReply{Approved: false}
	}
	return nil
}

// runAuthorize runs r's authorize column when the engine decides.
func (e *Engine) runAuthorize(ctx context.Context, c Client, r route, m hsmproto.Message) error {
	if r.authorize == nil || !e.authorizing() {
		return nil
	}
	err := r.authorize(e, ctx, c, m)
	var re *RefusalError
	if errors.As(err, &re) {
		re.Fatal = false
	}
	return err
}
