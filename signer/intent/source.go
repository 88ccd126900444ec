package intent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/wire"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// DefaultMaxAge is how old a call may be to authorize a request.
const DefaultMaxAge = 10 * time.Minute

// Store is what a Source keeps in the state store: the intents consumed
// (signer/state's Store).
type Store interface {
	ConsumeIntent(id [32]byte, rec state.ConsumedIntent) (state.ConsumedIntent, bool, error)
	PruneIntents(beforeMs uint64) (int, error)
	Channels() []*state.Channel
}

// Decision is one pending call judged for one signer request, for the
// audit log and the logs (no secret: ids, methods and reasons).
type Decision struct {
	Accepted bool
	// ID is the pending call's ID, hex.
	ID string
	// Method is the call's URI; Request the signer request's name.
	Method, Request string
	// Reason says why the call was refused (empty when accepted).
	Reason string
}

// Source is the engine's IntentSource: it verifies the calls a request
// carries (Verifier), maps them to the request (Matches) and consumes the
// one that matches, once (the state store).
type Source struct {
	verifier Verifier
	store    Store
	network  policy.Network
	now      func() time.Time
	report   func(Decision)
}

// SourceOption configures a Source.
type SourceOption func(*Source)

// WithClock sets the time source (tests).
func WithClock(now func() time.Time) SourceOption { return func(s *Source) { s.now = now } }

// WithReporter is told of every call judged for a request (one that asks
// for it, or of a mapped method whose body does not decode): accepted or
// refused, and why.
func WithReporter(f func(Decision)) SourceOption { return func(s *Source) { s.report = f } }

