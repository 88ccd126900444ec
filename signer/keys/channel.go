package keys

import (
	"container/list"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
)

const defaultChannelCacheSize = 256

// ChannelID names a channel as hsmd does: the peer's node id (33 bytes, not
// checked to be a valid point, as in CLN) and lightningd's channel dbid.
type ChannelID struct {
	Peer [33]byte
	DBID uint64
}

// Basepoints are a channel's four basepoints, in the order of CLN's struct
// basepoints and of towire_basepoints.
type Basepoints struct {
	Revocation     *btcec.PublicKey
	Payment        *btcec.PublicKey
	HTLC           *btcec.PublicKey
	DelayedPayment *btcec.PublicKey
}

// ChannelKeys are one channel's secrets: derive_basepoints() over
// get_channel_seed(peer, dbid).  Safe for concurrent use; get them from
// Ring.Channel.
type ChannelKeys struct {
	id ChannelID

	// Public halves: immutable, readable without the lock.
	fundingPub   *btcec.PublicKey
	fundingPub33 [33]byte // fundingPub compressed, for every funding script
	basepoints   Basepoints

	mu    sync.RWMutex
	wiped bool

	funding, revocation, htlc, payment, delayedPayment PrivateKey
	shaseed                                            Secret

	// The shachain node above the current commitments (see shachain).
	shaMu     sync.Mutex
	shaPrefix uint64 // a shachain index whose low shachainNodeBits are 0
	shaNode   Secret // the shachain value at shaPrefix
	shaCached bool

	// Per-commitment points recently made, by n mod len: public values
	// (the peer is given each), asked for by several requests of one
	// commitment (get_per_commitment_point, validate_commitment_tx's
	// reply, the policy's checks of that commitment), each a
	// multiplication by G.
	pointMu sync.Mutex
	points  [4]rememberedPoint
}

type rememberedPoint struct {
	n   uint64
	pub *btcec.PublicKey // nil: empty
}

// rememberedPoint returns per-commitment point n if it is remembered.
func (ck *ChannelKeys) rememberedPoint(n uint64) *btcec.PublicKey {
	ck.pointMu.Lock()
	defer ck.pointMu.Unlock()
	if p := ck.points[n%uint64(len(ck.points))]; p.pub != nil && p.n == n {
		return p.pub
	}
	return nil
}

func (ck *ChannelKeys) rememberPoint(n uint64, pub *btcec.PublicKey) {
	ck.pointMu.Lock()
	ck.points[n%uint64(len(ck.points))] = rememberedPoint{n: n, pub: pub}
	ck.pointMu.Unlock()
}

// shachainNodeBits: the cached shachain node covers 2^8 indexes, so a
// per-commitment secret costs at most 8 hashes instead of up to 48.
const shachainNodeBits = 8

// shachain is ShachainFromSeed(shaseed, index) through the cached node
// above index: per_commit_secret walks down from the seed one hash per set
// bit of the index, about 45 for the first commitments of a channel, and
// consecutive commitments share all but the lowest bits. The node is a
// secret like the seed (it derives 256 per-commitment secrets); Wipe
// clears it. The caller holds ck.mu (read) and has checked ck.wiped.
func (ck *ChannelKeys) shachain(index uint64) Secret {
	prefix := index &^ (1<<shachainNodeBits - 1)
	ck.shaMu.Lock()
	defer ck.shaMu.Unlock()
	if !ck.shaCached || ck.shaPrefix != prefix {
		ck.shaNode = shachainDerive(0, prefix, ck.shaseed)
		ck.shaPrefix, ck.shaCached = prefix, true
	}
	return shachainDerive(prefix, index, ck.shaNode)
}

// Channel returns the keys of channel (peer, dbid), deriving them on first
// use and caching them.
//
// The channel seed is get_channel_seed(): HKDF-SHA256(salt = peer id ‖ dbid
// as little-endian u64, ikm = HKDF-SHA256(no salt, first 32 bytes of the
// secret, "peer seed"), info "per-peer seed").  From it derive_basepoints()
// expands HKDF-SHA256(no salt, seed, "c-lightning") to 192 bytes: the
// funding, revocation, htlc, payment and delayed-payment private keys, then
// the shachain seed, in that order.
func (r *Ring) Channel(peer [33]byte, dbid uint64) (*ChannelKeys, error) {
	id := ChannelID{Peer: peer, DBID: dbid}
	if ck := r.channels.get(id); ck != nil {
		return ck, nil
	}
	ck, err := r.deriveChannel(id)
	if err != nil {
		return nil, err
	}
	return r.channels.add(ck), nil
}

