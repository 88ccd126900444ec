package state

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"gl-signerd/signer/curve"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/signer/keys"
)

// Greenlight state sync. A Greenlight node keeps a copy of its signer's
// state: every request brings the entries that changed
// (HsmRequest.signer_state: key, version, value, signature) and every
// response returns the signer's changes. Greenlight's own signer signs
// each entry with a key derived from the seed (keys.StateSigningKey) over
// EntryDigest; this package signs and checks entries the same way, so the
// node's copy verifies with either signer.
//
// Our entries are our records (the encoding of encoding.go) under
// SyncPrefix: "gl-signerd/node" and "gl-signerd/channel/<peer id hex>/<dbid>",
// with the record's version as the entry's version and, as value, the
// record in standard base64 as a JSON string (EntryValue): Greenlight's
// signer reads every value in the node's copy as JSON and refuses the
// whole copy if one is not, so a user who switches back to it must find
// JSON there; a base64 string is its own canonical JSON. Entries under other
// prefixes (Greenlight's own signer's) are not ours: they are left to the
// node untouched.
//
// Merge rules for an entry of ours: a bad signature, a value that does not
// decode or a version that is not the record's own is refused (never
// used); a version newer than ours is adopted (our store was behind: a
// restore from an old backup, or an empty state directory restored from
// the mnemonic); an equal version must carry an equal value, else the
// channel is frozen (Frozen) — never a silent choice; an older version is
// ignored and our newer entry is sent back (Outgoing). The node cannot roll
// our state back: we only ever move forward.

// SyncPrefix starts the keys of our entries in the node's copy.
const SyncPrefix = "gl-signerd/"

const (
	nodeEntryKey       = SyncPrefix + "node"
	channelEntryPrefix = SyncPrefix + "channel/"
)

// Entry is one signed key-version-value entry of the node's copy.
type Entry struct {
	Key       string
	Version   uint64
	Value     []byte
	Signature []byte
}

// stateSigningDomain prefixes every signed digest (Greenlight's
// STATE_SIGNING_DOMAIN, with its NUL).
const stateSigningDomain = "greenlight/state-signing/v1\x00"

// EntryValue is an entry's value for record rec: a JSON string of rec in
// standard base64.
func EntryValue(rec []byte) []byte {
	v := make([]byte, 0, 2+base64.StdEncoding.EncodedLen(len(rec)))
	v = append(v, '"')
	v = base64.StdEncoding.AppendEncode(v, rec)
	return append(v, '"')
}

// recordOfValue reads an entry value made by EntryValue.
func recordOfValue(v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, errors.New("the value is not a JSON string")
	}
	rec, err := base64.StdEncoding.Strict().DecodeString(string(v[1 : len(v)-1]))
	if err != nil {
		return nil, fmt.Errorf("the value is not a record in base64: %w", err)
	}
	return rec, nil
}

// EntryDigest is what an entry's signature signs: SHA-256 of the domain,
// then u32 key length ‖ key ‖ u64 version ‖ u32 value length ‖ value, all
// big-endian.
func EntryDigest(key string, version uint64, value []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(stateSigningDomain))
	var n [8]byte
	binary.BigEndian.PutUint32(n[:4], uint32(len(key)))
	h.Write(n[:4])
	h.Write([]byte(key))
	binary.BigEndian.PutUint64(n[:], version)
	h.Write(n[:])
	binary.BigEndian.PutUint32(n[:4], uint32(len(value)))
	h.Write(n[:4])
	h.Write(value)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// EntrySigner signs and checks entries with the state-signing key.
type EntrySigner struct {
	key *keys.PrivateKey
	pub *btcec.PublicKey
}

// NewEntrySigner signs with k (keys.StateSigningKey); the signer keeps k.
func NewEntrySigner(k *keys.PrivateKey) *EntrySigner {
	return &EntrySigner{key: k, pub: k.PubKey()}
}

// Sign sets e's signature: ECDSA (RFC 6979, low S), 64-byte compact.
func (s *EntrySigner) Sign(e *Entry) {
	sig := keys.CompactSig(s.key.SignRFC6979(EntryDigest(e.Key, e.Version, e.Value)))
	e.Signature = sig[:]
}

