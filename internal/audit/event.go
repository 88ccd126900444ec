package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Event is a decision that is not a request's answer: an authorization
// decision (a payment authorized by an intent, an approval asked for) or
// one of the operator's (an approval granted or denied, an allowlist
// entry added or removed). Its line is told from a Record's by its
// "event" field.
type Event struct {
	Time time.Time `json:"time"`
	// Event names it: "authorized", "refused", "approval-requested",
	// "approved", "denied", "allowlist-added", "allowlist-removed".
	Event string `json:"event"`
	// TypeName is the request's message name, for request decisions.
	TypeName string `json:"type_name,omitempty"`
	Peer     string `json:"peer,omitempty"`
	DBID     uint64 `json:"dbid,omitempty"`
	// Kind is what the request does: payment, withdrawal, close.
	Kind string `json:"kind,omitempty"`
	// Summary says what (an amount and destination, an allowlist entry);
	// By on which ground it was authorized; Tag and Reason why refused.
	Summary    string `json:"summary,omitempty"`
	By         string `json:"by,omitempty"`
	Tag        string `json:"tag,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ApprovalID uint64 `json:"approval_id,omitempty"`
	// Method is the gRPC method of a user's call (intent events); ID
	// names what the event is about (a call's id, a rune's number);
	// Detail says what was decided (a rune's restrictions).
	Method string `json:"method,omitempty"`
	ID     string `json:"id,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Events of the user's intents and runes.
const (
	// EventIntentAccepted and EventIntentRefused: a user's signed call
	// (Greenlight PendingRequest) judged for a request.
	EventIntentAccepted = "intent_accepted"
	EventIntentRefused  = "intent_refused"
	// EventRuneCreated: gl-signerd ctl rune create issued a rune.
	EventRuneCreated = "rune_created"
)

// AppendEvent writes e as Append writes a Record.
func (l *Log) AppendEvent(ctx context.Context, e Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encoding an event: %w", err)
	}
	return l.appendLine(ctx, append(line, '\n'))
}
