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
// with a fresh payment hash.
// An amount of 0 makes an invoice without one.
func (g *Generator) PayeeInvoice(p *Payee, amountMsat uint64) string {
	rng := g.newRand()
	return g.peerInvoice(p.p, amountMsat, randBytes32(rng), rng)
}

// PreapproveInvoice asks the signer to preapprove paying inv, as
// lightningd does before paying; a refusal is a *RefusedError.
func (g *Generator) PreapproveInvoice(ctx context.Context, name, inv string) error {
	_, err := ask(ctx, g, name, signer.MasterClient, &hsmproto.PreapproveInvoice{Invstring: inv},
		func(r *hsmproto.PreapproveInvoiceReply) error {
			if !r.Approved {
				return errors.New("the invoice was answered approved=false")
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("preapprove_invoice: %w", err)
	}
	return nil
}