// Verify checks e's signature, refusing a high-S one as libsecp256k1 does.
func (s *EntrySigner) Verify(e Entry) error {
	if len(e.Signature) == 0 {
		return errors.New("the entry is not signed")
	}
	sig, err := keys.ParseCompactSig(e.Signature)
	if err != nil {
		return err
	}
	if sv := sig.S(); sv.IsOverHalfOrder() {
		return errors.New("the signature is not in low-S form")
	}
	d := EntryDigest(e.Key, e.Version, e.Value)
	r, sv := sig.R(), sig.S()
	if !curve.VerifyECDSA(s.pub, d[:], &r, &sv) {
		return errors.New("the signature does not verify with the state-signing key")
	}
	return nil
}

// Wipe erases the signing key.
func (s *EntrySigner) Wipe() { s.key.Wipe() }

// ChannelEntryKey is channel id's key in the node's copy.
func ChannelEntryKey(id ChannelID) string {
	b := make([]byte, 0, len(channelEntryPrefix)+66+1+20)
	b = append(b, channelEntryPrefix...)
	b = hex.AppendEncode(b, id.Peer[:])
	b = append(b, '/')
	return string(strconv.AppendUint(b, id.DBID, 10))
}

// parseEntryKey reads one of our keys: a channel, or the node record.
func parseEntryKey(key string) (id ChannelID, isNode bool, err error) {
	if key == nodeEntryKey {
		return id, true, nil
	}
	rest, ok := strings.CutPrefix(key, channelEntryPrefix)
	peerHex, dbid, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || len(peerHex) != 66 {
		return id, false, fmt.Errorf("%q is not a key of ours", key)
	}
	peer, err := hex.DecodeString(peerHex)
	if err != nil || strings.ToLower(peerHex) != peerHex {
		return id, false, fmt.Errorf("%q does not name a peer in lower-case hex", key)
	}
	copy(id.Peer[:], peer)
	id.DBID, err = strconv.ParseUint(dbid, 10, 64)
	if err != nil || strconv.FormatUint(id.DBID, 10) != dbid {
		return id, false, fmt.Errorf("%q does not end in a dbid", key)
	}
	return id, false, nil
}

// MergeResult says what a Merge did.
type MergeResult struct {
	// Adopted are our keys taken from the node's copy because it was newer
	// (Restored of them were unknown here: a restore from the node's copy).
	Adopted  []string
	Restored int
	// Older are our keys the node had an older version of: ours is sent
	// back with the next Outgoing.
	Older []string
	// Refused are the node's entries we did not use, each error naming
	// the key and why.
	Refused []error
	// Conflicts are the keys whose node copy has our version with another
	// value; their channels are now frozen.
	Conflicts []string
	// Foreign counts entries of other signers, left untouched.
	Foreign int
}

// ErrFrozen is returned (wrapped) for an update of a frozen channel.
var ErrFrozen = errors.New("the channel is frozen")

// syncState is the store's view of the node's copy.
type syncState struct {
	mu sync.Mutex
	// nodeHas is the version of each of our keys the node is known to hold.
	nodeHas map[string]uint64
	// dirty are keys whose local version is ahead of nodeHas.
	dirty map[string]struct{}
	// frozen: key → why (a channel key, or the node record's).
	frozen map[string]string
	// conflicting: key → the node's entry that froze it (its signature
	// checked), for Unfreeze to adopt.
	conflicting map[string]mergeItem
	// restored counts records restored from the node's copy since Open.
	restored uint64
	// anyFrozen is set once a record is frozen: the fast path of
	// FrozenChannel.
	anyFrozen atomic.Bool
	// sent is, per key, the entry Outgoing last signed for the node: when
	// the node sends it back unchanged while our record is still at its
	// version, Merge knows it without verifying its signature again (a
	// node echoes every entry it is given; a verification costs about as
	// much as a signature).
	sent map[string]sentEntry
}

// sentEntry is what Merge needs to recognise an entry we signed.
type sentEntry struct {
	version   uint64
	digest    [32]byte
	signature []byte
}

func (y *syncState) init() {
	y.nodeHas = make(map[string]uint64)
	y.dirty = make(map[string]struct{})
	y.frozen = make(map[string]string)
	y.conflicting = make(map[string]mergeItem)
	y.sent = make(map[string]sentEntry)
}

func (y *syncState) changed(key string) {
	y.mu.Lock()
	y.dirty[key] = struct{}{}
	delete(y.sent, key)
	y.mu.Unlock()
}

func (y *syncState) frozenReason(key string) (string, bool) {
	y.mu.Lock()
	defer y.mu.Unlock()
	r, ok := y.frozen[key]
	return r, ok
}

// Frozen returns the frozen records' keys and why each is frozen.
func (s *Store) Frozen() map[string]string {
	s.sync.mu.Lock()
	defer s.sync.mu.Unlock()
	out := make(map[string]string, len(s.sync.frozen))
	for k, v := range s.sync.frozen {
		out[k] = v
	}
	return out
}

