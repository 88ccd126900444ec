// Package signing is the one seam between the node and the keys: it turns
// each hsmd request the streamer receives into a call of the signing engine
// and the engine's answer into the streamer's response.
//
//	h := signing.NewHandler(engine, signing.Options{Audit: auditLog, Observe: metrics.Observe})
//	streamer.New(streamer.Config{Handler: h, ...})
//
// Handler.HandleHsmRequest, in order:
//
//  1. refuses hsmd_sign_message (type 23) from the node: a scheduler
//     challenge (register, recover) is signed exactly that way, so a node
//     that could get one signed could take the account over. Greenlight's
//     own signer refuses it too. The engine itself still answers it (for
//     replaying CLN's vectors);
//  2. refuses hsmd_init (type 11) from the node: a Greenlight node never
//     forwards it (lightningd's hsmd_init is answered by the node from the
//     init message we registered), and it would let the node choose the
//     wire version (5 makes get_per_commitment_point return old secrets)
//     and the network. The engine's version and network come from our
//     configuration only (signer.WithFixedNetwork, which refuses it too);
//  3. while the daemon is paused (gl-signerd ctl pause), answers only the
//     requests the engine's route table classes as signer.Public (public
//     keys and points, checks, channel set-up records) and refuses every
//     one that signs (or approves a payment) or reveals a secret:
//     get_per_commitment_point (old secrets at version 5), ecdh (a shared
//     secret), derive_secret, revoke_commitment_tx;
//  4. otherwise calls Engine.Handle with the request's hsmd client
//     (signer.MasterClient for lightningd's own connection);
//  5. records the decision in the audit log (written, and fsynced as
//     audit.Options says) and tells observers
//     (metrics, status) before answering. A decision that cannot be
//     audited is refused: the daemon does not sign what it cannot record.
//
// A refusal becomes the response's error text, which the streamer sends to
// the node and reports to Greenlight (ReportSignerRejection); it is never
// reported twice. Each refusal carries a stable tag (Decision.Tag) for
// metrics and filters; the prose may change.
//
// A policy layer or signer-state sync wraps Handler (it is an ordinary
// streamer.RequestHandler) or the Engine interface, without touching the
// stream code.
package signing

import (
	"context"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/audit"
	"gl-signerd/signer"
	"gl-signerd/signer/intent"
	"gl-signerd/streamer"
)

// Engine answers hsmd requests; *signer.Engine implements it.
type Engine interface {
	Handle(ctx context.Context, c signer.Client, raw []byte) ([]byte, error)
}

// Auditor records decisions before they are answered; *audit.Log
// implements it.
type Auditor interface {
	Append(ctx context.Context, r audit.Record) error
}

// Refusal tags: stable names of why a request was refused.
const (
	TagSignMessage = "sign-message-from-node"
	TagInit        = "init-from-node"
	TagPaused      = "paused"
	TagCapability  = signer.TagCapability
	TagParse       = signer.TagParse
	TagEngine      = signer.TagEngine
	TagAudit       = "audit"
	TagInternal    = "internal"
)

// Outcomes, as in the audit log.
const (
	Answered = audit.OutcomeAnswered
	Refused  = audit.OutcomeRefused
)

// Decision is what happened to one request.
type Decision struct {
	Time      time.Time
	RequestID uint32
	Type      uint16
	// TypeName is the CLN name ("hsmd_sign_withdrawal"), or
	// "unknown_<n>" for a type CLN does not define.
	TypeName string
	// Client is who asked; Client.IsMaster() says whether it is
	// lightningd's own connection.
	Client   signer.Client
	Outcome  string
	Tag      string // refusals only
	Reason   string // refusals only: the error text sent to the node
	Duration time.Duration
}

