package daemon

// The running daemon: the signing seam with its observers (metrics, the
// status counters behind gl-signerd ctl status), the control commands, and
// systemd notification. run.go starts it and shuts it down.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"gl-signerd/internal/audit"
	"gl-signerd/internal/control"
	"gl-signerd/internal/metrics"
	"gl-signerd/internal/signing"
	"gl-signerd/signer"
	"gl-signerd/signer/intent"
	"gl-signerd/signer/state"
	"gl-signerd/streamer"
)

// daemon is the state shared by the running parts.
type daemon struct {
	log          *zap.Logger
	version      string
	stateDir     string
	nodeID       [33]byte
	network      string
	device       streamer.CertInfo
	schedulerURI string
	started      time.Time

	handler  *signing.Handler
	streamer *streamer.Streamer // nil until started
	audit    *audit.Log
	metrics  *metrics.Metrics
	state    *state.Store // the channel state store (signer/state)
	// hsmd is the engine of gl-signerd hsmd serve (nil under Run), set
	// once lightningd's hsmd_init arrived.
	hsmd *lateEngine
	// engine is Run's engine (nil under hsmd serve): signerEngine has
	// either.
	engine  *signer.Engine
	intents *intent.Source
	events  *eventLog // intent decisions and rune changes, audited

	// stop asks run to shut down; the reason is logged.
	stop func(reason string)

	mu          sync.Mutex
	byType      map[string]*TypeCounts
	answered    uint64
	refused     uint64
	lastRefusal *RefusalInfo
}

