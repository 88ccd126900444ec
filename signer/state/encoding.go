package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The record encoding, format 1 (docs/state.md has the same table). All
// integers are big-endian; bytes16 is a u16 length and that many bytes.
//
// Channel record, under key peer id (33) ‖ dbid (u64) in bucket "channels":
//
//	u8 format = 1, u64 version, u8 status,
//	u8 flags (1 setup, 2 funding locked, 4 last holder commitment,
//	          8 last counterparty commitment, 16 previous counterparty commitment),
//	u64 holder_commit_num, u64 holder_revoked_next, u64 holder_point_next,
//	u64 counterparty_commit_num,
//	[setup], [last holder], [last counterparty], [previous counterparty],
//	bytes16 counterparty secrets (lnd's shachain store encoding)
//
// setup: u8 is_outbound, u64 channel_value_sat, u64 push_msat,
// 32 funding_txid, u16 funding_vout, u16 holder_to_self_delay,
// bytes16 holder_shutdown_script, u8 has_wallet_index, u32 wallet_index,
// 4×33 counterparty basepoints, 33 counterparty_funding_pubkey,
// u16 counterparty_to_self_delay, bytes16 counterparty_shutdown_script,
// bytes16 channel_type.
//
// commitment: u64 num, u32 feerate_per_kw, 32 txid, 33 per_commitment_point,
// u64 holder_sat, u64 counterparty_sat, u8 balances_known,
// u16 htlc count, each: u8 offered, u64 amount_msat, 32 payment_hash,
// u32 cltv_expiry.
//
// Node record, under key "node" in bucket "node":
//
//	u8 format = 1, u64 version, u64 dbid_high_water,
//	u32 invoice count, each: 32 payment_hash, u64 amount_msat, u64 expiry,
//	    u8 flags (1 keysend, 2 paid),
//	u32 address count, each u32 index,
//	u16 allowlist count, each bytes16 script,
//	u64 velocity window start, u64 velocity spent msat
const recordFormat = 1

