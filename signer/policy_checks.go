package signer

import (
	"time"

	"gl-signerd/signer/keys"
	"gl-signerd/signer/policy"
)

// The validating signer's checks before the node key signs bytes the node
// chose (package policy), and the engine options that set them up.

// PolicyReporter is told of each violation the engine signs anyway
// (policy.ModeWarn): who asked, for which message type, and what was
// wrong.
type PolicyReporter func(c Client, msgType uint16, v *policy.Violation)

// WithPolicyMode sets what the engine does when a request breaks the
// policy: policy.ModeEnforce (the default) refuses it with a
// *RefusalError carrying the violation's tag, policy.ModeWarn signs and
// tells the PolicyReporter, policy.ModeOff skips the checks and answers
// exactly as CLN's hsmd does (for replaying CLN's vectors).
func WithPolicyMode(m policy.Mode) Option {
	return func(o *engineOptions) { o.policyMode = m }
}

// WithPolicyReporter sets who is told of the violations signed under
// policy.ModeWarn.
func WithPolicyReporter(r PolicyReporter) Option {
	return func(o *engineOptions) { o.policyReport = r }
}

// WithNetwork names the network the signer serves ("bitcoin", "testnet",
// "signet", "regtest", …), from its configuration: the policy checks
// gossip chain hashes and invoice prefixes against it, whatever an
// hsmd_init says. Without it, they use the network of the last hsmd_init,
// or bitcoin while the BIP32 versions are mainnet's.
func WithNetwork(network string) Option {
	return func(o *engineOptions) { o.network = network }
}

// WithPolicyLimits sets the numeric bounds of the on-chain checks
// (policy.DefaultLimits without it).
func WithPolicyLimits(l policy.Limits) Option {
	return func(o *engineOptions) { o.policyLimits = &l }
}

// WithPolicyWarn lists tags, or prefixes ending in *, whose violations
// are signed and reported (as under policy.ModeWarn) instead of refused.
func WithPolicyWarn(tags []string) Option {
	return func(o *engineOptions) { o.policyWarn = tags }
}

// WithPolicyAllowlist lists on-chain destinations accepted besides our
// wallet: "address:<addr>" and "xpub:<xpub>" (policy.ParseAllowlist).
// It needs the network (WithNetwork or WithFixedNetwork).
func WithPolicyAllowlist(entries []string) Option {
	return func(o *engineOptions) { o.policyAllowlist = entries }
}

// WithClock sets the clock of the invoice-expiry check (time.Now without
// it).
func WithClock(now func() time.Time) Option {
	return func(o *engineOptions) { o.now = now }
}

// PolicyMode is the mode the engine was started with.
func (e *Engine) PolicyMode() policy.Mode { return e.policyMode }

// policyNetwork is the network the checks hold requests to.
func (e *Engine) policyNetwork() (policy.Network, *policy.Violation) {
	name := e.configNetwork
	if name == "" {
		e.mu.RLock()
		name = e.network
		if name == "" && !e.initialized && e.bip32Version == keys.BIP32Mainnet {
			name = "bitcoin"
		}
		e.mu.RUnlock()
	}
	n, ok := policy.NetworkFor(name)
	if !ok {
		return policy.Network{}, &policy.Violation{Tag: policy.TagNetworkUnknown,
			Reason: "the signer does not know which network it serves (no network configured, and no hsmd_init for a network it knows), so it cannot check what it is asked to sign"}
	}
	return n, nil
}

// checkPolicy runs check (unless the policy is off) and applies the mode
// to its violation: a refusal under enforce, a report under warn.
func (e *Engine) checkPolicy(c Client, t uint16, check func() *policy.Violation) error {
	if e.policyMode == policy.ModeOff {
		return nil
	}
	v := check()
	if v == nil {
		return nil
	}
	if e.policyMode == policy.ModeWarn || e.policy.warn.Matches(v.Tag) {
		if e.policyReport != nil {
			e.policyReport(c, t, v)
		}
		return nil
	}
	return &RefusalError{MsgType: t, Tag: v.Tag, Reason: v.Reason}
}

// withNetwork runs a check that needs the network.
func (e *Engine) withNetwork(check func(policy.Network) *policy.Violation) func() *policy.Violation {
	return func() *policy.Violation {
		n, v := e.policyNetwork()
		if v != nil {
			return v
		}
		return check(n)
	}
}

// checkChannelAnnouncement is the check of a channel_announcement for
// channel (peer, dbid).
func (e *Engine) checkChannelAnnouncement(c Client, t uint16, peer [33]byte, dbid uint64, ca []byte) error {
	return e.checkPolicy(c, t, e.withNetwork(func(n policy.Network) *policy.Violation {
		ck, err := e.ring.Channel(peer, dbid)
		if err != nil {
			// The signing step reports the failure as hsmd does.
			return nil
		}
		return policy.CheckChannelAnnouncement(ca, policy.ChannelAnnouncementCheck{
			Network: n, OurNodeID: e.ring.NodeID(), PeerID: peer, FundingKey: ck.FundingPubKeyCompressed(),
		})
	}))
}
