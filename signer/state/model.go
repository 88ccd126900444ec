package state

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
)

// ChannelID names a channel as hsmd does: the peer's node id and
// lightningd's channel dbid.
type ChannelID struct {
	Peer [33]byte
	DBID uint64
}

func (id ChannelID) String() string {
	return fmt.Sprintf("%s/%d", hex.EncodeToString(id.Peer[:]), id.DBID)
}

// Status is where a channel is in its life.
type Status uint8

// A channel is Unknown until new_channel declares it (a request may name a
// channel lightningd never declared to us), Declared after new_channel,
// Open after setup_channel, Closing once a close was signed, and Forgotten
// after forget_channel: a tombstone whose dbid is never to be used again.
const (
	StatusUnknown Status = iota
	StatusDeclared
	StatusOpen
	StatusClosing
	StatusForgotten
	numStatuses
)

func (s Status) String() string {
	switch s {
	case StatusUnknown:
		return "unknown"
	case StatusDeclared:
		return "declared"
	case StatusOpen:
		return "open"
	case StatusClosing:
		return "closing"
	case StatusForgotten:
		return "forgotten"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Channel is everything remembered about one channel.
type Channel struct {
	ID     ChannelID
	Status Status
	// Version counts the changes committed for this channel (1 after the
	// first); Greenlight's state sync compares it.
	Version uint64

	// Setup is set by setup_channel; nil before.
	Setup *Setup
	// FundingLocked is set by lock_outpoint on the funding outpoint.
	FundingLocked bool

	// HolderCommitNum is the number of the last holder commitment
	// validated (validate_commitment_tx), HolderRevokedNext the number of
	// holder commitments revoked so far (revoke_commitment_tx n makes it
	// n+1), HolderPointNext one past the highest per-commitment point
	// handed out (get_per_commitment_point).
	HolderCommitNum   uint64
	HolderRevokedNext uint64
	HolderPointNext   uint64
	// LastHolder is the last holder commitment validated, nil before.
	LastHolder *Commitment

	// CounterpartyCommitNum is the number of the last counterparty
	// commitment signed; LastCounterparty that commitment and
	// PrevCounterparty the one before it (its per-commitment point is the
	// one the next revealed secret must match).
	CounterpartyCommitNum uint64
	LastCounterparty      *Commitment
	PrevCounterparty      *Commitment
	// Secrets are the counterparty's revealed per-commitment secrets
	// (validate_revocation), 0, 1, 2, … in order.
	Secrets Secrets
}

// Setup is setup_channel's fixed parameters. Holder is us, counterparty
// the peer.
type Setup struct {
	IsOutbound      bool // we funded the channel
	ChannelValueSat uint64
	PushMsat        uint64
	FundingTxid     [32]byte
	FundingVout     uint16

	HolderToSelfDelay         uint16
	HolderShutdownScript      []byte
	HolderShutdownWalletIndex *uint32

	// CounterpartyBasepoints: revocation, payment, htlc, delayed payment.
	CounterpartyBasepoints     [4][33]byte
	CounterpartyFundingPubkey  [33]byte
	CounterpartyToSelfDelay    uint16
	CounterpartyShutdownScript []byte
	// ChannelType is the negotiated channel_type feature bits, as on the
	// wire (big-endian bitfield).
	ChannelType []byte
}

// Channel type feature bits (BOLT 9).
const (
	featureStaticRemoteKey  = 12
	featureAnchorOutputs    = 20
	featureAnchorsZeroFeeTx = 22
)

func (s *Setup) hasFeature(bit int) bool {
	f := s.ChannelType
	for _, b := range []int{bit, bit + 1} {
		i := len(f) - 1 - b/8
		if i >= 0 && f[i]&(1<<(b%8)) != 0 {
			return true
		}
	}
	return false
}

// StaticRemoteKey reports option_static_remotekey (implied by anchors).
func (s *Setup) StaticRemoteKey() bool {
	return s.hasFeature(featureStaticRemoteKey) || s.Anchors()
}

// Anchors reports option_anchor_outputs or option_anchors_zero_fee_htlc_tx.
func (s *Setup) Anchors() bool {
	return s.hasFeature(featureAnchorOutputs) || s.hasFeature(featureAnchorsZeroFeeTx)
}

// ZeroFeeAnchors reports option_anchors_zero_fee_htlc_tx.
func (s *Setup) ZeroFeeAnchors() bool { return s.hasFeature(featureAnchorsZeroFeeTx) }

// Commitment is one commitment transaction as signed or validated.
type Commitment struct {
	Num          uint64
	FeeratePerKw uint32
	Txid         [32]byte
	// PerCommitmentPoint is the counterparty's point for a counterparty
	// commitment (zero for a holder commitment, whose point we derive).
	PerCommitmentPoint [33]byte
	// HolderSat and CounterpartySat are the two sides' outputs on chain,
	// in satoshi (zero when trimmed or absent); BalancesKnown is false
	// when the outputs could not be told apart (no setup_channel yet).
	HolderSat       uint64
	CounterpartySat uint64
	BalancesKnown   bool
	HTLCs           []HTLC
}

// HTLC is one HTLC of a commitment.
type HTLC struct {
	// Offered is true for an HTLC the holder of the commitment offered
	// (CLN's side LOCAL), false for one it received.
	Offered     bool
	AmountMsat  uint64
	PaymentHash [32]byte
	CltvExpiry  uint32
}

// Clone returns a deep copy: the engine changes a clone and hands it back.
func (ch *Channel) Clone() *Channel {
	c := *ch
	if ch.Setup != nil {
		s := *ch.Setup
		s.HolderShutdownScript = slices.Clone(s.HolderShutdownScript)
		s.CounterpartyShutdownScript = slices.Clone(s.CounterpartyShutdownScript)
		s.ChannelType = slices.Clone(s.ChannelType)
		if s.HolderShutdownWalletIndex != nil {
			i := *s.HolderShutdownWalletIndex
			s.HolderShutdownWalletIndex = &i
		}
		c.Setup = &s
	}
	c.LastHolder = ch.LastHolder.clone()
	c.LastCounterparty = ch.LastCounterparty.clone()
	c.PrevCounterparty = ch.PrevCounterparty.clone()
	c.Secrets = ch.Secrets.clone()
	return &c
}

func (c *Commitment) clone() *Commitment {
	if c == nil {
		return nil
	}
	d := *c
	d.HTLCs = slices.Clone(c.HTLCs)
	return &d
}

// Node is the node-wide state. The engine's recorders fill DBIDHighWater
// (new_channel), Addresses (check_pubkey) and Invoices
// (preapprove_invoice, preapprove_keysend and their forms without
// check_only); Allowlist and Velocity are for the policy layer's own
// decisions to keep. Change it through its methods where there is one.
type Node struct {
	// Version counts the changes committed to the node record.
	Version uint64
	// DBIDHighWater is the highest channel dbid ever declared.
	DBIDHighWater uint64
	// Invoices are the invoices and keysends preapproved or paid, oldest
	// first, one per payment hash, at most MaxInvoices (AddInvoice).
	Invoices []Invoice
	// Addresses are the wallet key indices handed out (check_pubkey),
	// ascending.
	Addresses []uint32
	// Allowlist holds the output scripts payments may go to.
	Allowlist [][]byte
	// Velocity counts what left the node in the current window.
	Velocity Velocity
}

// Invoice is one preapproved or paid invoice or keysend.
type Invoice struct {
	PaymentHash [32]byte
	AmountMsat  uint64
	// Expiry is the invoice's expiry as Unix seconds (0: none).
	Expiry  uint64
	Keysend bool
	Paid    bool
}

// Velocity is a spending counter over a time window.
type Velocity struct {
	WindowStart uint64 // Unix seconds
	SpentMsat   uint64
}

// Clone returns a deep copy.
func (n *Node) Clone() *Node {
	c := *n
	c.Invoices = slices.Clone(n.Invoices)
	c.Addresses = slices.Clone(n.Addresses)
	c.Allowlist = make([][]byte, len(n.Allowlist))
	for i, s := range n.Allowlist {
		c.Allowlist[i] = slices.Clone(s)
	}
	if n.Allowlist == nil {
		c.Allowlist = nil
	}
	return &c
}

// MaxInvoices bounds Node.Invoices: the node record is written whole with
// every change, and a node that preapproves without end must not make it
// grow without end.
const MaxInvoices = 512

// AddInvoice records inv (preapproved, or paid) at Unix time now. An
// entry with the same payment hash is replaced in place (a retried
// preapproval changes nothing); invoices expired by now (Expiry ≤ now,
// Expiry 0 never expires) are dropped; beyond MaxInvoices the oldest
// entries go first. It reports whether the list changed.
func (n *Node) AddInvoice(inv Invoice, now uint64) bool {
	changed := n.PruneInvoices(now)
	if inv.Expiry != 0 && inv.Expiry <= now {
		return changed
	}
	if i := slices.IndexFunc(n.Invoices, func(x Invoice) bool { return x.PaymentHash == inv.PaymentHash }); i >= 0 {
		if n.Invoices[i] == inv {
			return changed
		}
		n.Invoices[i] = inv
		return true
	}
	if len(n.Invoices) >= MaxInvoices {
		n.Invoices = slices.Delete(n.Invoices, 0, len(n.Invoices)-MaxInvoices+1)
	}
	n.Invoices = append(n.Invoices, inv)
	return true
}

// PruneInvoices drops the invoices expired by Unix time now and reports
// whether any was.
func (n *Node) PruneInvoices(now uint64) bool {
	before := len(n.Invoices)
	n.Invoices = slices.DeleteFunc(n.Invoices, func(x Invoice) bool { return x.Expiry != 0 && x.Expiry <= now })
	return len(n.Invoices) != before
}

// Invoice returns the entry for payment hash h, if there is one.
func (n *Node) Invoice(h [32]byte) (Invoice, bool) {
	if i := slices.IndexFunc(n.Invoices, func(x Invoice) bool { return x.PaymentHash == h }); i >= 0 {
		return n.Invoices[i], true
	}
	return Invoice{}, false
}

// AddAddress records wallet key index i as issued.
func (n *Node) AddAddress(i uint32) {
	j, found := slices.BinarySearch(n.Addresses, i)
	if !found {
		n.Addresses = slices.Insert(n.Addresses, j, i)
	}
}

// equalRecords reports whether two encodings are the same record.
func equalRecords(a, b []byte) bool { return bytes.Equal(a, b) }
