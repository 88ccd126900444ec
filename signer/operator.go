package signer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// The operator's controls over the authorization decision (authorize.go),
// for the daemon's control socket: the approvals, the run-time allowlist
// and the velocity limits' use. Each change is committed to the state
// store before it returns, and reported to the AuthorizationReporter.

// ErrNoState is returned by the operator's controls of an engine without
// a state store.
var ErrNoState = errors.New("the signer has no state store, so it keeps no approvals, allowlist or limits")

// withDefaults fills the zero durations.
func (a AuthorizationSettings) withDefaults() AuthorizationSettings {
	if a.ApprovalTimeout <= 0 {
		a.ApprovalTimeout = DefaultApprovalTimeout
	}
	if a.ApprovalValidFor <= 0 {
		a.ApprovalValidFor = DefaultApprovalValidFor
	}
	a.Payments.Unit, a.Withdrawals.Unit = "msat", "sat"
	return a
}

// allowlistHolder is the allowlist in force: the configuration's entries
// merged with those added at run time.
type allowlistHolder struct {
	mu      sync.Mutex // serializes changes
	config  []string
	network string
	cur     atomic.Pointer[policy.Allowlist]
}

func (h *allowlistHolder) init(config []string, network string, a *policy.Allowlist) {
	h.config, h.network = slices.Clone(config), network
	h.cur.Store(a)
}

// allowlist is the allowlist in force (nil: empty).
func (e *Engine) allowlist() *policy.Allowlist { return e.allow.cur.Load() }

// parseAllowlist reads entries for the network named; payee entries need
// no network.
func parseAllowlist(entries []string, network string) (*policy.Allowlist, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	n, ok := policy.NetworkFor(network)
	if !ok {
		for _, e := range entries {
			if !strings.HasPrefix(e, "payee:") {
				return nil, fmt.Errorf("signer: policy.allowlist entry %q needs the network the signer serves", e)
			}
		}
		n, _ = policy.NetworkFor("bitcoin")
	}
	a, err := policy.ParseAllowlist(entries, n)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return a, nil
}

// loadRuntimeAllowlist merges the store's run-time entries into the
// allowlist in force (NewEngine, with a store).
func (e *Engine) loadRuntimeAllowlist() error {
	if e.state == nil {
		return nil
	}
	e.allow.mu.Lock()
	defer e.allow.mu.Unlock()
	return e.rebuildAllowlist(e.state.Operator().Allowlist)
}

func (e *Engine) rebuildAllowlist(runtime []string) error {
	a, err := parseAllowlist(append(slices.Clone(e.allow.config), runtime...), e.allow.network)
	if err != nil {
		return fmt.Errorf("the allowlist kept in the state store does not read: %w", err)
	}
	e.allow.cur.Store(a)
	return nil
}

// Allowlist returns the configuration's entries and those added at run
// time.
func (e *Engine) Allowlist() (config, runtime []string) {
	config = slices.Clone(e.allow.config)
	if e.state != nil {
		runtime = e.state.Operator().Allowlist
	}
	return config, runtime
}

// AllowlistAdd adds entry ("payee:<node id>", "address:<addr>",
// "xpub:<xpub>") at run time; added is false when it was listed already.
func (e *Engine) AllowlistAdd(ctx context.Context, entry string) (added bool, err error) {
	if e.state == nil {
		return false, ErrNoState
	}
	entry = strings.TrimSpace(entry)
	if _, err := parseAllowlist([]string{entry}, e.allow.network); err != nil {
		return false, errors.New(strings.TrimPrefix(err.Error(), "signer: "))
	}
	e.allow.mu.Lock()
	defer e.allow.mu.Unlock()
	if slices.Contains(e.allow.config, entry) {
		return false, nil
	}
	var runtime []string
	err = e.state.UpdateOperator(ctx, func(op *state.Operator) error {
		if slices.Contains(op.Allowlist, entry) {
			runtime = op.Allowlist
			return nil
		}
		if len(op.Allowlist) >= state.MaxAllowlist {
			return fmt.Errorf("the run-time allowlist holds %d entries already, the most it may", state.MaxAllowlist)
		}
		added = true
		op.Allowlist = append(op.Allowlist, entry)
		runtime = op.Allowlist
		return nil
	})
	if err != nil {
		return false, err
	}
	if added {
		if err := e.rebuildAllowlist(runtime); err != nil {
			return false, err
		}
		e.reportOperator(AuthorizationEvent{Event: "allowlist-added", Summary: entry})
	}
	return added, nil
}

// AllowlistRemove removes an entry added at run time. Entries of the
// configuration file are removed there.
func (e *Engine) AllowlistRemove(ctx context.Context, entry string) error {
	if e.state == nil {
		return ErrNoState
	}
	entry = strings.TrimSpace(entry)
	e.allow.mu.Lock()
	defer e.allow.mu.Unlock()
	var runtime []string
	err := e.state.UpdateOperator(ctx, func(op *state.Operator) error {
		i := slices.Index(op.Allowlist, entry)
		if i < 0 {
			if slices.Contains(e.allow.config, entry) {
				return fmt.Errorf("%q comes from the configuration file (policy.allowlist): remove it there and restart", entry)
			}
			return fmt.Errorf("%q is not on the allowlist", entry)
		}
		op.Allowlist = slices.Delete(op.Allowlist, i, i+1)
		runtime = op.Allowlist
		return nil
	})
	if err != nil {
		return err
	}
	if err := e.rebuildAllowlist(runtime); err != nil {
		return err
	}
	e.reportOperator(AuthorizationEvent{Event: "allowlist-removed", Summary: entry})
	return nil
}