// Options configures a Handler.
type Options struct {
	// Audit, if set, records every decision before it is answered.
	Audit Auditor
	// Observe, if set, is called once per decision, after auditing.
	Observe func(Decision)
	Logger  *zap.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Handler is the streamer.RequestHandler of the daemon. It is safe for
// concurrent use.
type Handler struct {
	engine Engine
	opts   Options
	log    *zap.Logger

	mu          sync.Mutex
	paused      bool
	pauseReason string
	pausedAt    time.Time
	// resumed is closed by Resume; Handle's held requests wait on it.
	resumed chan struct{}
	// seq numbers Handle's requests (lightningd's have no id).
	seq atomic.Uint32
}

var _ streamer.RequestHandler = (*Handler)(nil)

// NewHandler returns a Handler over engine.
func NewHandler(engine Engine, opts Options) *Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Handler{engine: engine, opts: opts, log: log}
}

// PauseState says whether the handler is paused, since when and why.
type PauseState struct {
	Paused bool
	Reason string
	Since  time.Time
}

// Pause makes the handler refuse every request that signs or reveals a
// secret (all but signer.Public routes) until Resume. reason (may
// be empty) goes into the refusals. Pausing again updates the reason.
func (h *Handler) Pause(reason string) PauseState {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.paused {
		h.pausedAt = h.opts.Now()
		h.resumed = make(chan struct{})
	}
	h.paused, h.pauseReason = true, reason
	h.log.Warn("signing paused", zap.String("reason", reason))
	return PauseState{Paused: true, Reason: reason, Since: h.pausedAt}
}

// Resume ends a pause.
func (h *Handler) Resume() PauseState {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.paused {
		h.log.Info("signing resumed", zap.Duration("paused_for", h.opts.Now().Sub(h.pausedAt)))
		close(h.resumed)
	}
	h.paused, h.pauseReason, h.pausedAt = false, "", time.Time{}
	return PauseState{}
}

// Paused returns the pause state.
func (h *Handler) Paused() PauseState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return PauseState{Paused: h.paused, Reason: h.pauseReason, Since: h.pausedAt}
}

// ClientOf is the hsmd client a request came from: the request context's
// peer, dbid and capabilities, or lightningd's own connection when there is
// no context.
func ClientOf(rc *streamer.RequestContext) signer.Client {
	if rc == nil {
		return signer.MasterClient
	}
	return signer.Client{PeerID: rc.PeerID, DBID: rc.DBID, Capabilities: rc.Capabilities}
}

// TypeName is the CLN name of an hsmd message type, or "unknown_<n>".
func TypeName(t uint16) string { return hsmproto.MessageName(t) }

