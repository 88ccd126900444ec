package signing

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"gl-signerd/signer"
)

// Handle answers one request of a self-hosted lightningd or of one of its
// subdaemons (gl-signerd hsmd serve, package clnhsmd): the engine's answer,
// audited and observed before it is returned, as HandleHsmRequest's. Two
// things differ, because lightningd is the operator's own process and CLN's
// protocol has no refusal reply:
//
//   - lightningd's hsmd_init and sign_message are the engine's to answer
//     (the engine holds them to the client's capabilities);
//   - while paused, a request that signs or reveals a secret waits for
//     Resume (or ctx) instead of being refused: a refusal would close a
//     subdaemon's connection, and on lightningd's own connection stop the
//     node. Public requests are answered meanwhile.
//
// A refusal is returned as the engine made it (a *signer.RefusalError with
// its tag and Fatal), for the server to report as CLN's hsmd would; a
// decision that cannot be audited is refused with TagAudit.
func (h *Handler) Handle(ctx context.Context, c signer.Client, raw []byte) ([]byte, error) {
	var t uint16
	if len(raw) >= 2 {
		t = uint16(raw[0])<<8 | uint16(raw[1])
	}
	if !answeredWhilePaused[t] {
		if err := h.waitResumed(ctx); err != nil {
			return nil, err
		}
	}
	start := h.opts.Now()
	reply, err := h.engine.Handle(ctx, c, raw)
	if h.opts.Audit == nil && h.opts.Observe == nil {
		return reply, err
	}
	d := Decision{Time: start, RequestID: h.seq.Add(1), Type: t, TypeName: TypeName(t), Client: c,
		Duration: h.opts.Now().Sub(start), Outcome: Answered}
	if err != nil {
		d.Outcome = Refused
		var re *signer.RefusalError
		if d.Tag = TagInternal; errors.As(err, &re) {
			d.Tag = re.Tag
		}
		if d.Tag == "" {
			d.Tag = TagEngine
		}
		d.Reason = err.Error()
	}
	if h.opts.Audit != nil {
		if aerr := h.opts.Audit.Append(ctx, record(d)); aerr != nil {
			h.log.Error("cannot write the audit log; refusing the request",
				zap.String("type", d.TypeName), zap.Error(aerr))
			reply, err = nil, &signer.RefusalError{MsgType: t, Tag: TagAudit, Fatal: c.IsMaster(),
				Reason: "the signer cannot record this decision in its audit log, so it refuses the request"}
			d.Outcome, d.Tag, d.Reason = Refused, TagAudit, err.Error()
		}
	}
	if h.opts.Observe != nil {
		h.opts.Observe(d)
	}
	return reply, err
}

// waitResumed returns at once unless paused, else when Resume is called or
// ctx ends (then with ctx's error).
func (h *Handler) waitResumed(ctx context.Context) error {
	h.mu.Lock()
	paused, resumed := h.paused, h.resumed
	h.mu.Unlock()
	if !paused {
		return nil
	}
	select {
	case <-resumed:
		return nil
	case <-ctx.Done():
		return &signer.RefusalError{Tag: TagPaused, Reason: "stopped while paused by the operator"}
	}
}