// FrozenChannel reports whether channel id is frozen, and why.
func (s *Store) FrozenChannel(id ChannelID) (string, bool) {
	if !s.sync.anyFrozen.Load() {
		return "", false
	}
	return s.sync.frozenReason(ChannelEntryKey(id))
}

// Restored counts records restored from the node's copy since Open.
func (s *Store) Restored() uint64 {
	s.sync.mu.Lock()
	defer s.sync.mu.Unlock()
	return s.sync.restored
}

// mergeItem is one of our entries, decoded.
type mergeItem struct {
	e      Entry
	id     ChannelID
	isNode bool
	ch     *Channel
	node   *Node
	rec    []byte // the record, from the entry's value
}

// Merge takes the node's entries into account (see the package comment's
// merge rules). Entries the store adopts are committed before Merge
// returns; refusals and conflicts are reported in the result, not as an
// error (the error is for a store that cannot write).
func (s *Store) Merge(ctx context.Context, entries []Entry, v *EntrySigner) (MergeResult, error) {
	var res MergeResult
	var items []mergeItem
	for _, e := range entries {
		if !strings.HasPrefix(e.Key, SyncPrefix) {
			res.Foreign++
			continue
		}
		if s.echoed(e) {
			continue
		}
		it, err := decodeEntry(e, v)
		if err != nil {
			res.Refused = append(res.Refused, err)
			continue
		}
		items = append(items, it)
	}
	// Channels in key order, then the node record: the lock order of
	// UpdateChannelAndNode, so no deadlock with concurrent updates.
	slices.SortFunc(items, func(a, b mergeItem) int {
		if a.isNode != b.isNode {
			if a.isNode {
				return 1
			}
			return -1
		}
		return strings.Compare(a.e.Key, b.e.Key)
	})
	items = slices.CompactFunc(items, func(a, b mergeItem) bool { return a.e.Key == b.e.Key })

	var puts []put
	var adoptCh []*Channel
	var adoptNode *Node
	for _, it := range items {
		if it.isNode {
			s.nodeMu.Lock()
			defer s.nodeMu.Unlock()
		} else {
			l := s.channelLock(it.id)
			l.Lock()
			defer l.Unlock()
		}
		s.mu.RLock()
		var localVersion uint64
		var localRec []byte
		var err error
		if it.isNode {
			localVersion = s.node.Version
			if localVersion > 0 {
				localRec, err = EncodeNode(s.node)
			}
		} else if ch, ok := s.channels[it.id]; ok {
			localVersion = ch.Version
			localRec, err = EncodeChannel(ch)
		}
		s.mu.RUnlock()
		if err != nil {
			return res, err
		}
		switch {
		case it.e.Version > localVersion:
			res.Adopted = append(res.Adopted, it.e.Key)
			if localVersion == 0 {
				res.Restored++
			}
			if it.isNode {
				puts = append(puts, put{bucketNode, nodeKey, it.rec})
				adoptNode = it.node
			} else {
				puts = append(puts, put{bucketChannels, channelKey(it.id), it.rec})
				adoptCh = append(adoptCh, it.ch)
			}
			s.sync.mu.Lock()
			s.sync.nodeHas[it.e.Key] = it.e.Version
			delete(s.sync.dirty, it.e.Key)
			s.sync.mu.Unlock()
		case it.e.Version == localVersion && bytes.Equal(it.rec, localRec):
			s.sync.mu.Lock()
			s.sync.nodeHas[it.e.Key] = it.e.Version
			delete(s.sync.dirty, it.e.Key)
			s.sync.mu.Unlock()
		case it.e.Version == localVersion:
			res.Conflicts = append(res.Conflicts, it.e.Key)
			s.sync.mu.Lock()
			s.sync.anyFrozen.Store(true)
			s.sync.conflicting[it.e.Key] = it
			s.sync.frozen[it.e.Key] = fmt.Sprintf("the node's signed copy of %s has version %d with a value other than ours; signing for it stops until an operator resolves the conflict", it.e.Key, it.e.Version)
			s.sync.mu.Unlock()
		default:
			res.Older = append(res.Older, it.e.Key)
			s.sync.mu.Lock()
			s.sync.nodeHas[it.e.Key] = it.e.Version
			s.sync.dirty[it.e.Key] = struct{}{}
			s.sync.mu.Unlock()
		}
	}
	if len(puts) == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := s.submit(&commit{puts: puts}); err != nil {
		return res, err
	}
	s.mu.Lock()
	for _, ch := range adoptCh {
		s.channels[ch.ID] = ch
	}
	if adoptNode != nil {
		s.node = adoptNode
	}
	s.mu.Unlock()
	s.sync.mu.Lock()
	s.sync.restored += uint64(res.Restored)
	s.sync.mu.Unlock()
	return res, nil
}

