package signer

import (
	"gl-signerd/hsmproto"
	"gl-signerd/signer/state"
)

// The routing balance of the HTLCs we offer (policy.CheckRoutingBalance):
// the invoices and keysends the node preapproved are in node state (the
// preapprove_* recorders, state_record.go); incoming HTLCs are in the
// channels' commitments.

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