// observe is the seam's Observe: metrics and status counters.
func (d *daemon) observe(dec signing.Decision) {
	if d.metrics != nil {
		d.metrics.Observe(dec)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.byType[dec.TypeName]
	if c == nil {
		if len(d.byType) >= 1000 { // only a misbehaving node sends that many kinds
			return
		}
		c = &TypeCounts{}
		d.byType[dec.TypeName] = c
	}
	if dec.Outcome == signing.Refused {
		c.Refused++
		d.refused++
		r := RefusalInfo{Time: dec.Time.UTC(), RequestID: dec.RequestID, Type: dec.TypeName, Tag: dec.Tag, Reason: dec.Reason}
		if dec.Client.PeerID != ([33]byte{}) {
			r.Peer = hex.EncodeToString(dec.Client.PeerID[:])
			r.DBID = dec.Client.DBID
		}
		d.lastRefusal = &r
	} else {
		c.Answered++
		d.answered++
	}
}

// Status is the result of the control command "status" (and of
// gl-signerd ctl status --json). Fields are only ever added.
type Status struct {
	Version       string     `json:"version"`
	PID           int        `json:"pid"`
	NodeID        string     `json:"node_id"`
	Network       string     `json:"network"`
	StateDir      string     `json:"state_dir"`
	Device        DeviceInfo `json:"device"`
	StartedAt     time.Time  `json:"started_at"`
	UptimeSeconds float64    `json:"uptime_seconds"`

	Signing     SigningState    `json:"signing"`
	Connection  ConnectionState `json:"connection"`
	Requests    RequestCounts   `json:"requests"`
	LastRefusal *RefusalInfo    `json:"last_refusal,omitempty"`
	Audit       AuditInfo       `json:"audit"`
	State       *StateInfo      `json:"state,omitempty"`
	Velocity    *VelocityInfo   `json:"velocity,omitempty"`
}

// DeviceInfo describes the device certificate in use.
type DeviceInfo struct {
	CommonName string    `json:"common_name"`
	NotAfter   time.Time `json:"not_after"`
}

// SigningState says whether requests are answered.
type SigningState struct {
	Paused      bool       `json:"paused"`
	PauseReason string     `json:"pause_reason,omitempty"`
	PausedSince *time.Time `json:"paused_since,omitempty"`
}

// ConnectionState is the link to Greenlight: the scheduler, and the node's
// request stream.
type ConnectionState struct {
	SchedulerURI string     `json:"scheduler_uri"`
	State        string     `json:"state"`
	Since        time.Time  `json:"since"`
	NodeURI      string     `json:"node_uri,omitempty"`
	NextAttempt  *time.Time `json:"next_attempt,omitempty"`
	Connects     uint64     `json:"connects"`
	Disconnects  uint64     `json:"disconnects"`
	Heartbeats   uint64     `json:"heartbeats"`
	LastError    string     `json:"last_error,omitempty"`
	LastErrorAt  *time.Time `json:"last_error_at,omitempty"`
}

// RequestCounts counts the seam's decisions since start.
type RequestCounts struct {
	Answered uint64                 `json:"answered"`
	Refused  uint64                 `json:"refused"`
	ByType   map[string]*TypeCounts `json:"by_type"`
}

// TypeCounts counts the decisions for one message type.
type TypeCounts struct {
	Answered uint64 `json:"answered"`
	Refused  uint64 `json:"refused"`
}

// RefusalInfo is the latest refusal.
type RefusalInfo struct {
	Time      time.Time `json:"time"`
	RequestID uint32    `json:"request_id"`
	Type      string    `json:"type"`
	Peer      string    `json:"peer,omitempty"`
	DBID      uint64    `json:"dbid,omitempty"`
	Tag       string    `json:"tag"`
	Reason    string    `json:"reason"`
}

// AuditInfo locates the audit log.
type AuditInfo struct {
	Path  string `json:"path"`
	Lines uint64 `json:"lines_written"`
}

// PauseArgs are the arguments of "pause".
type PauseArgs struct {
	Reason string `json:"reason,omitempty"`
}

// PauseResult is the result of "pause" and "resume".
type PauseResult struct {
	Paused bool   `json:"paused"`
	Reason string `json:"reason,omitempty"`
}

func ptrTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (d *daemon) status() Status {
	now := time.Now()
	s := Status{
		Version:       d.version,
		PID:           os.Getpid(),
		NodeID:        hex.EncodeToString(d.nodeID[:]),
		Network:       d.network,
		StateDir:      d.stateDir,
		Device:        DeviceInfo{CommonName: d.device.CommonName, NotAfter: d.device.NotAfter.UTC()},
		StartedAt:     d.started.UTC(),
		UptimeSeconds: now.Sub(d.started).Round(time.Millisecond).Seconds(),
	}
	p := d.handler.Paused()
	s.Signing = SigningState{Paused: p.Paused, PauseReason: p.Reason, PausedSince: ptrTime(p.Since)}
	s.Connection = ConnectionState{SchedulerURI: d.schedulerURI, State: string(streamer.StateIdle), Since: d.started.UTC()}
	if d.hsmd != nil {
		s.Connection = ConnectionState{State: "serving lightningd (hsmd serve)", Since: d.started.UTC()}
		if e := d.hsmd.Load(); e != nil {
			id := e.NodeID()
			s.NodeID, s.Network = hex.EncodeToString(id[:]), e.Network()
		}
	}
	if d.streamer != nil {
		st := d.streamer.Stats()
		s.Connection = ConnectionState{
			SchedulerURI: d.schedulerURI,
			State:        string(st.State),
			Since:        st.StateSince.UTC(),
			NodeURI:      st.NodeURI,
			NextAttempt:  ptrTime(st.NextAttempt),
			Connects:     st.Connects,
			Disconnects:  st.Disconnects,
			Heartbeats:   st.Heartbeats,
			LastError:    st.LastError,
			LastErrorAt:  ptrTime(st.LastErrorAt),
		}
	}
	d.mu.Lock()
	s.Requests = RequestCounts{Answered: d.answered, Refused: d.refused, ByType: map[string]*TypeCounts{}}
	for k, v := range d.byType {
		c := *v
		s.Requests.ByType[k] = &c
	}
	if d.lastRefusal != nil {
		r := *d.lastRefusal
		s.LastRefusal = &r
	}
	d.mu.Unlock()
	if d.audit != nil {
		lines, _ := d.audit.Stats()
		s.Audit = AuditInfo{Path: d.audit.Path(), Lines: lines}
	}
	s.State = stateInfo(d.state)
	s.Velocity = d.velocityInfo()
	return s
}

// signerEngine is the engine the control commands act on: Run's, or
// hsmd serve's once lightningd's hsmd_init arrived; nil before.
func (d *daemon) signerEngine() *signer.Engine {
	if d.engine != nil {
		return d.engine
	}
	if d.hsmd != nil {
		return d.hsmd.Load()
	}
	return nil
}

// registerCommands fills the control command table. A later command
// (channels, policy, allowlist, approvals) is one more entry.
func (d *daemon) registerCommands(srv *control.Server) {
	srv.Register(control.Command{
		Name: "status",
		Help: "node id, network, connection to Greenlight, uptime, requests by type, last refusal",
		Run: func(context.Context, json.RawMessage) (any, error) {
			return d.status(), nil
		},
	})
	d.registerStateCommands(srv)
	d.registerOperatorCommands(srv)
	d.registerRuneCommands(srv)
	srv.Register(control.Command{
		Name: "pause",
		Help: `refuse every signing request until "resume" (args: {"reason": "..."}, optional)`,
		Run: func(_ context.Context, raw json.RawMessage) (any, error) {
			var a PauseArgs
			if len(raw) > 0 && string(raw) != "null" {
				if err := json.Unmarshal(raw, &a); err != nil {
					return nil, fmt.Errorf(`pause takes {"reason": "..."}: %v`, err)
				}
			}
			if len(a.Reason) > 200 {
				return nil, errors.New("the pause reason is longer than 200 characters")
			}
			p := d.handler.Pause(a.Reason)
			if d.metrics != nil {
				d.metrics.SetPaused(true)
			}
			return PauseResult{Paused: p.Paused, Reason: p.Reason}, nil
		},
	})
	srv.Register(control.Command{
		Name: "resume",
		Help: "answer signing requests again after a pause",
		Run: func(context.Context, json.RawMessage) (any, error) {
			d.handler.Resume()
			if d.metrics != nil {
				d.metrics.SetPaused(false)
			}
			return PauseResult{}, nil
		},
	})
	srv.Register(control.Command{
		Name: "shutdown",
		Help: "stop the daemon: finish the requests in flight, write the audit log, exit 0",
		Run: func(context.Context, json.RawMessage) (any, error) {
			d.stop("gl-signerd ctl shutdown")
			return map[string]bool{"stopping": true}, nil
		},
	})
}

// notify tells systemd (if it started us with Type=notify) about our
// state; without NOTIFY_SOCKET it does nothing.
func notify(log *zap.Logger, state string) {
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		log.Debug("cannot notify systemd", zap.Error(err))
	}
}