// echoed handles an entry that is exactly the one Outgoing last signed
// for its key while our record is still at that version: the node holds
// our record, and nothing else follows. Anything else (an older or newer
// entry, another value or signature, a record changed since) goes the
// whole way through Merge.
func (s *Store) echoed(e Entry) bool {
	s.sync.mu.Lock()
	sent, ok := s.sync.sent[e.Key]
	s.sync.mu.Unlock()
	if !ok || sent.version != e.Version || !bytes.Equal(sent.signature, e.Signature) ||
		sent.digest != EntryDigest(e.Key, e.Version, e.Value) {
		return false
	}
	id, isNode, err := parseEntryKey(e.Key)
	if err != nil {
		return false
	}
	// Under the record's lock, as Merge decides: no update may slip
	// between reading the version and clearing the key's dirty mark.
	if isNode {
		s.nodeMu.Lock()
		defer s.nodeMu.Unlock()
	} else {
		l := s.channelLock(id)
		l.Lock()
		defer l.Unlock()
	}
	var local uint64
	s.mu.RLock()
	if isNode {
		local = s.node.Version
	} else if ch, ok := s.channels[id]; ok {
		local = ch.Version
	}
	s.mu.RUnlock()
	if local != e.Version {
		return false
	}
	s.sync.mu.Lock()
	defer s.sync.mu.Unlock()
	if sent, ok := s.sync.sent[e.Key]; !ok || sent.version != e.Version {
		return false
	}
	if s.sync.nodeHas[e.Key] < e.Version {
		s.sync.nodeHas[e.Key] = e.Version
	}
	delete(s.sync.dirty, e.Key)
	return true
}

// decodeEntry checks one of our entries: signature, key, record, version.
func decodeEntry(e Entry, v *EntrySigner) (mergeItem, error) {
	it := mergeItem{e: e}
	if err := v.Verify(e); err != nil {
		return it, fmt.Errorf("state entry %s (version %d) refused: %w", e.Key, e.Version, err)
	}
	id, isNode, err := parseEntryKey(e.Key)
	if err != nil {
		return it, fmt.Errorf("state entry refused: %w", err)
	}
	it.id, it.isNode = id, isNode
	if it.rec, err = recordOfValue(e.Value); err != nil {
		return it, fmt.Errorf("state entry %s refused: %w", e.Key, err)
	}
	var version uint64
	if isNode {
		it.node, err = DecodeNode(it.rec)
		if err == nil {
			version = it.node.Version
		}
	} else {
		it.ch, err = DecodeChannel(channelKey(id), it.rec)
		if err == nil {
			version = it.ch.Version
		}
	}
	if err != nil {
		return it, fmt.Errorf("state entry %s refused: %w", e.Key, err)
	}
	if version != e.Version {
		return it, fmt.Errorf("state entry %s refused: entry version %d but record version %d", e.Key, e.Version, version)
	}
	// Only the canonical encoding: equal records must be equal bytes.
	var again []byte
	if isNode {
		again, err = EncodeNode(it.node)
	} else {
		again, err = EncodeChannel(it.ch)
	}
	if err != nil || !bytes.Equal(again, it.rec) || !bytes.Equal(EntryValue(again), e.Value) {
		return it, fmt.Errorf("state entry %s refused: the record is not in its canonical encoding", e.Key)
	}
	return it, nil
}

// Outgoing returns our entries the node does not hold yet, signed, and
// counts them as sent: a response carries them to the node.
func (s *Store) Outgoing(v *EntrySigner) []Entry {
	s.sync.mu.Lock()
	keys := make([]string, 0, len(s.sync.dirty))
	for k := range s.sync.dirty {
		keys = append(keys, k)
	}
	s.sync.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		id, isNode, err := parseEntryKey(k)
		if err != nil {
			continue
		}
		var rec []byte
		var version uint64
		s.mu.RLock()
		if isNode {
			rec, err = EncodeNode(s.node)
			version = s.node.Version
		} else if ch, ok := s.channels[id]; ok {
			rec, err = EncodeChannel(ch)
			version = ch.Version
		}
		s.mu.RUnlock()
		if err != nil || rec == nil {
			continue
		}
		e := Entry{Key: k, Version: version, Value: EntryValue(rec)}
		v.Sign(&e)
		out = append(out, e)
		s.sync.mu.Lock()
		s.sync.sent[k] = sentEntry{version: version, digest: EntryDigest(k, version, e.Value), signature: e.Signature}
		if s.sync.nodeHas[k] < version {
			s.sync.nodeHas[k] = version
		}
		if s.sync.nodeHas[k] >= version {
			delete(s.sync.dirty, k)
		}
		s.sync.mu.Unlock()
	}
	return out
}

