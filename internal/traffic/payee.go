package traffic

import (
	"context"
	"errors"
	"fmt"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
)

// Payee is a node we pay without a channel to it (the payment goes through
// some channel's peer): it issues signed invoices. The demo's payment
// story and the authorization tests use it.
type Payee struct {
	p *peer
}

// ID is the payee's node id.
func (p *Payee) ID() [33]byte { return p.p.id }

// NewPayee makes a payee with a key of its own.
func (g *Generator) NewPayee() *Payee { return &Payee{p: newPeer(g.newRand())} }

// PayeeInvoice is an invoice the payee issues and signs for amountMsat,
// with a fresh payment hash. An amount of 0 makes an invoice without one.
func (g *Generator) PayeeInvoice(p *Payee, amountMsat uint64) string {
	rng := g.newRand()
	return g.peerInvoice(p.p, amountMsat, randBytes32(rng), rng)
}

// ErrDeclined is a preapprove_invoice answered approved=false: the signer
// does not want the payment made.
var ErrDeclined = errors.New("the signer declined the payment (approved=false)")

// PreapproveInvoice asks the signer to preapprove paying inv, as
// lightningd does before paying: nil when approved, ErrDeclined when not,
// a *RefusedError when refused. The oracle is not asked (a stateless
// engine approves every payment: whether to pay is the signer's own
// decision), and the request is not counted in Stats.
func (g *Generator) PreapproveInvoice(ctx context.Context, name, inv string) error {
	raw, err := g.send(ctx, Request{Name: name, Client: signer.MasterClient, Raw: (&hsmproto.PreapproveInvoice{Invstring: inv}).Encode()})
	if err != nil {
		return err
	}
	m, err := hsmproto.Decode(raw)
	if err != nil {
		return fmt.Errorf("%s: the reply does not decode: %w", name, err)
	}
	r, ok := m.(*hsmproto.PreapproveInvoiceReply)
	if !ok {
		return fmt.Errorf("%s: the reply is %s, not hsmd_preapprove_invoice_reply", name, m.MsgName())
	}
	if !r.Approved {
		return ErrDeclined
	}
	return nil
}