// Forget drops channel (peer, dbid) from the cache (forget_channel).  Keys
// already handed out stay usable; a later Channel call derives them again.
func (r *Ring) Forget(peer [33]byte, dbid uint64) {
	r.channels.remove(ChannelID{Peer: peer, DBID: dbid})
}

// ChannelSeed is get_channel_seed(peer, dbid), the secret all of a
// channel's keys come from.  Exposed for tests and tools; handlers want
// Channel.
func (r *Ring) ChannelSeed(peer [33]byte, dbid uint64) (Secret, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var seed Secret
	if r.wiped {
		return seed, ErrWiped
	}
	salt := make([]byte, 0, 33+8)
	salt = append(salt, peer[:]...)
	salt = binary.LittleEndian.AppendUint64(salt, dbid)
	hkdfSHA256(seed[:], salt, r.channelBase[:], "per-peer seed")
	return seed, nil
}

// channelUncached derives a channel's keys without touching the cache.
func (r *Ring) channelUncached(peer [33]byte, dbid uint64) (*ChannelKeys, error) {
	return r.deriveChannel(ChannelID{Peer: peer, DBID: dbid})
}

func (r *Ring) deriveChannel(id ChannelID) (*ChannelKeys, error) {
	seed, err := r.ChannelSeed(id.Peer, id.DBID)
	if err != nil {
		return nil, err
	}
	defer seed.Wipe()
	return channelKeysFromSeed(id, seed)
}

// channelKeysFromSeed is derive_basepoints().
func channelKeysFromSeed(id ChannelID, seed Secret) (*ChannelKeys, error) {
	var buf [6 * 32]byte
	defer clear(buf[:])
	hkdfSHA256(buf[:], nil, seed[:], "c-lightning")

	ck := &ChannelKeys{id: id}
	// struct keys { f, r, h, p, d; shaseed }.
	for i, dst := range []*PrivateKey{&ck.funding, &ck.revocation, &ck.htlc, &ck.payment, &ck.delayedPayment} {
		k, err := privKeyFromArray((*[32]byte)(buf[32*i : 32*i+32]))
		if err != nil {
			ck.Wipe()
			return nil, fmt.Errorf("keys: channel key %d of %x/%d: %w", i, id.Peer, id.DBID, err)
		}
		*dst = *k
		k.Wipe()
	}
	copy(ck.shaseed[:], buf[5*32:])
	// Each base key carries its public key: copies handed out (FundingKey,
	// the per-commitment derivations) then cost no point multiplication.
	setPublicKeys(&ck.funding, &ck.revocation, &ck.htlc, &ck.payment, &ck.delayedPayment)
	ck.fundingPub = ck.funding.pub
	copy(ck.fundingPub33[:], ck.fundingPub.SerializeCompressed())
	ck.basepoints = Basepoints{
		Revocation:     ck.revocation.pub,
		Payment:        ck.payment.pub,
		HTLC:           ck.htlc.pub,
		DelayedPayment: ck.delayedPayment.pub,
	}
	return ck, nil
}

// ID is the channel these keys belong to.
func (ck *ChannelKeys) ID() ChannelID { return ck.id }

// FundingPubKey is the channel's funding public key.
func (ck *ChannelKeys) FundingPubKey() *btcec.PublicKey { return ck.fundingPub }

// FundingPubKeyCompressed is FundingPubKey in its 33-byte form.
func (ck *ChannelKeys) FundingPubKeyCompressed() [33]byte { return ck.fundingPub33 }

// Basepoints are the channel's basepoints.
func (ck *ChannelKeys) Basepoints() Basepoints { return ck.basepoints }

// copyKey returns a copy of one of the private keys, or ErrWiped.
func (ck *ChannelKeys) copyKey(k *PrivateKey) (*PrivateKey, error) {
	ck.mu.RLock()
	defer ck.mu.RUnlock()
	if ck.wiped {
		return nil, ErrWiped
	}
	c := *k
	return &c, nil
}

