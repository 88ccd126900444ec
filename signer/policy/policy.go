package policy

import "fmt"

// Mode says what the engine does with a violation.
type Mode string

const (
	// ModeEnforce refuses a request that violates the policy: the default.
	ModeEnforce Mode = "enforce"
	// ModeWarn signs anyway and reports the violation.
	ModeWarn Mode = "warn"
	// ModeOff skips the checks: CLN's hsmd behaviour, for vector replay.
	ModeOff Mode = "off"
)

// Modes lists the valid modes, the default first.
var Modes = []Mode{ModeEnforce, ModeWarn, ModeOff}

// ParseMode checks a mode's name; "" is ModeEnforce.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "":
		return ModeEnforce, nil
	case ModeEnforce, ModeWarn, ModeOff:
		return Mode(s), nil
	}
	return "", fmt.Errorf("policy mode %q is not one of enforce, warn or off", s)
}

// The tags of the violations this package reports (see the package
// documentation for what each means). They are stable: operators and
// tests match them.
const (
	TagNetworkUnknown                = "policy-network-unknown"
	TagNodeAnnouncementFormat        = "policy-node-announcement-format"
	TagNodeAnnouncementNodeID        = "policy-node-announcement-node-id"
	TagChannelAnnouncementFormat     = "policy-channel-announcement-format"
	TagChannelAnnouncementChain      = "policy-channel-announcement-chain"
	TagChannelAnnouncementNodeID     = "policy-channel-announcement-node-id"
	TagChannelAnnouncementPeerID     = "policy-channel-announcement-peer-id"
	TagChannelAnnouncementFundingKey = "policy-channel-announcement-funding-key"
	TagChannelUpdateFormat           = "policy-channel-update-format"
	TagChannelUpdateChain            = "policy-channel-update-chain"
	TagInvoiceHRPNetwork             = "policy-invoice-hrp-network"
	TagInvoiceHRPAmount              = "policy-invoice-hrp-amount"
	TagInvoiceFormat                 = "policy-invoice-format"
	TagInvoicePaymentHash            = "policy-invoice-payment-hash"
	TagInvoiceDescription            = "policy-invoice-description"
	TagInvoicePayee                  = "policy-invoice-payee"
	TagDeriveSecretLabel             = "policy-derive-secret-label"
)

// Tags lists every tag this package reports.
var Tags = []string{
	TagNetworkUnknown,
	TagNodeAnnouncementFormat, TagNodeAnnouncementNodeID,
	TagChannelAnnouncementFormat, TagChannelAnnouncementChain, TagChannelAnnouncementNodeID,
	TagChannelAnnouncementPeerID, TagChannelAnnouncementFundingKey,
	TagChannelUpdateFormat, TagChannelUpdateChain,
	TagInvoiceHRPNetwork, TagInvoiceHRPAmount, TagInvoiceFormat, TagInvoicePaymentHash,
	TagInvoiceDescription, TagInvoicePayee,
	TagDeriveSecretLabel,
	TagOnchainNoUnknownOutputs, TagOnchainFeeRange,
	TagSweepDestinationAllowlisted, TagSweepFeeRange,
	TagMutualDestinationAllowlisted, TagMutualFeeRange,
	TagHTLCLocktime, TagHTLCSequence, TagHTLCVersion,
	TagContestDelayRange, TagCommitmentFeeRange, TagInvoiceNotExpired,
	TagPaymentApproved, TagPaymentVelocity, TagOnchainVelocity, TagChannelApproved,
	TagCommitment, TagCommitmentInputMatchFunding, TagCommitmentVersion, TagCommitmentLocktime,
	TagCommitmentSequence, TagCommitmentNoUnrecognizedOutputs, TagCommitmentRevocationPubkey,
	TagCommitmentToSelfDelayRange, TagCommitmentInitialFundingValue, TagRoutingDeltasOnlyHTLC,
	TagCommitmentHTLCCountLimit, TagCommitmentHTLCInflightLimit,
	TagHTLCToSelfDelay, TagHTLCRevocationPubkey, TagHTLCDelayedPubkey, TagHTLCFeeRange, TagHTLCOther, TagCommitmentHTLCRoutingBalance,
}

// Violation is a broken rule: its stable tag and a sentence saying what
// was wrong. Reasons never contain a secret.
type Violation struct {
	Tag    string
	Reason string
}

func (v *Violation) Error() string { return v.Tag + ": " + v.Reason }

func violation(tag, format string, args ...any) *Violation {
	return &Violation{Tag: tag, Reason: fmt.Sprintf(format, args...)}
}
