package daemon

// The channel state store in the daemon: opened under the state-dir lock,
// its part of the status, and the "channels" and "unfreeze" control
// commands.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"gl-signerd/internal/audit"
	"gl-signerd/internal/control"
	"gl-signerd/signer/state"
)

// openState opens <state-dir>/state.db; the caller holds the state-dir lock.
func openState(stateDir string) (*state.Store, error) {
	st, err := state.Open(filepath.Join(stateDir, state.FileName))
	if err != nil {
		return nil, withKind(Failed, err)
	}
	return st, nil
}

// StateInfo is the state store in gl-signerd ctl status.
type StateInfo struct {
	Path       string     `json:"path"`
	SizeBytes  int64      `json:"size_bytes"`
	LastCommit *time.Time `json:"last_commit,omitempty"`
	Channels   int        `json:"channels"`
	// Commits and Changes since start: Changes/Commits is how many
	// requests' changes share an fsync (group commit).
	Commits uint64 `json:"commits"`
	Changes uint64 `json:"changes"`
	// Restored counts records rebuilt from the node's signed copy since
	// start (a device restored from the mnemonic with an empty state dir).
	Restored uint64 `json:"restored_from_node"`
	// Frozen are the records whose node copy conflicts with ours, and why:
	// their channels' signing is refused.
	Frozen map[string]string `json:"frozen,omitempty"`
}

func stateInfo(st *state.Store) *StateInfo {
	if st == nil {
		return nil
	}
	stats := st.Stats()
	return &StateInfo{
		Path:       st.Path(),
		SizeBytes:  st.Size(),
		LastCommit: ptrTime(stats.LastCommit),
		Channels:   st.ChannelCount(),
		Commits:    stats.Commits,
		Changes:    stats.Changes,
		Restored:   st.Restored(),
		Frozen:     st.Frozen(),
	}
}

// registerStateMetrics adds the state store's gauges to the daemon's
// Prometheus registry.
func registerStateMetrics(reg *prometheus.Registry, st *state.Store) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gl_signerd_state_frozen_records",
			Help: "State records (channels, or the node record) frozen by a conflict with the node's signed copy."},
			func() float64 { return float64(len(st.Frozen())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gl_signerd_state_channels",
			Help: "Channels in the state store, tombstones included."},
			func() float64 { return float64(st.ChannelCount()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gl_signerd_state_commits_total",
			Help: "Transactions committed (fsynced) to the state store."},
			func() float64 { return float64(st.Stats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gl_signerd_state_changes_total",
			Help: "Record changes committed to the state store (changes/commits is the group commit factor)."},
			func() float64 { return float64(st.Stats().Changes) }),
	)
}

// ChannelInfo is one channel in gl-signerd ctl channels.
type ChannelInfo struct {
	Peer   string `json:"peer"`
	DBID   uint64 `json:"dbid"`
	Status string `json:"status"`
	// Set once setup_channel was seen.
	CapacitySat     uint64 `json:"capacity_sat,omitempty"`
	Outbound        bool   `json:"outbound,omitempty"`
	FundingOutpoint string `json:"funding_outpoint,omitempty"`
	FundingLocked   bool   `json:"funding_locked"`
	// Commitment numbers: the last holder commitment validated and the
	// last counterparty commitment signed.
	HolderCommitment       uint64 `json:"holder_commitment"`
	CounterpartyCommitment uint64 `json:"counterparty_commitment"`
	// Balances on the last counterparty commitment signed (or, before
	// one, the last holder commitment), in satoshi on chain; absent when
	// not known.
	HolderSat       *uint64 `json:"holder_sat,omitempty"`
	CounterpartySat *uint64 `json:"counterparty_sat,omitempty"`
	HTLCs           int     `json:"htlcs"`
	SecretsRevealed uint64  `json:"counterparty_secrets"`
	Version         uint64  `json:"version"`
}