// ApprovalInfo is one approval as the operator sees it.
type ApprovalInfo struct {
	ID         uint64    `json:"id"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	AmountMsat uint64    `json:"amount_msat,omitempty"`
	Summary    string    `json:"summary"`
	Created    time.Time `json:"created"`
	// Decided is when the operator decided (or the approval timed out);
	// Until when a pending approval times out, or an approved request
	// may last be retried.
	Decided *time.Time `json:"decided,omitempty"`
	Until   *time.Time `json:"until,omitempty"`
}

// Approvals lists the approvals kept, oldest first, with their timeouts
// applied as of now.
func (e *Engine) Approvals() ([]ApprovalInfo, error) {
	if e.state == nil {
		return nil, ErrNoState
	}
	op := e.state.Operator()
	expireApprovals(op, e.policy.now(), e.authSettings)
	out := make([]ApprovalInfo, 0, len(op.Approvals))
	for _, a := range op.Approvals {
		out = append(out, e.approvalInfo(a))
	}
	return out, nil
}

func (e *Engine) approvalInfo(a state.Approval) ApprovalInfo {
	info := ApprovalInfo{ID: a.ID, Kind: a.Kind.String(), Status: a.Status.String(), AmountMsat: a.AmountMsat,
		Summary: a.Summary, Created: time.Unix(a.Created, 0).UTC()}
	if a.Decided != 0 {
		d := time.Unix(a.Decided, 0).UTC()
		info.Decided = &d
	}
	var until time.Time
	switch a.Status {
	case state.ApprovalPending:
		until = time.Unix(a.Created, 0).Add(e.authSettings.ApprovalTimeout).UTC()
	case state.ApprovalApproved:
		until = time.Unix(a.Decided, 0).Add(e.authSettings.ApprovalValidFor).UTC()
	}
	if !until.IsZero() {
		info.Until = &until
	}
	return info
}

// Decide approves (approve true) or denies pending approval id. Decisions
// are final: an approval decided or timed out cannot be decided again.
func (e *Engine) Decide(ctx context.Context, id uint64, approve bool) (ApprovalInfo, error) {
	if e.state == nil {
		return ApprovalInfo{}, ErrNoState
	}
	var decided state.Approval
	err := e.state.UpdateOperator(ctx, func(op *state.Operator) error {
		now := e.policy.now()
		expireApprovals(op, now, e.authSettings)
		a, ok := op.ApprovalByID(id)
		if !ok {
			return fmt.Errorf("there is no approval %d (gl-signerd ctl approvals lists them; decided ones are kept for a day)", id)
		}
		if a.Status != state.ApprovalPending {
			return fmt.Errorf("approval %d is %s already, and that is final", id, a.Status)
		}
		a.Status, a.Decided = state.ApprovalDenied, now.Unix()
		if approve {
			a.Status = state.ApprovalApproved
		}
		decided = *a
		return nil
	})
	if err != nil {
		return ApprovalInfo{}, err
	}
	ev := "denied"
	if approve {
		ev = "approved"
	}
	e.reportOperator(AuthorizationEvent{Event: ev, Kind: decided.Kind.String(), Summary: decided.Summary, ApprovalID: id})
	return e.approvalInfo(decided), nil
}

func (e *Engine) reportOperator(ev AuthorizationEvent) {
	if e.authReport != nil {
		e.authReport(ev)
	}
}

// VelocityUse is what the velocity limits counted in the last hour and
// day, with the limits (0: none).
type VelocityUse struct {
	PaymentsHourMsat     uint64 `json:"payments_last_hour_msat"`
	PaymentsDayMsat      uint64 `json:"payments_last_day_msat"`
	PaymentsHourLimit    uint64 `json:"max_payments_per_hour_msat"`
	PaymentsDayLimit     uint64 `json:"max_payments_per_day_msat"`
	WithdrawalsHourSat   uint64 `json:"withdrawals_last_hour_sat"`
	WithdrawalsDaySat    uint64 `json:"withdrawals_last_day_sat"`
	WithdrawalsHourLimit uint64 `json:"max_withdrawals_per_hour_sat"`
	WithdrawalsDayLimit  uint64 `json:"max_withdrawals_per_day_sat"`
	PendingApprovals     int    `json:"pending_approvals"`
}

// Velocity reports the velocity limits' use now.
func (e *Engine) Velocity() (VelocityUse, error) {
	if e.state == nil {
		return VelocityUse{}, ErrNoState
	}
	op := e.state.Operator()
	now := e.policy.now()
	expireApprovals(op, now, e.authSettings)
	set := e.authSettings
	u := VelocityUse{
		PaymentsHourLimit: set.Payments.PerHour, PaymentsDayLimit: set.Payments.PerDay,
		WithdrawalsHourLimit: set.Withdrawals.PerHour, WithdrawalsDayLimit: set.Withdrawals.PerDay,
	}
	u.PaymentsHourMsat, u.PaymentsDayMsat = policy.Use(spentOf(op, state.ApprovalPayment), now.Unix())
	u.WithdrawalsHourSat, u.WithdrawalsDaySat = policy.Use(spentOf(op, state.ApprovalWithdrawal), now.Unix())
	for _, a := range op.Approvals {
		if a.Status == state.ApprovalPending {
			u.PendingApprovals++
		}
	}
	return u, nil
}