// HandleHsmRequest answers one request; see the package documentation.
func (h *Handler) HandleHsmRequest(ctx context.Context, req streamer.Request) streamer.Response {
	start := h.opts.Now()
	t := req.Type()
	d := Decision{
		Time:      start,
		RequestID: req.ID,
		Type:      t,
		TypeName:  TypeName(t),
		Client:    ClientOf(req.Context),
	}
	var reply []byte
	var err error
	switch p := h.Paused(); {
	case t == hsmproto.TypeSignMessage:
		d.Tag, err = TagSignMessage, errors.New("refusing hsmd_sign_message from the node: "+
			"the node key signs Greenlight's register and recover challenges this way, so it only signs messages asked for locally")
	case t == hsmproto.TypeInit:
		d.Tag, err = TagInit, errors.New("refusing hsmd_init from the node: a Greenlight node never forwards it, "+
			"and the signer's wire version (6) and network come from its own configuration")
	case p.Paused && !answeredWhilePaused[t]:
		msg := "the signer is paused by its operator (gl-signerd ctl resume continues)"
		if p.Reason != "" {
			msg += ": " + p.Reason
		}
		d.Tag, err = TagPaused, errors.New(msg)
	default:
		reply, err = h.engine.Handle(intent.WithPending(ctx, pendingOf(req.Requests)), d.Client, req.Raw)
		if err != nil && ctx.Err() != nil {
			// The stream is gone: nothing is answered, the node replays
			// the request to the next signer, and nothing was decided.
			return streamer.Response{Err: ctx.Err()}
		}
		if err != nil {
			orig := err
			if d.Tag, err = refusalTag(err); d.Tag == TagInternal {
				h.log.Error("the signing engine failed", zap.Uint32("request_id", req.ID),
					zap.String("type", d.TypeName), zap.Error(orig))
			}
		}
	}
	d.Duration = h.opts.Now().Sub(start)
	if err == nil {
		d.Outcome = Answered
	} else {
		d.Outcome, d.Reason = Refused, err.Error()
	}

	if h.opts.Audit != nil {
		if aerr := h.opts.Audit.Append(ctx, record(d)); aerr != nil {
			if ctx.Err() != nil {
				return streamer.Response{Err: ctx.Err()}
			}
			h.log.Error("cannot write the audit log; refusing the request", zap.Uint32("request_id", req.ID),
				zap.String("type", d.TypeName), zap.Error(aerr))
			reply = nil
			err = errors.New("the signer cannot record this decision in its audit log, so it refuses the request")
			d.Outcome, d.Tag, d.Reason = Refused, TagAudit, err.Error()
		}
	}
	if h.opts.Observe != nil {
		h.opts.Observe(d)
	}
	// Check first: the fields are not built when debug is off (every
	// request passes here).
	if err != nil {
		// The streamer logs every refusal it sends; this adds the tag.
		if ce := h.log.Check(zap.DebugLevel, "refused a request"); ce != nil {
			ce.Write(zap.Uint32("request_id", req.ID), zap.String("type", d.TypeName),
				zap.String("tag", d.Tag), zap.String("reason", d.Reason))
		}
		return streamer.Response{Err: err}
	}
	if ce := h.log.Check(zap.DebugLevel, "answered a request"); ce != nil {
		ce.Write(zap.Uint32("request_id", req.ID), zap.String("type", d.TypeName),
			zap.Duration("took", d.Duration))
	}
	return streamer.Response{Raw: reply, SignerState: h.stateUpdates()}
}

// answeredWhilePaused lists the requests a paused signer still answers:
// those the engine's route table classes as public data. Nothing on it
// signs, approves a payment or returns a secret.
var answeredWhilePaused = func() map[uint16]bool {
	m := map[uint16]bool{}
	for t, c := range signer.Classes() {
		if c == signer.Public {
			m[t] = true
		}
	}
	return m
}()

// refusalTag is the tag the engine set where it refused (a
// *signer.RefusalError keeps its own text: it never holds a secret);
// anything else is an internal error whose text stays in our log.
func refusalTag(err error) (string, error) {
	var re *signer.RefusalError
	switch {
	case !errors.As(err, &re):
		return TagInternal, errors.New("internal error in the signing engine; see the signer's log")
	case re.Tag == "": // an engine that does not tag its refusals
		return TagEngine, errors.New(re.Error())
	}
	return re.Tag, errors.New(re.Error())
}

func record(d Decision) audit.Record {
	r := audit.Record{
		Time:         d.Time.UTC(),
		RequestID:    d.RequestID,
		Type:         d.Type,
		TypeName:     d.TypeName,
		DBID:         d.Client.DBID,
		Capabilities: d.Client.Capabilities,
		Outcome:      d.Outcome,
		Reason:       d.Reason,
		Tag:          d.Tag,
		DurationMS:   float64(d.Duration.Microseconds()) / 1000,
	}
	if d.Client.PeerID != ([33]byte{}) {
		r.Peer = hex.EncodeToString(d.Client.PeerID[:])
	}
	return r
}

// pendingOf is the user's calls a request carries, as signer/intent reads
// them from the request's context (the engine's IntentSource verifies
// them).
func pendingOf(rs []streamer.PendingRequest) []intent.Pending {
	if len(rs) == 0 {
		return nil
	}
	out := make([]intent.Pending, len(rs))
	for i, r := range rs {
		out[i] = intent.Pending{Request: r.Request, URI: r.URI, Signature: r.Signature, PubKey: r.PubKey, Timestamp: r.Timestamp, Rune: r.Rune}
	}
	return out
}