// ChannelInfos lists every channel of st.
func ChannelInfos(st *state.Store) []ChannelInfo {
	chs := st.Channels()
	out := make([]ChannelInfo, 0, len(chs))
	for _, ch := range chs {
		ci := ChannelInfo{
			Peer:                   hex.EncodeToString(ch.ID.Peer[:]),
			DBID:                   ch.ID.DBID,
			Status:                 ch.Status.String(),
			FundingLocked:          ch.FundingLocked,
			HolderCommitment:       ch.HolderCommitNum,
			CounterpartyCommitment: ch.CounterpartyCommitNum,
			SecretsRevealed:        ch.Secrets.Count(),
			Version:                ch.Version,
		}
		if s := ch.Setup; s != nil {
			ci.CapacitySat, ci.Outbound = s.ChannelValueSat, s.IsOutbound
			var txid [32]byte
			for i := range txid { // displayed byte-reversed, as txids are
				txid[i] = s.FundingTxid[31-i]
			}
			ci.FundingOutpoint = fmt.Sprintf("%x:%d", txid, s.FundingVout)
		}
		cm := ch.LastCounterparty
		if cm == nil {
			cm = ch.LastHolder
		}
		if cm != nil {
			ci.HTLCs = len(cm.HTLCs)
			if cm.BalancesKnown {
				h, c := cm.HolderSat, cm.CounterpartySat
				ci.HolderSat, ci.CounterpartySat = &h, &c
			}
		}
		out = append(out, ci)
	}
	return out
}

// UnfreezeArgs are the "unfreeze" command's arguments: the frozen record
// ("node", PEER/DBID, or its entry key) and the side to keep, "ours" or
// "node".
type UnfreezeArgs struct {
	Record string `json:"record"`
	Adopt  string `json:"adopt"`
}

// UnfreezeResult says what "unfreeze" did.
type UnfreezeResult struct {
	Record  string `json:"record"`
	Adopted string `json:"adopted"`
	Version uint64 `json:"version"`
}

// auditAppender is where an operator's decision is recorded (the audit log).
type auditAppender interface {
	Append(context.Context, audit.Record) error
}

// unfreeze resolves a frozen record as the operator chose, then records
// the decision in the audit log (and the daemon's log).
func unfreeze(ctx context.Context, st *state.Store, al auditAppender, log *zap.Logger, raw json.RawMessage) (*UnfreezeResult, error) {
	if st == nil {
		return nil, errors.New("the signer keeps no state, so nothing is frozen")
	}
	var a UnfreezeArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf(`unfreeze takes {"record": "...", "adopt": "ours"|"node"}: %v`, err)
	}
	var adopt state.Adopt
	switch a.Adopt {
	case "ours":
		adopt = state.AdoptOurs
	case "node":
		adopt = state.AdoptNode
	default:
		return nil, fmt.Errorf("unfreeze needs adopt ours (keep the signer's record) or node (take the node's signed copy), not %q", a.Adopt)
	}
	key, err := state.RecordKey(a.Record)
	if err != nil {
		return nil, err
	}
	version, err := st.Unfreeze(ctx, key, adopt)
	if err != nil {
		return nil, err
	}
	res := &UnfreezeResult{Record: key, Adopted: adopt.String(), Version: version}
	log.Warn("frozen state record resolved by the operator", zap.String("record", key), zap.String("adopted", res.Adopted), zap.Uint64("version", version))
	if al != nil {
		r := audit.Record{Time: time.Now().UTC(), TypeName: "ctl unfreeze", Outcome: "unfrozen", Tag: "operator-unfreeze",
			Reason: fmt.Sprintf("%s: the operator adopted %s; the record is now version %d", key, res.Adopted, version)}
		if err := al.Append(ctx, r); err != nil {
			return res, fmt.Errorf("%s was unfrozen (adopting %s) but the audit log could not record it: %w", key, res.Adopted, err)
		}
	}
	return res, nil
}

func (d *daemon) registerStateCommands(srv *control.Server) {
	srv.Register(control.Command{
		Name: "unfreeze",
		Help: `resolve a record frozen by a conflict with the node's copy (args: {"record": "node"|"PEER/DBID", "adopt": "ours"|"node"}); audit-logged`,
		Run: func(ctx context.Context, raw json.RawMessage) (any, error) {
			var al auditAppender
			if d.audit != nil {
				al = d.audit
			}
			return unfreeze(ctx, d.state, al, d.log, raw)
		},
	})
	srv.Register(control.Command{
		Name: "channels",
		Help: "every channel the signer remembers: peer, dbid, state, capacity, balances, commitment numbers",
		Run: func(context.Context, json.RawMessage) (any, error) {
			if d.state == nil {
				return []ChannelInfo{}, nil
			}
			return ChannelInfos(d.state), nil
		},
	})
}
