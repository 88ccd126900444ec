package daemon

// The operator's controls of the authorization decision: the control
// commands approvals, approve, deny and allowlist, the velocity limits'
// use in the status, and the authorization decisions in the audit log.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/audit"
	"gl-signerd/internal/control"
	"gl-signerd/signer"
)

// authorizationLog writes the engine's authorization decisions and the
// operator's to the log and, once it is open, to the audit log (before
// the request's answer leaves: the engine reports before it answers).
type authorizationLog struct {
	log   *zap.Logger
	audit atomic.Pointer[audit.Log]
}

func (a *authorizationLog) report(ev signer.AuthorizationEvent) {
	e := audit.Event{Time: time.Now().UTC(), Event: ev.Event, Kind: ev.Kind, Summary: ev.Summary, By: ev.By,
		Tag: ev.Tag, Reason: ev.Reason, ApprovalID: ev.ApprovalID}
	if ev.MsgType != 0 {
		e.TypeName = hsmproto.MessageName(ev.MsgType)
	}
	if ev.Client.PeerID != ([33]byte{}) {
		e.Peer, e.DBID = hex.EncodeToString(ev.Client.PeerID[:]), ev.Client.DBID
	}
	lf := []zap.Field{zap.String("event", e.Event), zap.String("summary", e.Summary)}
	if e.By != "" {
		lf = append(lf, zap.String("by", e.By))
	}
	if e.Tag != "" {
		lf = append(lf, zap.String("tag", e.Tag))
	}
	if e.ApprovalID != 0 {
		lf = append(lf, zap.Uint64("approval", e.ApprovalID))
	}
	a.log.Info("authorization", lf...)
	if l := a.audit.Load(); l != nil {
		if err := l.AppendEvent(context.Background(), e); err != nil {
			a.log.Error("cannot write an authorization decision to the audit log", zap.Error(err))
		}
	}
}

// VelocityInfo is the velocity limits' use in gl-signerd ctl status.
type VelocityInfo = signer.VelocityUse

func (d *daemon) velocityInfo() *VelocityInfo {
	if d.signerEngine() == nil {
		return nil
	}
	u, err := d.signerEngine().Velocity()
	if err != nil {
		return nil
	}
	return &u
}

// ApprovalArgs are the arguments of "approve" and "deny".
type ApprovalArgs struct {
	ID uint64 `json:"id"`
}

// AllowlistArgs are the arguments of "allowlist".
type AllowlistArgs struct {
	// Op is list (the default), add or remove.
	Op    string `json:"op,omitempty"`
	Entry string `json:"entry,omitempty"`
}

// AllowlistResult is the result of "allowlist": the entries of the
// configuration file and those added at run time; Changed says whether
// an add or remove changed anything.
type AllowlistResult struct {
	Config  []string `json:"config"`
	Runtime []string `json:"runtime"`
	Changed bool     `json:"changed"`
}

func (d *daemon) registerOperatorCommands(srv *control.Server) {
	srv.Register(control.Command{
		Name: "approvals",
		Help: "the approvals the signer asked for: pending, approved, denied and timed out (kept a day after they end)",
		Run: func(context.Context, json.RawMessage) (any, error) {
			if d.signerEngine() == nil {
				return nil, signer.ErrNoState
			}
			return d.signerEngine().Approvals()
		},
	})
	decide := func(approve bool) func(context.Context, json.RawMessage) (any, error) {
		return func(ctx context.Context, raw json.RawMessage) (any, error) {
			var a ApprovalArgs
			if err := json.Unmarshal(raw, &a); err != nil || a.ID == 0 {
				return nil, errors.New(`this command takes {"id": N}, the number gl-signerd ctl approvals shows`)
			}
			if d.signerEngine() == nil {
				return nil, signer.ErrNoState
			}
			return d.signerEngine().Decide(ctx, a.ID, approve)
		}
	}
	srv.Register(control.Command{
		Name: "approve",
		Help: `approve pending approval id: the node's retry of that request is signed (args: {"id": N})`,
		Run:  decide(true),
	})
	srv.Register(control.Command{
		Name: "deny",
		Help: `deny pending approval id, finally (args: {"id": N})`,
		Run:  decide(false),
	})
	srv.Register(control.Command{
		Name: "allowlist",
		Help: `list, add or remove run-time allowlist entries (args: {"op": "list|add|remove", "entry": "payee:<node id>|address:<addr>|xpub:<xpub>"})`,
		Run: func(ctx context.Context, raw json.RawMessage) (any, error) {
			var a AllowlistArgs
			if len(raw) > 0 && string(raw) != "null" {
				if err := json.Unmarshal(raw, &a); err != nil {
					return nil, fmt.Errorf(`allowlist takes {"op": "list|add|remove", "entry": "..."}: %v`, err)
				}
			}
			if d.signerEngine() == nil {
				return nil, signer.ErrNoState
			}
			var res AllowlistResult
			var err error
			switch a.Op {
			case "", "list":
			case "add":
				res.Changed, err = d.signerEngine().AllowlistAdd(ctx, a.Entry)
			case "remove":
				err = d.signerEngine().AllowlistRemove(ctx, a.Entry)
				res.Changed = err == nil
			default:
				return nil, fmt.Errorf("allowlist op %q is not list, add or remove", a.Op)
			}
			if err != nil {
				return nil, err
			}
			res.Config, res.Runtime = d.signerEngine().Allowlist()
			if res.Config == nil {
				res.Config = []string{}
			}
			if res.Runtime == nil {
				res.Runtime = []string{}
			}
			return res, nil
		},
	})
}