// Adopt says which side of a conflict Unfreeze keeps.
type Adopt int

const (
	// AdoptOurs keeps the signer's own record.
	AdoptOurs Adopt = iota + 1
	// AdoptNode takes the node's signed copy (which we signed once).
	AdoptNode
)

func (a Adopt) String() string {
	switch a {
	case AdoptOurs:
		return "ours"
	case AdoptNode:
		return "node"
	}
	return fmt.Sprintf("adopt(%d)", int(a))
}

// RecordKey reads a record's name as an operator gives it: "node", a
// channel as PEER/DBID (ChannelID.String), or an entry key.
func RecordKey(name string) (string, error) {
	switch {
	case name == "node" || name == nodeEntryKey:
		return nodeEntryKey, nil
	case strings.HasPrefix(name, SyncPrefix):
		if _, _, err := parseEntryKey(name); err != nil {
			return "", err
		}
		return name, nil
	}
	key := channelEntryPrefix + name
	if _, _, err := parseEntryKey(key); err != nil {
		return "", fmt.Errorf("%q names no record: give node, PEER/DBID (peer id in lower-case hex) or an entry key", name)
	}
	return key, nil
}

// Unfreeze resolves the conflict that froze record key (see RecordKey):
// the side chosen becomes the record, with a version above both sides'
// (so that it wins over the node's copy, to which it is sent next), it is
// committed, and the record is no longer frozen. It returns the new
// version. An operator decides which side is right; nothing here guesses.
func (s *Store) Unfreeze(ctx context.Context, key string, adopt Adopt) (uint64, error) {
	id, isNode, err := parseEntryKey(key)
	if err != nil {
		return 0, err
	}
	if adopt != AdoptOurs && adopt != AdoptNode {
		return 0, fmt.Errorf("unfreeze adopts ours or node, not %v", adopt)
	}
	if isNode {
		s.nodeMu.Lock()
		defer s.nodeMu.Unlock()
	} else {
		l := s.channelLock(id)
		l.Lock()
		defer l.Unlock()
	}
	s.sync.mu.Lock()
	_, frozen := s.sync.frozen[key]
	theirs, haveTheirs := s.sync.conflicting[key]
	s.sync.mu.Unlock()
	if !frozen {
		return 0, fmt.Errorf("%s is not frozen", key)
	}
	if adopt == AdoptNode && !haveTheirs {
		return 0, fmt.Errorf("the node's copy of %s is not held (the conflict predates this start of the signer); adopt ours, or wait for the node to send its copy again", key)
	}
	s.mu.RLock()
	var ch *Channel
	var node *Node
	if isNode {
		node = s.node.Clone()
	} else if c, ok := s.channels[id]; ok {
		ch = c.Clone()
	} else {
		ch = &Channel{ID: id}
	}
	s.mu.RUnlock()
	var version uint64
	var p put
	if isNode {
		if adopt == AdoptNode {
			node = theirs.node.Clone()
		}
		version = max(node.Version, theirs.e.Version) + 1
		node.Version = version
		rec, err := EncodeNode(node)
		if err != nil {
			return 0, err
		}
		p = put{bucketNode, nodeKey, rec}
	} else {
		if adopt == AdoptNode {
			ch = theirs.ch.Clone()
		}
		version = max(ch.Version, theirs.e.Version) + 1
		ch.ID, ch.Version = id, version
		rec, err := EncodeChannel(ch)
		if err != nil {
			return 0, err
		}
		p = put{bucketChannels, channelKey(id), rec}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.submit(&commit{puts: []put{p}}); err != nil {
		return 0, err
	}
	s.mu.Lock()
	if isNode {
		s.node = node
	} else {
		s.channels[id] = ch
	}
	s.mu.Unlock()
	s.sync.mu.Lock()
	delete(s.sync.frozen, key)
	delete(s.sync.conflicting, key)
	s.sync.anyFrozen.Store(len(s.sync.frozen) > 0)
	s.sync.dirty[key] = struct{}{}
	s.sync.mu.Unlock()
	return version, nil
}
