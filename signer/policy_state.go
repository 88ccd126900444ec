package signer

import (
	"context"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// The policy checks that need what the signer remembers (a route's
// stateCheck). With a state store, Handle runs a route's stateCheck after
// its stateless check: for a request that changes state (a row of the
// recorders table), under the channel's lock, on the very snapshot the
// answer will change, so no other request for that channel slips between
// the check and the commit; for any other request, on copies read from the
// store. A violation refuses the request (or is reported, under warn, or
// in policy.warn) and nothing is committed. A stateless engine (no
// WithState) runs no state checks.

// Snapshot is what a state check may read. It must not change anything.
type Snapshot struct {
	// Channel is the channel the request changes, as its answer will
	// find it; nil when the request changes no channel.
	Channel *state.Channel
	// Node is the node-wide state when the request changes it; nil
	// otherwise (NodeState reads a copy).
	Node *state.Node

	store *state.Store
}

// LookupChannel returns a copy of channel id's state, and whether the
// signer knows it.
func (s Snapshot) LookupChannel(id state.ChannelID) (*state.Channel, bool) {
	return s.store.Channel(id)
}

// Channels returns a copy of every channel's state.
func (s Snapshot) Channels() []*state.Channel { return s.store.Channels() }

// NodeState returns the node-wide state: Node when the request changes
// it, otherwise a copy read from the store.
func (s Snapshot) NodeState() *state.Node {
	if s.Node != nil {
		return s.Node
	}
	return s.store.Node()
}

// guarded builds a route with a stateless check (nil: none) and a check
// on the signer's state, each taking the decoded request's own type:
// {capability, class, check, state check, handler} in one row. The state
// check gets the request's context (which carries, on Greenlight, the
// user's pending requests: see IntentSource).
func guarded[M hsmproto.Message](capability uint64, class Class, check func(*Engine, Client, M) *policy.Violation, stateCheck func(*Engine, context.Context, Client, M, Snapshot) *policy.Violation, fn func(*Engine, Client, M) (hsmproto.Message, error)) route {
	r := on(capability, class, fn)
	if check != nil {
		r = checked(capability, class, check, fn)
	}
	r.stateCheck = func(e *Engine, ctx context.Context, c Client, m hsmproto.Message, s Snapshot) *policy.Violation {
		if req, ok := m.(M); ok {
			return stateCheck(e, ctx, c, req, s)
		}
		return nil
	}
	return r
}

// checkState runs r's state check on s under the policy mode.
func (e *Engine) checkState(ctx context.Context, c Client, r route, m hsmproto.Message, s Snapshot) error {
	if r.stateCheck == nil {
		return nil
	}
	s.store = e.state
	return e.checkPolicy(c, m.MsgType(), func() *policy.Violation { return r.stateCheck(e, ctx, c, m, s) })
}
