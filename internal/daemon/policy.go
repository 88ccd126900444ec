package daemon

import (
	"encoding/hex"

	"go.uber.org/zap"

	"gl-signerd/config"
	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
)

// policyOptions are the engine options of the policy.* settings: the
// mode, limits, warn list and allowlist, and under warn (or with a warn
// list) a reporter that logs every violation signed anyway.
// A mode other than enforce is logged loudly at start: the node can then
// obtain signatures the policy exists to refuse.
func policyOptions(cfg *config.Config, log *zap.Logger) ([]signer.Option, error) {
	mode, err := policy.ParseMode(cfg.Policy.Mode)
	if err != nil {
		return nil, withKind(Config, err)
	}
	p := cfg.Policy
	opts := append([]signer.Option{signer.WithPolicyMode(mode)}, PolicySettings(cfg)...)
	if _, err := policy.ParseWarnList(p.Warn); err != nil {
		return nil, withKind(Config, err)
	}
	plog := log.Named("policy")
	report := func(c signer.Client, t uint16, v *policy.Violation) {
		fields := []zap.Field{zap.String("type", hsmproto.MessageName(t)), zap.String("tag", v.Tag), zap.String("reason", v.Reason)}
		if c.PeerID != ([33]byte{}) {
			fields = append(fields, zap.String("peer", hex.EncodeToString(c.PeerID[:])), zap.Uint64("dbid", c.DBID))
		}
		plog.Warn("signed despite a policy violation", fields...)
	}
	switch mode {
	case policy.ModeWarn:
		log.Warn("policy.mode is warn: requests that break the signing policy are signed anyway and only logged; a hostile node can obtain such signatures (set policy.mode = \"enforce\")")
		opts = append(opts, signer.WithPolicyReporter(report))
	case policy.ModeOff:
		log.Warn("policy.mode is off: the signer signs whatever CLN's hsmd would, including node-chosen bytes that verify as a Greenlight register/recover challenge; never run a real node like this (set policy.mode = \"enforce\")")
	default:
		if len(p.Warn) > 0 {
			log.Warn("policy.warn: violations of these policy tags are signed anyway and only logged", zap.Strings("tags", p.Warn))
			opts = append(opts, signer.WithPolicyReporter(report))
		}
	}
	return opts, nil
}

// AuthorizationSettings are the engine's authorization settings of the
// policy.* keys: auto-approval of payments and channels, the approvals'
// timeouts, velocity limits.
func AuthorizationSettings(cfg *config.Config) signer.AuthorizationSettings {
	p := cfg.Policy
	return signer.AuthorizationSettings{
		AutoApproveBelowMsat:        p.AutoApproveBelowMsat,
		AutoApproveChannelsBelowSat: p.AutoApproveChannelsBelowSat,
		ApprovalTimeout:             p.ApprovalTimeout,
		ApprovalValidFor:            p.ApprovalValidFor,
		Payments:                    policy.VelocityLimit{PerHour: p.MaxPaymentsPerHourMsat, PerDay: p.MaxPaymentsPerDayMsat},
		Withdrawals:                 policy.VelocityLimit{PerHour: p.MaxWithdrawalsPerHourSat, PerDay: p.MaxWithdrawalsPerDaySat},
	}
}

// PolicySettings are the engine options of the policy.* settings other
// than the mode: limits, warn list, allowlist and authorization (also
// what gl-signerd replay --config uses).
func PolicySettings(cfg *config.Config) []signer.Option {
	p := cfg.Policy
	return []signer.Option{
		signer.WithPolicyLimits(policy.Limits{
			MinFeerateSatPerKw:    uint64(p.MinFeerateSatPerKw),
			MaxFeerateSatPerKw:    uint64(p.MaxFeerateSatPerKw),
			MaxFeePercent:         uint64(p.MaxFeePercent),
			MinContestDelayBlocks: uint64(p.MinToSelfDelayBlocks),
			MaxContestDelayBlocks: uint64(p.MaxToSelfDelayBlocks),
		}),
		signer.WithPolicyWarn(p.Warn),
		signer.WithPolicyAllowlist(p.Allowlist),
		signer.WithAuthorization(AuthorizationSettings(cfg)),
	}
}