// NewSource returns the IntentSource of the node with this secret, on a
// network (CLN's name), accepting calls up to maxAge old.
func NewSource(seed []byte, network string, maxAge time.Duration, store Store, opts ...SourceOption) (*Source, error) {
	m, err := MasterFromSeed(seed)
	if err != nil {
		return nil, err
	}
	net, ok := policy.NetworkFor(network)
	if !ok {
		return nil, fmt.Errorf("intents: unknown network %q", network)
	}
	if maxAge <= 0 {
		return nil, fmt.Errorf("intents: the maximum age %s is not positive", maxAge)
	}
	if store == nil {
		return nil, fmt.Errorf("intents: no state store to remember consumed intents in")
	}
	s := &Source{verifier: Verifier{Master: m, MaxAge: maxAge}, store: store, network: net, now: time.Now, report: func(Decision) {}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// MaxJudged bounds the calls verified for one request: a node could
// attach thousands that ask for it, each a signature check and an audit
// line.
const MaxJudged = 16

// mapped are the methods whose calls can authorize a request.
var mapped = map[string]bool{
	MethodPay: true, MethodPreApproveInvoice: true, MethodTrampolinePay: true, MethodKeySend: true,
	MethodPreApproveKeysend: true, MethodWithdraw: true, MethodFundChannel: true, MethodClose: true, MethodInvoice: true,
}

// Authorizable reports whether some call can authorize m.
func Authorizable(m hsmproto.Message) bool {
	switch m.(type) {
	case *hsmproto.PreapproveInvoice, *hsmproto.PreapproveInvoiceCheck,
		*hsmproto.PreapproveKeysend, *hsmproto.PreapproveKeysendCheck,
		*hsmproto.SignWithdrawal, *hsmproto.SetupChannel,
		*hsmproto.SignMutualCloseTx, *hsmproto.SignInvoice:
		return true
	}
	return false
}

// Authorize implements signer.IntentSource: the first call in ctx that
// asks for m, verifies (Verifier) and was not consumed by another request
// is recorded as consumed by m (durably) and returned. A call consumed by
// m itself (the same bytes resent), or by another request about the same
// invoice, keysend, funded channel or close (see match), authorizes it
// again. Only calls of the
// mapped methods are judged, and only those that ask for m (or whose
// body does not decode) are reported: a node attaches every call in
// flight to every request.
func (s *Source) Authorize(ctx context.Context, c signer.Client, m hsmproto.Message) (*signer.Intent, error) {
	pending := PendingFrom(ctx)
	if len(pending) == 0 || !Authorizable(m) {
		return nil, nil
	}
	raw, err := hsmproto.Marshal(m)
	if err != nil {
		return nil, nil // not a request a node could send: nothing to authorize
	}
	now := s.now()
	reqHash := sha256.Sum256(raw)
	judged := 0
	for _, p := range pending {
		if !mapped[p.URI] {
			continue // a call that authorizes nothing (Getinfo, a WaitInvoice hours old): not judged
		}
		id := p.ID()
		d := Decision{ID: hex.EncodeToString(id[:]), Method: p.URI, Request: m.MsgName()}
		call, err := DecodeCall(p.URI, p.Request)
		if err != nil {
			d.Reason = (&Error{Field: "request", Reason: strings.TrimPrefix(err.Error(), "request: ")}).Error()
			s.report(d)
			continue
		}
		about, ok := s.match(call, c, m)
		if !ok {
			continue // a call about something else: not a refusal
		}
		purpose := reqHash
		if about != nil {
			purpose = sha256.Sum256(about)
		}
		if judged++; judged > MaxJudged {
			d.Reason = fmt.Sprintf("more than %d calls ask for this request; the rest are not judged", MaxJudged)
			s.report(d)
			break
		}
		v, err := s.verifier.Verify(p, now)
		if err != nil {
			d.Reason = err.Error()
			s.report(d)
			continue
		}
		rec, fresh, err := s.store.ConsumeIntent(id, state.ConsumedIntent{TimestampMs: p.Timestamp, Purpose: purpose, Method: p.URI})
		if err != nil {
			return nil, fmt.Errorf("could not record the intent as consumed: %w", err)
		}
		if !fresh && rec.Purpose != purpose {
			d.Reason = "the call already authorized another request; a call authorizes one payment, withdrawal, channel, close or invoice only"
			s.report(d)
			continue
		}
		if fresh {
			s.prune(now)
		}
		d.Accepted = true
		s.report(d)
		return &signer.Intent{Method: p.URI, Summary: summary(v.Call)}, nil
	}
	return nil, nil
}

// prune forgets consumed calls too old to be accepted again (twice the
// window: a call dated ahead of our clock is accepted that much later).
func (s *Source) prune(now time.Time) {
	cut := now.Add(-2 * s.verifier.MaxAge).UnixMilli()
	if cut > 0 {
		s.store.PruneIntents(uint64(cut)) // a failure only leaves records for the next prune
	}
}

func summary(c *Call) string {
	var b strings.Builder
	b.WriteString(c.Method)
	switch {
	case c.Bolt11 != "":
		fmt.Fprintf(&b, " invoice %s", shorten(c.Bolt11))
	case c.Node != nil:
		fmt.Fprintf(&b, " node %x", c.Node)
	case c.Address != "":
		fmt.Fprintf(&b, " to %s", printable(c.Address))
	case c.Description != "":
		fmt.Fprintf(&b, " description %q", printable(c.Description))
	}
	switch {
	case c.All:
		b.WriteString(" amount all")
	case c.HasAmount:
		fmt.Fprintf(&b, " amount %d msat", c.AmountMsat)
	}
	return b.String()
}

func shorten(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// Matches reports whether call asks for m, from client c:
//   - Pay, PreApproveInvoice, TrampolinePay: preapprove_invoice(_check) of
//     the same invoice;
//   - KeySend, PreApproveKeysend: preapprove_keysend(_check) to the same
//     node of the same amount (and payment hash, for PreApproveKeysend);
//   - Withdraw: sign_withdrawal with an output to its address of its
//     amount (any amount for "all");
//   - FundChannel: setup_channel of an outbound channel with that peer of
//     that value, and the sign_withdrawal of that channel's funding
//     transaction;
//   - Close with a destination: sign_mutual_close_tx with an output to it
//     (from that peer's channel, when the id is a node id);
//   - Invoice: sign_invoice of the same amount and description.
func (s *Source) Matches(call *Call, c signer.Client, m hsmproto.Message) bool {
	_, ok := s.match(call, c, m)
	return ok
}

// match is Matches, and what the call is about, when it is more than
// the request (nil: the request itself): the invoice, the keysend, the
// channel funded or closed. A call authorizes what it is about, once,
// however many requests that takes: a payment's preapprove_invoice_check
// and preapprove_invoice, a channel's setup_channel and funding
// signature, every fee round of a close.
func (s *Source) match(call *Call, c signer.Client, m hsmproto.Message) (about []byte, ok bool) {
	switch m := m.(type) {
	case *hsmproto.PreapproveInvoice:
		return s.matchInvoice(call, m.Invstring)
	case *hsmproto.PreapproveInvoiceCheck:
		return s.matchInvoice(call, m.Invstring)
	case *hsmproto.PreapproveKeysend:
		return matchKeysend(call, m.Destination, m.PaymentHash, m.AmountMsat)
	case *hsmproto.PreapproveKeysendCheck:
		return matchKeysend(call, m.Destination, m.PaymentHash, m.AmountMsat)
	case *hsmproto.SetupChannel:
		if call.Method == MethodFundChannel && bytes.Equal(call.Node, c.PeerID[:]) && m.IsOutbound &&
			(call.All || call.HasAmount && call.AmountMsat == uint64(m.ChannelValue)*1000) {
			return channelFunded(c.PeerID, m.FundingTxid, m.FundingTxout), true
		}
	case *hsmproto.SignWithdrawal:
		if m.Psbt == nil || m.Psbt.UnsignedTx == nil {
			return nil, false
		}
		switch call.Method {
		case MethodWithdraw:
			return nil, s.pays(call, m.Psbt.UnsignedTx.TxOut)
		case MethodFundChannel:
			if ch := s.funds(call, m.Psbt.UnsignedTx); ch != nil {
				return channelFunded(ch.ID.Peer, ch.Setup.FundingTxid, ch.Setup.FundingVout), true
			}
		}
	case *hsmproto.SignMutualCloseTx:
		if call.Method != MethodClose || call.Address == "" || m.Tx.Tx == nil {
			return nil, false
		}
		if peer, err := hex.DecodeString(call.CloseID); err == nil && len(peer) == 33 && !bytes.Equal(peer, c.PeerID[:]) {
			return nil, false
		}
		if s.pays(&Call{Address: call.Address, All: true}, m.Tx.Tx.TxOut) {
			about := append([]byte("close\x00"), c.PeerID[:]...)
			return binary.BigEndian.AppendUint64(about, c.DBID), true
		}
	case *hsmproto.SignInvoice:
		if call.Method != MethodInvoice {
			return nil, false
		}
		inv, v := policy.ParseInvoice(m.Hrp, m.U5bytes, s.network)
		if v != nil {
			return nil, false
		}
		if call.Any != (inv.AmountMsat == 0) || !call.Any && (!call.HasAmount || call.AmountMsat != inv.AmountMsat) {
			return nil, false
		}
		switch {
		case inv.HasDescription:
			return nil, string(inv.Description) == call.Description
		case inv.HasDescriptionHash:
			return nil, inv.DescriptionHash == sha256.Sum256([]byte(call.Description))
		}
	}
	return nil, false
}

// channelFunded names the channel a FundChannel call is about.
func channelFunded(peer [33]byte, txid [32]byte, vout uint16) []byte {
	about := append([]byte("channel\x00"), peer[:]...)
	about = append(about, txid[:]...)
	return binary.BigEndian.AppendUint16(about, vout)
}

func (s *Source) matchInvoice(call *Call, invstring string) ([]byte, bool) {
	switch call.Method {
	case MethodPay, MethodPreApproveInvoice, MethodTrampolinePay:
	default:
		return nil, false
	}
	want := strings.TrimPrefix(strings.ToLower(invstring), "lightning:")
	if call.Bolt11 == "" || call.Bolt11 != want {
		return nil, false
	}
	return append([]byte("invoice\x00"), want...), true
}

func matchKeysend(call *Call, dest hsmproto.NodeID, hash hsmproto.SHA256, amount hsmproto.AmountMsat) ([]byte, bool) {
	switch call.Method {
	case MethodKeySend:
	case MethodPreApproveKeysend:
		if !bytes.Equal(call.PaymentHash, hash[:]) {
			return nil, false
		}
	default:
		return nil, false
	}
	if !bytes.Equal(call.Node, dest[:]) || !call.HasAmount || call.AmountMsat != uint64(amount) {
		return nil, false
	}
	about := append([]byte("keysend\x00"), dest[:]...)
	about = append(about, hash[:]...)
	return binary.BigEndian.AppendUint64(about, uint64(amount)), true
}

// pays reports whether an output pays call's address call's amount (any
// amount when All).
func (s *Source) pays(call *Call, outs []*wire.TxOut) bool {
	if call.Address == "" {
		return false
	}
	dest, err := policy.ParseAllowlist([]string{"address:" + call.Address}, s.network)
	if err != nil {
		return false
	}
	for _, o := range outs {
		if !dest.Matches(o.PkScript, nil) {
			continue
		}
		if call.All || call.HasAmount && call.AmountMsat == uint64(o.Value)*1000 {
			return true
		}
	}
	return false
}

// funds returns the outbound channel with call's peer of call's amount
// that tx funds, as setup_channel declared it, or nil.
func (s *Source) funds(call *Call, tx *wire.MsgTx) *state.Channel {
	txid := tx.TxHash()
	for _, ch := range s.store.Channels() {
		st := ch.Setup
		if st == nil || !st.IsOutbound || !bytes.Equal(ch.ID.Peer[:], call.Node) || st.FundingTxid != [32]byte(txid) {
			continue
		}
		if int(st.FundingVout) >= len(tx.TxOut) || uint64(tx.TxOut[st.FundingVout].Value) != st.ChannelValueSat {
			continue
		}
		if call.All || call.HasAmount && call.AmountMsat == st.ChannelValueSat*1000 {
			return ch
		}
	}
	return nil
}

// Master is the master rune the source verifies runes against (and
// gl-signerd ctl rune create carves from).
func (s *Source) Master() *Master { return s.verifier.Master }