// FundingKey is the funding private key (secrets.funding_privkey).
func (ck *ChannelKeys) FundingKey() (*PrivateKey, error) { return ck.copyKey(&ck.funding) }

// RevocationBaseKey is revocation_basepoint_secret.
func (ck *ChannelKeys) RevocationBaseKey() (*PrivateKey, error) { return ck.copyKey(&ck.revocation) }

// HTLCBaseKey is htlc_basepoint_secret.
func (ck *ChannelKeys) HTLCBaseKey() (*PrivateKey, error) { return ck.copyKey(&ck.htlc) }

// PaymentBaseKey is payment_basepoint_secret.
func (ck *ChannelKeys) PaymentBaseKey() (*PrivateKey, error) { return ck.copyKey(&ck.payment) }

// DelayedPaymentBaseKey is delayed_payment_basepoint_secret.
func (ck *ChannelKeys) DelayedPaymentBaseKey() (*PrivateKey, error) {
	return ck.copyKey(&ck.delayedPayment)
}

// PerCommitmentSecret is per_commit_secret(shaseed, n): the BOLT 3 shachain
// value at index 2^48 − 1 − n.  n > MaxCommitmentIndex is
// ErrCommitmentIndex.
func (ck *ChannelKeys) PerCommitmentSecret(n uint64) (Secret, error) {
	ck.mu.RLock()
	defer ck.mu.RUnlock()
	if err := ck.commitmentsUsable(n); err != nil {
		return Secret{}, err
	}
	return ck.shachain(ShachainIndex(n)), nil
}

// commitmentsUsable says why per-commitment values of numbers ns cannot be
// made: the keys are wiped, or a number is past MaxCommitmentIndex. The
// caller holds ck.mu.
func (ck *ChannelKeys) commitmentsUsable(ns ...uint64) error {
	if ck.wiped {
		return ErrWiped
	}
	for _, n := range ns {
		if n > MaxCommitmentIndex {
			return ErrCommitmentIndex
		}
	}
	return nil
}

// PerCommitmentPoint is per_commit_point(shaseed, n): PerCommitmentSecret(n)·G.
func (ck *ChannelKeys) PerCommitmentPoint(n uint64) (*btcec.PublicKey, error) {
	ck.mu.RLock()
	err := ck.commitmentsUsable(n)
	ck.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if p := ck.rememberedPoint(n); p != nil {
		return p, nil
	}
	s, err := ck.PerCommitmentSecret(n)
	if err != nil {
		return nil, err
	}
	defer s.Wipe()
	return ck.pointOf(n, &s)
}

// PerCommitmentSecretAndPoint returns PerCommitmentSecret(n) and
// PerCommitmentPoint(m), as revoke_commitment_tx needs them (n and n+2),
// under one lock.  It fails where either would, with the same errors.
func (ck *ChannelKeys) PerCommitmentSecretAndPoint(n, m uint64) (Secret, *btcec.PublicKey, error) {
	ck.mu.RLock()
	if err := ck.commitmentsUsable(n, m); err != nil {
		ck.mu.RUnlock()
		return Secret{}, nil, err
	}
	secret, ms := ck.shachain(ShachainIndex(n)), ck.shachain(ShachainIndex(m))
	ck.mu.RUnlock()
	defer ms.Wipe()
	p, err := ck.pointOf(m, &ms)
	if err != nil {
		secret.Wipe()
		return Secret{}, nil, err
	}
	return secret, p, nil
}

// pointOf is per-commitment point n, whose secret is s: remembered, or
// s·G (then remembered).
func (ck *ChannelKeys) pointOf(n uint64, s *Secret) (*btcec.PublicKey, error) {
	if p := ck.rememberedPoint(n); p != nil {
		return p, nil
	}
	k, err := privKeyFromArray((*[32]byte)(s))
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	p := k.PubKey()
	ck.rememberPoint(n, p)
	return p, nil
}

// HTLCKey is the htlc private key for a commitment point (ours for our
// commitment, theirs for the remote one): derive_simple_privkey of
// htlc_basepoint_secret.
func (ck *ChannelKeys) HTLCKey(perCommitmentPoint *btcec.PublicKey) (*PrivateKey, error) {
	return ck.simple(&ck.htlc, perCommitmentPoint)
}