// DecodeError is a stored (or node-provided) record that does not decode.
type DecodeError struct {
	// Key names the record, e.g. "channel 02ab…/7" or "node".
	Key   string
	Field string
	Err   error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("state record %s does not decode: field %s: %v", e.Key, e.Field, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

var errTruncated = errors.New("the record ends early")

// writer appends a record.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) raw(v []byte) { w.b = append(w.b, v...) }
func (w *writer) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// bytes16 writes a u16-length-prefixed field; longer values are an error.
func (w *writer) bytes16(field string, v []byte) error {
	if len(v) > math.MaxUint16 {
		return fmt.Errorf("state: %s is %d bytes, at most %d can be stored", field, len(v), math.MaxUint16)
	}
	w.u16(uint16(len(v)))
	w.raw(v)
	return nil
}

// reader reads a record; the first failure sticks and names its field.
type reader struct {
	b     []byte
	field string
	err   error
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.field, r.err = field, errTruncated
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) fail(field string, err error) {
	if r.err == nil {
		r.field, r.err = field, err
	}
}

func (r *reader) u8(field string) uint8 {
	if v := r.take(field, 1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(field string) uint16 {
	if v := r.take(field, 2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if v := r.take(field, 4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if v := r.take(field, 8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) bool(field string) bool {
	switch v := r.u8(field); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(field, fmt.Errorf("boolean byte %d is neither 0 nor 1", v))
		return false
	}
}

func (r *reader) fixed(field string, dst []byte) {
	if v := r.take(field, len(dst)); v != nil {
		copy(dst, v)
	}
}

func (r *reader) bytes16(field string) []byte {
	n := r.u16(field + " length")
	v := r.take(field, int(n))
	if v == nil || n == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// count reads a count of items of at least size bytes each, refusing one
// the rest of the record cannot hold (so a corrupt count allocates nothing).
func (r *reader) count(field string, n uint64, size int) int {
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)/size) {
		r.fail(field, fmt.Errorf("%d items do not fit in the %d bytes left", n, len(r.b)))
		return 0
	}
	return int(n)
}

func (r *reader) end(key string) error {
	if r.err == nil && len(r.b) != 0 {
		r.field, r.err = "end", fmt.Errorf("%d bytes after the record", len(r.b))
	}
	if r.err != nil {
		return &DecodeError{Key: key, Field: r.field, Err: r.err}
	}
	return nil
}

const (
	flagSetup = 1 << iota
	flagFundingLocked
	flagLastHolder
	flagLastCounterparty
	flagPrevCounterparty
	allChannelFlags = flagSetup | flagFundingLocked | flagLastHolder | flagLastCounterparty | flagPrevCounterparty
)

// channelKey is a channel's key in the store: peer id ‖ dbid.
func channelKey(id ChannelID) []byte {
	k := make([]byte, 0, 41)
	k = append(k, id.Peer[:]...)
	return binary.BigEndian.AppendUint64(k, id.DBID)
}

// channelIDFromKey reads a channel key.
func channelIDFromKey(k []byte) (ChannelID, error) {
	var id ChannelID
	if len(k) != 41 {
		return id, &DecodeError{Key: fmt.Sprintf("%x", k), Field: "key", Err: fmt.Errorf("a channel key is 41 bytes, not %d", len(k))}
	}
	copy(id.Peer[:], k)
	id.DBID = binary.BigEndian.Uint64(k[33:])
	return id, nil
}

// EncodeChannel returns ch's record (format 1).
func EncodeChannel(ch *Channel) ([]byte, error) {
	return appendChannel(make([]byte, 0, channelSizeHint(ch)), ch)
}

// channelSizeHint is about the size of ch's record, so that encoding it
// allocates once.
func channelSizeHint(ch *Channel) int {
	n := 64 + 256 + len(ch.Secrets.raw)
	for _, c := range []*Commitment{ch.LastHolder, ch.LastCounterparty, ch.PrevCounterparty} {
		if c != nil {
			n += 128 + len(c.HTLCs)*htlcSize
		}
	}
	if ch.Setup != nil {
		n += len(ch.Setup.HolderShutdownScript) + len(ch.Setup.CounterpartyShutdownScript) + len(ch.Setup.ChannelType)
	}
	return n
}

// appendChannel appends ch's record to dst.
func appendChannel(dst []byte, ch *Channel) ([]byte, error) {
	w := &writer{b: dst}
	w.u8(recordFormat)
	w.u64(ch.Version)
	w.u8(uint8(ch.Status))
	var flags uint8
	if ch.Setup != nil {
		flags |= flagSetup
	}
	if ch.FundingLocked {
		flags |= flagFundingLocked
	}
	if ch.LastHolder != nil {
		flags |= flagLastHolder
	}
	if ch.LastCounterparty != nil {
		flags |= flagLastCounterparty
	}
	if ch.PrevCounterparty != nil {
		flags |= flagPrevCounterparty
	}
	w.u8(flags)
	w.u64(ch.HolderCommitNum)
	w.u64(ch.HolderRevokedNext)
	w.u64(ch.HolderPointNext)
	w.u64(ch.CounterpartyCommitNum)
	if s := ch.Setup; s != nil {
		w.bool(s.IsOutbound)
		w.u64(s.ChannelValueSat)
		w.u64(s.PushMsat)
		w.raw(s.FundingTxid[:])
		w.u16(s.FundingVout)
		w.u16(s.HolderToSelfDelay)
		if err := w.bytes16("holder shutdown script", s.HolderShutdownScript); err != nil {
			return nil, err
		}
		w.bool(s.HolderShutdownWalletIndex != nil)
		if s.HolderShutdownWalletIndex != nil {
			w.u32(*s.HolderShutdownWalletIndex)
		} else {
			w.u32(0)
		}
		for _, bp := range s.CounterpartyBasepoints {
			w.raw(bp[:])
		}
		w.raw(s.CounterpartyFundingPubkey[:])
		w.u16(s.CounterpartyToSelfDelay)
		if err := w.bytes16("counterparty shutdown script", s.CounterpartyShutdownScript); err != nil {
			return nil, err
		}
		if err := w.bytes16("channel type", s.ChannelType); err != nil {
			return nil, err
		}
	}
	for _, c := range []*Commitment{ch.LastHolder, ch.LastCounterparty, ch.PrevCounterparty} {
		if c == nil {
			continue
		}
		if err := writeCommitment(w, c); err != nil {
			return nil, err
		}
	}
	if err := w.bytes16("counterparty secrets", ch.Secrets.raw); err != nil {
		return nil, err
	}
	return w.b, nil
}

func writeCommitment(w *writer, c *Commitment) error {
	if len(c.HTLCs) > math.MaxUint16 {
		return fmt.Errorf("state: commitment %d has %d HTLCs, at most %d can be stored", c.Num, len(c.HTLCs), math.MaxUint16)
	}
	w.u64(c.Num)
	w.u32(c.FeeratePerKw)
	w.raw(c.Txid[:])
	w.raw(c.PerCommitmentPoint[:])
	w.u64(c.HolderSat)
	w.u64(c.CounterpartySat)
	w.bool(c.BalancesKnown)
	w.u16(uint16(len(c.HTLCs)))
	for _, h := range c.HTLCs {
		w.bool(h.Offered)
		w.u64(h.AmountMsat)
		w.raw(h.PaymentHash[:])
		w.u32(h.CltvExpiry)
	}
	return nil
}

const htlcSize = 1 + 8 + 32 + 4

func readCommitment(r *reader, name string) *Commitment {
	c := &Commitment{}
	c.Num = r.u64(name + ".num")
	c.FeeratePerKw = r.u32(name + ".feerate_per_kw")
	r.fixed(name+".txid", c.Txid[:])
	r.fixed(name+".per_commitment_point", c.PerCommitmentPoint[:])
	c.HolderSat = r.u64(name + ".holder_sat")
	c.CounterpartySat = r.u64(name + ".counterparty_sat")
	c.BalancesKnown = r.bool(name + ".balances_known")
	n := r.count(name+".htlcs", uint64(r.u16(name+".htlc_count")), htlcSize)
	if n > 0 {
		c.HTLCs = make([]HTLC, n)
	}
	for i := range c.HTLCs {
		h := &c.HTLCs[i]
		f := fmt.Sprintf("%s.htlcs[%d]", name, i)
		h.Offered = r.bool(f + ".offered")
		h.AmountMsat = r.u64(f + ".amount_msat")
		r.fixed(f+".payment_hash", h.PaymentHash[:])
		h.CltvExpiry = r.u32(f + ".cltv_expiry")
	}
	return c
}

// DecodeChannel reads the record stored under key (a channel key); an
// error is a *DecodeError naming the key and the field.
func DecodeChannel(key, rec []byte) (*Channel, error) {
	id, err := channelIDFromKey(key)
	if err != nil {
		return nil, err
	}
	name := "channel " + id.String()
	r := &reader{b: rec}
	if f := r.u8("format"); r.err == nil && f != recordFormat {
		return nil, &DecodeError{Key: name, Field: "format", Err: fmt.Errorf("format %d is not one this signer reads (%d)", f, recordFormat)}
	}
	ch := &Channel{ID: id}
	ch.Version = r.u64("version")
	ch.Status = Status(r.u8("status"))
	if r.err == nil && ch.Status >= numStatuses {
		r.fail("status", fmt.Errorf("unknown status %d", ch.Status))
	}
	flags := r.u8("flags")
	if r.err == nil && flags&^allChannelFlags != 0 {
		r.fail("flags", fmt.Errorf("unknown flags %#x", flags&^allChannelFlags))
	}
	ch.FundingLocked = flags&flagFundingLocked != 0
	ch.HolderCommitNum = r.u64("holder_commit_num")
	ch.HolderRevokedNext = r.u64("holder_revoked_next")
	ch.HolderPointNext = r.u64("holder_point_next")
	ch.CounterpartyCommitNum = r.u64("counterparty_commit_num")
	if flags&flagSetup != 0 {
		s := &Setup{}
		s.IsOutbound = r.bool("setup.is_outbound")
		s.ChannelValueSat = r.u64("setup.channel_value_sat")
		s.PushMsat = r.u64("setup.push_msat")
		r.fixed("setup.funding_txid", s.FundingTxid[:])
		s.FundingVout = r.u16("setup.funding_vout")
		s.HolderToSelfDelay = r.u16("setup.holder_to_self_delay")
		s.HolderShutdownScript = r.bytes16("setup.holder_shutdown_script")
		hasIndex := r.bool("setup.has_wallet_index")
		idx := r.u32("setup.wallet_index")
		if hasIndex {
			s.HolderShutdownWalletIndex = &idx
		}
		for i := range s.CounterpartyBasepoints {
			r.fixed(fmt.Sprintf("setup.counterparty_basepoints[%d]", i), s.CounterpartyBasepoints[i][:])
		}
		r.fixed("setup.counterparty_funding_pubkey", s.CounterpartyFundingPubkey[:])
		s.CounterpartyToSelfDelay = r.u16("setup.counterparty_to_self_delay")
		s.CounterpartyShutdownScript = r.bytes16("setup.counterparty_shutdown_script")
		s.ChannelType = r.bytes16("setup.channel_type")
		ch.Setup = s
	}
	if flags&flagLastHolder != 0 {
		ch.LastHolder = readCommitment(r, "last_holder")
	}
	if flags&flagLastCounterparty != 0 {
		ch.LastCounterparty = readCommitment(r, "last_counterparty")
	}
	if flags&flagPrevCounterparty != 0 {
		ch.PrevCounterparty = readCommitment(r, "prev_counterparty")
	}
	raw := r.bytes16("counterparty_secrets")
	if r.err == nil {
		if ch.Secrets, err = secretsFromRaw(raw); err != nil {
			r.fail("counterparty_secrets", err)
		}
	}
	if err := r.end(name); err != nil {
		return nil, err
	}
	return ch, nil
}

// nodeKey is the node record's key in bucket "node".
var nodeKey = []byte("node")

const invoiceSize = 32 + 8 + 8 + 1

// EncodeNode returns n's record (format 1).
func EncodeNode(n *Node) ([]byte, error) {
	w := &writer{b: make([]byte, 0, 64+len(n.Invoices)*invoiceSize+len(n.Addresses)*4)}
	w.u8(recordFormat)
	w.u64(n.Version)
	w.u64(n.DBIDHighWater)
	if uint64(len(n.Invoices)) > math.MaxUint32 || uint64(len(n.Addresses)) > math.MaxUint32 || len(n.Allowlist) > math.MaxUint16 {
		return nil, errors.New("state: the node record has more entries than can be stored")
	}
	w.u32(uint32(len(n.Invoices)))
	for _, inv := range n.Invoices {
		w.raw(inv.PaymentHash[:])
		w.u64(inv.AmountMsat)
		w.u64(inv.Expiry)
		var f uint8
		if inv.Keysend {
			f |= 1
		}
		if inv.Paid {
			f |= 2
		}
		w.u8(f)
	}
	w.u32(uint32(len(n.Addresses)))
	for _, a := range n.Addresses {
		w.u32(a)
	}
	w.u16(uint16(len(n.Allowlist)))
	for _, s := range n.Allowlist {
		if err := w.bytes16("allowlist script", s); err != nil {
			return nil, err
		}
	}
	w.u64(n.Velocity.WindowStart)
	w.u64(n.Velocity.SpentMsat)
	return w.b, nil
}

// DecodeNode reads the node record; an error is a *DecodeError.
func DecodeNode(rec []byte) (*Node, error) {
	const name = "node"
	r := &reader{b: rec}
	if f := r.u8("format"); r.err == nil && f != recordFormat {
		return nil, &DecodeError{Key: name, Field: "format", Err: fmt.Errorf("format %d is not one this signer reads (%d)", f, recordFormat)}
	}
	n := &Node{}
	n.Version = r.u64("version")
	n.DBIDHighWater = r.u64("dbid_high_water")
	if c := r.count("invoices", uint64(r.u32("invoice_count")), invoiceSize); c > 0 {
		n.Invoices = make([]Invoice, c)
	}
	for i := range n.Invoices {
		inv := &n.Invoices[i]
		f := fmt.Sprintf("invoices[%d]", i)
		r.fixed(f+".payment_hash", inv.PaymentHash[:])
		inv.AmountMsat = r.u64(f + ".amount_msat")
		inv.Expiry = r.u64(f + ".expiry")
		flags := r.u8(f + ".flags")
		if r.err == nil && flags&^3 != 0 {
			r.fail(f+".flags", fmt.Errorf("unknown flags %#x", flags&^3))
		}
		inv.Keysend, inv.Paid = flags&1 != 0, flags&2 != 0
	}
	if c := r.count("addresses", uint64(r.u32("address_count")), 4); c > 0 {
		n.Addresses = make([]uint32, c)
	}
	for i := range n.Addresses {
		n.Addresses[i] = r.u32(fmt.Sprintf("addresses[%d]", i))
		if r.err == nil && i > 0 && n.Addresses[i] <= n.Addresses[i-1] {
			r.fail(fmt.Sprintf("addresses[%d]", i), errors.New("indices are not in ascending order"))
		}
	}
	if c := r.count("allowlist", uint64(r.u16("allowlist_count")), 2); c > 0 {
		n.Allowlist = make([][]byte, c)
	}
	for i := range n.Allowlist {
		n.Allowlist[i] = r.bytes16(fmt.Sprintf("allowlist[%d]", i))
	}
	n.Velocity.WindowStart = r.u64("velocity.window_start")
	n.Velocity.SpentMsat = r.u64("velocity.spent_msat")
	if err := r.end(name); err != nil {
		return nil, err
	}
	return n, nil
}
