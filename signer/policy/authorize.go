package policy

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/bech32"
)

// Authorization: whether the user or the operator wants a request that
// sends value out of the node (a payment, a withdrawal output or a close
// output to a foreign address). Pure rules: the engine gathers the
// grounds (a verified intent, the allowlist, an operator's approval, the
// auto-approve threshold) and the spending of the last day; these
// functions decide.

// The tags of the authorization rules.
const (
	// TagPaymentApproved: a payment nothing authorizes.
	TagPaymentApproved = "policy-payment-approved"
	// TagPaymentVelocity: a payment beyond the hourly or daily limit.
	TagPaymentVelocity = "policy-payment-velocity"
	// TagOnchainVelocity: a withdrawal beyond the hourly or daily limit.
	TagOnchainVelocity = "policy-onchain-velocity"
	// TagChannelApproved: a channel we fund that nothing authorizes.
	TagChannelApproved = "policy-channel-approved"
)

// ApprovalState is what the operator decided about a request.
type ApprovalState uint8

// The operator's decisions. ApprovalNone: never asked.
const (
	ApprovalNone ApprovalState = iota
	ApprovalPending
	ApprovalGranted
	ApprovalDenied
	// ApprovalTimedOut: pending longer than the approval timeout, or
	// granted longer ago than the approval's validity. Final.
	ApprovalTimedOut
)

// Grounds are what may authorize a request.
type Grounds struct {
	// Intent summarises the user's verified intent asking for the
	// request, "" when there is none.
	Intent string
	// Allowlisted: every destination is on the allowlist.
	Allowlisted bool
	// Approval is the operator's decision about this very request, and
	// ApprovalID its number.
	Approval   ApprovalState
	ApprovalID uint64
	// BelowAutoApprove: a payment whose amount is known and below the
	// configured auto-approve threshold.
	BelowAutoApprove bool
}

// Authorize decides a request described by what (e.g. "a payment of 1000
// msat to 02ab…") from g: it returns how it was authorized ("intent",
// "allowlist", "approval", "auto-approve"), or a violation tagged tag.
// A denial or a timeout is final, whatever else holds, except an intent:
// the user asking again is new consent.
func Authorize(tag, what string, g Grounds) (string, *Violation) {
	switch {
	case g.Intent != "":
		return "intent", nil
	case g.Approval == ApprovalDenied:
		return "", violation(tag, "%s was denied by the operator (approval %d)", what, g.ApprovalID)
	case g.Approval == ApprovalTimedOut:
		return "", violation(tag, "%s: approval %d timed out; the operator's decision is final", what, g.ApprovalID)
	case g.Approval == ApprovalGranted:
		return "approval", nil
	case g.Allowlisted:
		return "allowlist", nil
	case g.BelowAutoApprove:
		return "auto-approve", nil
	case g.Approval == ApprovalPending:
		return "", violation(tag, "%s waits for the operator's approval %d (gl-signerd ctl approve %d)", what, g.ApprovalID, g.ApprovalID)
	}
	return "", violation(tag, "%s is not authorized: no intent from the user, not on the allowlist, not approved by the operator", what)
}

// Spent is one payment or withdrawal counted by the velocity limits.
type Spent struct {
	// Amount is in the limit's unit (msat for payments, sat on chain).
	Amount uint64
	// Time is when it was authorized, Unix seconds.
	Time int64
}

// VelocityLimit bounds what may leave the node per hour and per day, in
// one unit; zero is no limit.
type VelocityLimit struct {
	PerHour, PerDay uint64
	// Unit names the amounts in reasons ("msat", "sat").
	Unit string
}

// CheckVelocity refuses amount at now (Unix seconds) when, with what was
// spent within the last hour or day, it passes lim.
func CheckVelocity(tag string, spent []Spent, amount uint64, now int64, lim VelocityLimit) *Violation {
	var hour, day uint64
	for _, s := range spent {
		age := now - s.Time
		if age < 0 || age >= 24*3600 {
			continue
		}
		day = addCapped(day, s.Amount)
		if age < 3600 {
			hour = addCapped(hour, s.Amount)
		}
	}
	if lim.PerHour > 0 && addCapped(hour, amount) > lim.PerHour {
		return violation(tag, "%d %s would make %d %s in the last hour, above the limit of %d %s", amount, lim.Unit, addCapped(hour, amount), lim.Unit, lim.PerHour, lim.Unit)
	}
	if lim.PerDay > 0 && addCapped(day, amount) > lim.PerDay {
		return violation(tag, "%d %s would make %d %s in the last day, above the limit of %d %s", amount, lim.Unit, addCapped(day, amount), lim.Unit, lim.PerDay, lim.Unit)
	}
	return nil
}

// Use sums what was spent within the last hour and day at now.
func Use(spent []Spent, now int64) (hour, day uint64) {
	for _, s := range spent {
		age := now - s.Time
		if age < 0 || age >= 24*3600 {
			continue
		}
		day = addCapped(day, s.Amount)
		if age < 3600 {
			hour = addCapped(hour, s.Amount)
		}
	}
	return hour, day
}

func addCapped(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// InvoicePayee is the node an invoice string pays: its n field when it
// has one, otherwise the key recovered from its signature (BOLT 11: the
// signature over SHA256(hrp ‖ data) with its recovery id).
func InvoicePayee(s string, inv *Invoice) ([33]byte, *Violation) {
	if inv.HasPayee {
		return inv.Payee, nil
	}
	hrp, data5, err := bech32.DecodeNoLimit(strings.ToLower(s))
	if err != nil || len(data5) < 104 {
		return [33]byte{}, violation(TagInvoiceFormat, "the invoice is not valid bech32 with a signature")
	}
	body, sig5 := data5[:len(data5)-104], data5[len(data5)-104:]
	sig := u5ToBytes(sig5) // 65 bytes: r ‖ s ‖ recovery id
	if len(sig) != 65 || sig[64] > 3 {
		return [33]byte{}, violation(TagInvoiceFormat, "the invoice's signature has no valid recovery id")
	}
	packed, err := bech32.ConvertBits(body, 5, 8, true)
	if err != nil {
		return [33]byte{}, violation(TagInvoiceFormat, "the invoice's data is not 5-bit values")
	}
	msg := append([]byte(hrp), packed...)
	h := sha256.Sum256(msg)
	compact := make([]byte, 65)
	compact[0] = 27 + 4 + sig[64]
	copy(compact[1:], sig[:64])
	pub, _, err := ecdsa.RecoverCompact(compact, h[:])
	if err != nil {
		return [33]byte{}, violation(TagInvoiceFormat, "the invoice's signature does not recover a key: %v", err)
	}
	var out [33]byte
	copy(out[:], pub.SerializeCompressed())
	return out, nil
}

// String names a decision for the operator.
func (s ApprovalState) String() string {
	switch s {
	case ApprovalNone:
		return "none"
	case ApprovalPending:
		return "pending"
	case ApprovalGranted:
		return "approved"
	case ApprovalDenied:
		return "denied"
	case ApprovalTimedOut:
		return "timed-out"
	}
	return fmt.Sprintf("approval(%d)", uint8(s))
}
