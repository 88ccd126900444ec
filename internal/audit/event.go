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
}

// AppendEvent writes e as Append writes a Record.
func (l *Log) AppendEvent(ctx context.Context, e Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encoding an event: %w", err)
	}
	return l.appendLine(ctx, append(line, '\n'))
}