// DelayedPaymentKey is the delayed payment private key (to_local, HTLC
// second stage) for a commitment point.
func (ck *ChannelKeys) DelayedPaymentKey(perCommitmentPoint *btcec.PublicKey) (*PrivateKey, error) {
	return ck.simple(&ck.delayedPayment, perCommitmentPoint)
}

// PaymentKey is the payment private key for a commitment point (to_remote
// before option_static_remotekey).
func (ck *ChannelKeys) PaymentKey(perCommitmentPoint *btcec.PublicKey) (*PrivateKey, error) {
	return ck.simple(&ck.payment, perCommitmentPoint)
}

// UnilateralCloseKey is hsm_unilateral_close_privkey(): the key of our
// to_remote output in the peer's commitment, for a wallet UTXO with
// close_info.  A nil commitmentPoint (option_static_remotekey or anchors)
// gives the payment basepoint secret itself.
func (ck *ChannelKeys) UnilateralCloseKey(commitmentPoint *btcec.PublicKey) (*PrivateKey, error) {
	if commitmentPoint == nil {
		return ck.PaymentBaseKey()
	}
	return ck.PaymentKey(commitmentPoint)
}

// RevocationKey is the revocation private key for the peer's revoked
// commitment whose per-commitment secret they gave us:
// derive_revocation_privkey of revocation_basepoint_secret.
func (ck *ChannelKeys) RevocationKey(perCommitmentSecret Secret) (*PrivateKey, error) {
	base, err := ck.RevocationBaseKey()
	if err != nil {
		return nil, err
	}
	defer base.Wipe()
	return DeriveRevocationPrivKey(base, perCommitmentSecret)
}

func (ck *ChannelKeys) simple(base *PrivateKey, perCommitmentPoint *btcec.PublicKey) (*PrivateKey, error) {
	b, err := ck.copyKey(base)
	if err != nil {
		return nil, err
	}
	defer b.Wipe()
	return DeriveSimplePrivKey(b, perCommitmentPoint)
}

// Wipe zeroes the channel's secrets.  Ring.Wipe wipes every cached channel.
func (ck *ChannelKeys) Wipe() {
	ck.mu.Lock()
	defer ck.mu.Unlock()
	ck.wiped = true
	for _, k := range []*PrivateKey{&ck.funding, &ck.revocation, &ck.htlc, &ck.payment, &ck.delayedPayment} {
		k.Wipe()
	}
	ck.shaseed.Wipe()
	ck.shaMu.Lock()
	ck.shaNode.Wipe()
	ck.shaCached = false
	ck.shaMu.Unlock()
	ck.pointMu.Lock()
	ck.points = [len(ck.points)]rememberedPoint{}
	ck.pointMu.Unlock()
}

// String implements fmt.Stringer without revealing secrets.
func (ck *ChannelKeys) String() string {
	return fmt.Sprintf("keys.ChannelKeys{peer %x, dbid %d, %s}", ck.id.Peer, ck.id.DBID, redacted)
}

// GoString implements fmt.GoStringer without revealing secrets.
func (ck *ChannelKeys) GoString() string { return ck.String() }

// Format implements fmt.Formatter: every verb prints String.
func (ck *ChannelKeys) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, ck.String()) }

// channelCache is a small LRU of ChannelKeys.  Evicted or forgotten entries
// are not wiped: a handler may still be using them.
type channelCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *ChannelKeys
	byID  map[ChannelID]*list.Element
}

func newChannelCache(max int) *channelCache {
	return &channelCache{max: max, order: list.New(), byID: make(map[ChannelID]*list.Element)}
}

func (c *channelCache) get(id ChannelID) *ChannelKeys {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*ChannelKeys)
	}
	return nil
}

// add inserts ck unless another goroutine got there first, and returns the
// cached entry.
func (c *channelCache) add(ck *ChannelKeys) *ChannelKeys {
	if c.max <= 0 {
		return ck
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[ck.id]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*ChannelKeys)
	}
	c.byID[ck.id] = c.order.PushFront(ck)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byID, last.Value.(*ChannelKeys).id)
	}
	return ck
}

func (c *channelCache) remove(id ChannelID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		c.order.Remove(e)
		delete(c.byID, id)
	}
}

func (c *channelCache) wipe() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.order.Front(); e != nil; e = e.Next() {
		e.Value.(*ChannelKeys).Wipe()
	}
	c.order.Init()
	clear(c.byID)
}
