package state

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// What the operator decides at run time, kept with the channel state so
// that a restart forgets none of it: approvals of requests the policy
// could not authorize, the allowlist entries added with gl-signerd ctl
// allowlist, and what left the node recently (the velocity limits' count).
// It is this signer's own record: not part of Greenlight's signed state
// copy (a device restored from its words starts with the configuration's
// allowlist and no approvals).

// Operator is the operator's record.
type Operator struct {
	// Version counts the changes committed.
	Version uint64
	// NextApprovalID numbers the next approval (from 1).
	NextApprovalID uint64
	Approvals      []Approval
	// Allowlist holds the entries added at run time, as the
	// configuration writes them ("payee:<node id>", "address:<addr>",
	// "xpub:<xpub>"), in the order added.
	Allowlist []string
	// Spends are the payments and withdrawals of the last day.
	Spends []Spend
}

// ApprovalKind says what an approval is for.
type ApprovalKind uint8

// The kinds of requests an operator approves.
const (
	ApprovalPayment ApprovalKind = iota + 1
	ApprovalWithdrawal
	ApprovalClose
	// ApprovalChannel: a channel we fund.
	ApprovalChannel
	numApprovalKinds
)

func (k ApprovalKind) String() string {
	switch k {
	case ApprovalPayment:
		return "payment"
	case ApprovalWithdrawal:
		return "withdrawal"
	case ApprovalClose:
		return "close"
	case ApprovalChannel:
		return "channel"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ApprovalStatus is where an approval is in its life: Pending until the
// operator approves or denies it, or until it times out. Denied and
// TimedOut are final.
type ApprovalStatus uint8

// Approval statuses.
const (
	ApprovalPending ApprovalStatus = iota + 1
	ApprovalApproved
	ApprovalDenied
	ApprovalTimedOut
	numApprovalStatuses
)

func (s ApprovalStatus) String() string {
	switch s {
	case ApprovalPending:
		return "pending"
	case ApprovalApproved:
		return "approved"
	case ApprovalDenied:
		return "denied"
	case ApprovalTimedOut:
		return "timed-out"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Approval is one request the operator is asked about.
type Approval struct {
	ID     uint64
	Kind   ApprovalKind
	Status ApprovalStatus
	// Key names the request: the payment hash of an invoice, a hash of a
	// keysend's payee and amount, a hash of a transaction's outputs.
	Key [32]byte
	// AmountMsat is the amount (0: unknown, an invoice without one).
	AmountMsat uint64
	// Summary says what is asked, for the operator (no secret).
	Summary string
	// Created and Decided are Unix seconds (Decided 0 while pending).
	Created, Decided int64
}

// Spend is one payment or withdrawal the velocity limits count.
type Spend struct {
	Kind ApprovalKind // ApprovalPayment or ApprovalWithdrawal
	// Key is the approval key of the request, so a retry counts once.
	Key [32]byte
	// Amount is msat for a payment, sat for a withdrawal.
	Amount uint64
	Time   int64
}

// Clone returns a deep copy.
func (o *Operator) Clone() *Operator {
	c := *o
	c.Approvals = slices.Clone(o.Approvals)
	c.Allowlist = slices.Clone(o.Allowlist)
	c.Spends = slices.Clone(o.Spends)
	return &c
}

// Approval returns the approval for key, if any.
func (o *Operator) Approval(kind ApprovalKind, key [32]byte) (*Approval, bool) {
	for i := range o.Approvals {
		if a := &o.Approvals[i]; a.Kind == kind && a.Key == key {
			return a, true
		}
	}
	return nil, false
}

// ApprovalByID returns approval id, if it is kept.
func (o *Operator) ApprovalByID(id uint64) (*Approval, bool) {
	for i := range o.Approvals {
		if a := &o.Approvals[i]; a.ID == id {
			return a, true
		}
	}
	return nil, false
}

// Spent reports whether the request key of kind was counted already.
func (o *Operator) Spent(kind ApprovalKind, key [32]byte) bool {
	for _, s := range o.Spends {
		if s.Kind == kind && s.Key == key {
			return true
		}
	}
	return false
}

// operatorStore is the Store's copy of the record.
type operatorStore struct {
	mu  sync.Mutex   // serializes updates
	cur atomicRecord // the committed record
}

// atomicRecord guards the committed record for readers.
type atomicRecord struct {
	mu sync.RWMutex
	op *Operator
}

var (
	bucketOperator = []byte("operator")
	operatorKey    = []byte("operator")
)

// loadOperator reads the record in an open store's first transaction.
func (s *Store) loadOperator(tx *bolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists(bucketOperator)
	if err != nil {
		return err
	}
	op := &Operator{}
	if v := b.Get(operatorKey); v != nil {
		if op, err = DecodeOperator(v); err != nil {
			return err
		}
	}
	s.operator.cur.op = op
	return nil
}

// replayOperator takes the operator's record from the state log, newer
// than the one bbolt holds.
func (s *Store) replayOperator(v []byte) error {
	op, err := DecodeOperator(v)
	if err != nil {
		return err
	}
	s.operator.cur.op = op
	return nil
}

// Operator returns a copy of the operator's record.
func (s *Store) Operator() *Operator {
	s.operator.cur.mu.RLock()
	defer s.operator.cur.mu.RUnlock()
	if s.operator.cur.op == nil {
		return &Operator{}
	}
	return s.operator.cur.op.Clone()
}

// UpdateOperator runs fn on a copy of the operator's record and commits
// the result (fsynced) before returning; updates run one at a time. An
// error from fn is returned and nothing is written; so is nothing when fn
// changes nothing.
func (s *Store) UpdateOperator(ctx context.Context, fn func(*Operator) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.operator.mu.Lock()
	defer s.operator.mu.Unlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	old := s.Operator()
	next := old.Clone()
	if err := fn(next); err != nil {
		return err
	}
	next.Version = old.Version
	before, err := EncodeOperator(old)
	if err != nil {
		return err
	}
	after, err := EncodeOperator(next)
	if err != nil {
		return err
	}
	if equalRecords(before, after) {
		return nil
	}
	next.Version++
	if after, err = EncodeOperator(next); err != nil {
		return err
	}
	if err := s.submit(&commit{puts: []put{{bucketOperator, operatorKey, after}}}); err != nil {
		return err
	}
	s.operator.cur.mu.Lock()
	s.operator.cur.op = next
	s.operator.cur.mu.Unlock()
	return nil
}

// The operator record, format 1, under key "operator" in bucket
// "operator" (integers big-endian; bytes16 is a u16 length and that many
// bytes):
//
//	u8 format = 1, u64 version, u64 next_approval_id,
//	u16 approval count, each: u64 id, u8 kind, u8 status, 32 key,
//	    u64 amount_msat, bytes16 summary, u64 created, u64 decided,
//	u16 allowlist count, each bytes16 entry,
//	u32 spend count, each: u8 kind, 32 key, u64 amount, u64 time
const operatorFormat = 1

// Bounds that keep the record small whatever the node sends.
const (
	// MaxApprovals is the most approvals kept, decided ones included.
	MaxApprovals = 1000
	// MaxAllowlist is the most run-time allowlist entries.
	MaxAllowlist = 1000
	// MaxSpends is the most payments and withdrawals counted per day.
	MaxSpends = 100_000
	// maxSummary bounds an approval's summary.
	maxSummary = 1024
)

const (
	approvalMinSize = 8 + 1 + 1 + 32 + 8 + 2 + 8 + 8
	spendSize       = 1 + 32 + 8 + 8
)

// EncodeOperator returns o's record.
func EncodeOperator(o *Operator) ([]byte, error) {
	if len(o.Approvals) > MaxApprovals || len(o.Allowlist) > MaxAllowlist || len(o.Spends) > MaxSpends {
		return nil, errors.New("state: the operator record has more entries than can be stored")
	}
	w := &writer{b: make([]byte, 0, 32+len(o.Approvals)*(approvalMinSize+64)+len(o.Spends)*spendSize)}
	w.u8(operatorFormat)
	w.u64(o.Version)
	w.u64(o.NextApprovalID)
	w.u16(uint16(len(o.Approvals)))
	for _, a := range o.Approvals {
		w.u64(a.ID)
		w.u8(uint8(a.Kind))
		w.u8(uint8(a.Status))
		w.raw(a.Key[:])
		w.u64(a.AmountMsat)
		if len(a.Summary) > maxSummary {
			return nil, fmt.Errorf("state: approval %d's summary is longer than %d bytes", a.ID, maxSummary)
		}
		if err := w.bytes16("approval summary", []byte(a.Summary)); err != nil {
			return nil, err
		}
		w.u64(uint64(a.Created))
		w.u64(uint64(a.Decided))
	}
	w.u16(uint16(len(o.Allowlist)))
	for _, e := range o.Allowlist {
		if err := w.bytes16("allowlist entry", []byte(e)); err != nil {
			return nil, err
		}
	}
	if uint64(len(o.Spends)) > math.MaxUint32 {
		return nil, errors.New("state: too many spends")
	}
	w.u32(uint32(len(o.Spends)))
	for _, s := range o.Spends {
		w.u8(uint8(s.Kind))
		w.raw(s.Key[:])
		w.u64(s.Amount)
		w.u64(uint64(s.Time))
	}
	return w.b, nil
}

// DecodeOperator reads the operator record; an error is a *DecodeError
// naming the field.
func DecodeOperator(rec []byte) (*Operator, error) {
	const name = "operator"
	r := &reader{b: rec}
	if f := r.u8("format"); r.err == nil && f != operatorFormat {
		return nil, &DecodeError{Key: name, Field: "format", Err: fmt.Errorf("format %d is not one this signer reads (%d)", f, operatorFormat)}
	}
	o := &Operator{}
	o.Version = r.u64("version")
	o.NextApprovalID = r.u64("next_approval_id")
	n := r.u16("approval_count")
	if r.err == nil && n > MaxApprovals {
		r.fail("approval_count", fmt.Errorf("%d approvals, more than %d", n, MaxApprovals))
	}
	if c := r.count("approvals", uint64(n), approvalMinSize); c > 0 {
		o.Approvals = make([]Approval, c)
	}
	for i := range o.Approvals {
		a := &o.Approvals[i]
		f := fmt.Sprintf("approvals[%d]", i)
		a.ID = r.u64(f + ".id")
		a.Kind = ApprovalKind(r.u8(f + ".kind"))
		if r.err == nil && (a.Kind == 0 || a.Kind >= numApprovalKinds) {
			r.fail(f+".kind", fmt.Errorf("unknown kind %d", a.Kind))
		}
		a.Status = ApprovalStatus(r.u8(f + ".status"))
		if r.err == nil && (a.Status == 0 || a.Status >= numApprovalStatuses) {
			r.fail(f+".status", fmt.Errorf("unknown status %d", a.Status))
		}
		r.fixed(f+".key", a.Key[:])
		a.AmountMsat = r.u64(f + ".amount_msat")
		summary := r.bytes16(f + ".summary")
		if r.err == nil && len(summary) > maxSummary {
			r.fail(f+".summary", fmt.Errorf("%d bytes, more than %d", len(summary), maxSummary))
		}
		a.Summary = string(summary)
		a.Created = int64(r.u64(f + ".created"))
		a.Decided = int64(r.u64(f + ".decided"))
	}
	n = r.u16("allowlist_count")
	if r.err == nil && n > MaxAllowlist {
		r.fail("allowlist_count", fmt.Errorf("%d entries, more than %d", n, MaxAllowlist))
	}
	if c := r.count("allowlist", uint64(n), 2); c > 0 {
		o.Allowlist = make([]string, c)
	}
	for i := range o.Allowlist {
		o.Allowlist[i] = string(r.bytes16(fmt.Sprintf("allowlist[%d]", i)))
	}
	sn := r.u32("spend_count")
	if r.err == nil && sn > MaxSpends {
		r.fail("spend_count", fmt.Errorf("%d spends, more than %d", sn, MaxSpends))
	}
	if c := r.count("spends", uint64(sn), spendSize); c > 0 {
		o.Spends = make([]Spend, c)
	}
	for i := range o.Spends {
		s := &o.Spends[i]
		f := fmt.Sprintf("spends[%d]", i)
		s.Kind = ApprovalKind(r.u8(f + ".kind"))
		if r.err == nil && s.Kind != ApprovalPayment && s.Kind != ApprovalWithdrawal {
			r.fail(f+".kind", fmt.Errorf("kind %d is neither a payment nor a withdrawal", s.Kind))
		}
		r.fixed(f+".key", s.Key[:])
		s.Amount = r.u64(f + ".amount")
		s.Time = int64(r.u64(f + ".time"))
	}
	if err := r.end(name); err != nil {
		return nil, err
	}
	return o, nil
}
