package daemon

// The user's intents in the daemon: the engine's IntentSource (signer/
// intent) built from the seed, its decisions in the log and the audit
// log, and the "rune_create" and "rune_list" control commands.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"gl-signerd/config"
	"gl-signerd/internal/audit"
	"gl-signerd/internal/control"
	"gl-signerd/secretstore"
	"gl-signerd/signer/intent"
	"gl-signerd/signer/state"
)

// eventLog is where intent decisions and rune changes are audited; the
// audit log opens after the engine, so it is set once open.
type eventLog struct{ log atomic.Pointer[audit.Log] }

func (e *eventLog) append(ev audit.Event) error {
	l := e.log.Load()
	if l == nil {
		return errors.New("the audit log is not open yet")
	}
	ev.Time = time.Now().UTC()
	return l.AppendEvent(context.Background(), ev)
}

// newIntentSource is the engine's IntentSource for seed: its master rune,
// intent.max_age_seconds, consumed intents in st. Every call judged is
// logged and audited (never its signature or rune).
func newIntentSource(cfg *config.Config, seed *secretstore.Seed, network string, st *state.Store, log *zap.Logger, events *eventLog) (*intent.Source, error) {
	ilog := log.Named("intent")
	report := func(d intent.Decision) {
		ev := audit.Event{Event: audit.EventIntentAccepted, Method: d.Method, TypeName: d.Request, ID: d.ID, Reason: d.Reason}
		if d.Accepted {
			ilog.Info("a user's signed call authorized a request", zap.String("method", d.Method), zap.String("type", d.Request), zap.String("id", d.ID))
		} else {
			ev.Event = audit.EventIntentRefused
			ilog.Warn("a user's signed call was refused", zap.String("method", d.Method), zap.String("type", d.Request), zap.String("id", d.ID), zap.String("reason", d.Reason))
		}
		if err := events.append(ev); err != nil {
			ilog.Error("could not audit an intent decision", zap.Error(err))
		}
	}
	maxAge := time.Duration(cfg.Intent.MaxAgeSeconds) * time.Second
	s, err := intent.NewSource(seed.Secret, network, maxAge, st, intent.WithReporter(report))
	if err != nil {
		return nil, withKind(Failed, err)
	}
	return s, nil
}

// RuneCreateArgs are the arguments of "rune_create".
type RuneCreateArgs struct {
	// Restrictions, each alternatives joined by '|': one must be
	// pubkey=<device key> alone.
	Restrictions []string `json:"restrictions"`
}

// RuneInfo is an issued rune in rune_create's and rune_list's results.
type RuneInfo struct {
	ID           uint64    `json:"id"`
	Created      time.Time `json:"created"`
	Restrictions string    `json:"restrictions"`
	Rune         string    `json:"rune"`
}

func runeInfo(r state.IssuedRune) RuneInfo {
	return RuneInfo{ID: r.ID, Created: r.Created.UTC(), Restrictions: r.Restrictions, Rune: r.Rune}
}

// registerRuneCommands adds rune_create and rune_list (with intents; none
// without).
func (d *daemon) registerRuneCommands(srv *control.Server) {
	if d.intents == nil || d.state == nil {
		return
	}
	srv.Register(control.Command{
		Name: "rune_create",
		Help: `issue a rune for an application from our master rune (args: {"restrictions": ["pubkey=<device key hex>", "method=pay", ...]})`,
		Run: func(_ context.Context, raw json.RawMessage) (any, error) {
			var a RuneCreateArgs
			if len(raw) > 0 && string(raw) != "null" {
				if err := json.Unmarshal(raw, &a); err != nil {
					return nil, fmt.Errorf(`rune_create takes {"restrictions": ["pubkey=...", ...]}: %v`, err)
				}
			}
			if len(a.Restrictions) > 32 {
				return nil, fmt.Errorf("%d restrictions; at most 32", len(a.Restrictions))
			}
			r, err := intent.IssueRune(d.intents.Master(), d.state, a.Restrictions, time.Now())
			if err != nil {
				return nil, err
			}
			if err := d.events.append(audit.Event{Event: audit.EventRuneCreated, ID: fmt.Sprint(r.ID), Detail: r.Restrictions}); err != nil {
				d.log.Error("could not audit a rune issued", zap.Uint64("id", r.ID), zap.Error(err))
			}
			d.log.Info("issued a rune", zap.Uint64("id", r.ID), zap.String("restrictions", r.Restrictions))
			return runeInfo(r), nil
		},
	})
	srv.Register(control.Command{
		Name: "rune_list",
		Help: "the runes issued with rune_create, oldest first",
		Run: func(context.Context, json.RawMessage) (any, error) {
			rs, err := d.state.Runes()
			if err != nil {
				return nil, err
			}
			out := make([]RuneInfo, len(rs))
			for i, r := range rs {
				out[i] = runeInfo(r)
			}
			return out, nil
		},
	})
}
