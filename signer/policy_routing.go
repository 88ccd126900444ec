package signer

import (
	"gl-signerd/hsmproto"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// The routing balance of the HTLCs we offer (policy.CheckRoutingBalance):
// the engine remembers the invoices and keysends it preapproved (node
// state) and finds incoming HTLCs in the channels' commitments.

func init() {
	// The preapproved invoices and keysends, unless the recorders table
	// already records them. The _check forms are answered with the plain
	// forms' replies, as CLN's hsmd does.
	for t, r := range map[uint16]recorder{
		hsmproto.TypePreapproveInvoice:      record(nil, true, recordPreapproveInvoice),
		hsmproto.TypePreapproveInvoiceCheck: record(nil, true, recordPreapproveInvoiceCheck),
		hsmproto.TypePreapproveKeysend:      record(nil, true, recordPreapproveKeysend),
		hsmproto.TypePreapproveKeysendCheck: record(nil, true, recordPreapproveKeysendCheck),
	} {
		if _, ok := recorders[t]; !ok {
			recorders[t] = r
		}
	}
}

func rememberInvoice(n *state.Node, inv state.Invoice) {
	for _, x := range n.Invoices {
		if x.PaymentHash == inv.PaymentHash {
			return
		}
	}
	n.Invoices = append(n.Invoices, inv)
}

func (e *Engine) rememberInvoiceString(n *state.Node, invstring string) {
	net, v := e.policyNetwork()
	if v != nil {
		return
	}
	inv, v := policy.ParseInvoiceString(invstring, net)
	if v != nil || !inv.HasPaymentHash {
		return
	}
	rememberInvoice(n, state.Invoice{PaymentHash: inv.PaymentHash, AmountMsat: inv.AmountMsat, Expiry: inv.Timestamp + inv.ExpirySeconds})
}

func recordPreapproveInvoice(e *Engine, _ Client, req *hsmproto.PreapproveInvoice, reply *hsmproto.PreapproveInvoiceReply, _ *state.Channel, n *state.Node) {
	if reply.Approved {
		e.rememberInvoiceString(n, req.Invstring)
	}
}

func recordPreapproveInvoiceCheck(e *Engine, _ Client, req *hsmproto.PreapproveInvoiceCheck, reply *hsmproto.PreapproveInvoiceReply, _ *state.Channel, n *state.Node) {
	if reply.Approved && !req.CheckOnly {
		e.rememberInvoiceString(n, req.Invstring)
	}
}

func recordPreapproveKeysend(_ *Engine, _ Client, req *hsmproto.PreapproveKeysend, reply *hsmproto.PreapproveKeysendReply, _ *state.Channel, n *state.Node) {
	if reply.Approved {
		rememberInvoice(n, state.Invoice{PaymentHash: req.PaymentHash, AmountMsat: uint64(req.AmountMsat), Keysend: true})
	}
}

func recordPreapproveKeysendCheck(_ *Engine, _ Client, req *hsmproto.PreapproveKeysendCheck, reply *hsmproto.PreapproveKeysendReply, _ *state.Channel, n *state.Node) {
	if reply.Approved && !req.CheckOnly {
		rememberInvoice(n, state.Invoice{PaymentHash: req.PaymentHash, AmountMsat: uint64(req.AmountMsat), Keysend: true})
	}
}

// newlyOffered are the payment hashes of the HTLCs we offer in htlcs that
// prev (the previous commitment of the same side; nil: none) did not
// have.
func newlyOffered(htlcs []hsmproto.HsmHtlc, prev *state.Commitment) [][32]byte {
	var out [][32]byte
	seen := map[state.HTLC]int{}
	if prev != nil {
		for _, h := range prev.HTLCs {
			if h.Offered {
				seen[h]++
			}
		}
	}
	for _, h := range htlcs {
		if h.Side != hsmproto.Local {
			continue
		}
		k := state.HTLC{Offered: true, AmountMsat: uint64(h.Amount), PaymentHash: h.PaymentHash, CltvExpiry: h.CltvExpiry}
		if seen[k] > 0 {
			seen[k]--
			continue
		}
		out = append(out, h.PaymentHash)
	}
	return out
}

// routingBalanced reports whether payment hash h is preapproved or has an
// incoming HTLC on some channel (s's copies; ch is the request's own
// channel as the snapshot holds it).
func routingBalanced(s Snapshot, ch *state.Channel) func([32]byte) bool {
	var channels []*state.Channel
	return func(h [32]byte) bool {
		for _, inv := range s.NodeState().Invoices {
			if inv.PaymentHash == h {
				return true
			}
		}
		if channels == nil {
			channels = append(s.Channels(), ch)
		}
		for _, c := range channels {
			for _, cm := range []*state.Commitment{c.LastHolder, c.LastCounterparty} {
				if cm == nil {
					continue
				}
				for _, x := range cm.HTLCs {
					if !x.Offered && x.PaymentHash == h {
						return true
					}
				}
			}
		}
		return false
	}
}
