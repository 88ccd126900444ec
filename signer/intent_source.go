package signer

import (
	"context"

	"gl-signerd/hsmproto"
)

// IntentSource tells the engine whether the user asked for what a request
// does (a payment, a withdrawal, a channel, a close, an invoice). On
// Greenlight the node attaches the user's own recent gRPC calls to every
// request (HsmRequest.requests), each signed by one of the user's devices;
// the daemon hands them to the engine in the request's context, and an
// IntentSource verifies them and says which one, if any, asked for the
// request.
type IntentSource interface {
	// Authorize returns the verified, fresh intent among those ctx
	// carries that asks for m, or nil when none does. An intent that
	// matches is recorded as consumed by m, durably, before Authorize
	// returns: it authorizes m, and m sent again, and nothing else.
	Authorize(ctx context.Context, c Client, m hsmproto.Message) (*Intent, error)
}

// Intent is the user's request that authorized a signer request.
type Intent struct {
	// Method is the gRPC method the user called, e.g. "/cln.Node/Pay".
	Method string
	// Summary says what was asked, for logs and the audit record (never
	// a secret).
	Summary string
}

// WithIntentSource sets who verifies the user's intents (none: no request
// is authorized by intent).
func WithIntentSource(s IntentSource) Option {
	return func(o *engineOptions) { o.intents = s }
}

// intentFor is the intent that authorizes m, nil when there is none or
// the engine has no IntentSource.
func (e *Engine) intentFor(ctx context.Context, c Client, m hsmproto.Message) (*Intent, error) {
	if e.intents == nil {
		return nil, nil
	}
	return e.intents.Authorize(ctx, c, m)
}
