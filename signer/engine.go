package signer

import (
	"context"
	"errors"
	"fmt"
	"gl-signerd/signer/curve"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"gl-signerd/hsmproto"
	"gl-signerd/signer/internal/lru"
	"gl-signerd/signer/keys"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// Capability bits, as CLN's hsmd/permissions.h defines them. lightningd
// grants each subdaemon a set of them when it opens its hsmd client
// connection; the master connection has Master|SignGossip|ECDH.
const (
	CapECDH              uint64 = 1
	CapSignGossip        uint64 = 2
	CapSignOnchainTx     uint64 = 4
	CapCommitmentPoint   uint64 = 8
	CapSignRemoteTx      uint64 = 16
	CapSignClosingTx     uint64 = 32
	CapSignWillFundOffer uint64 = 64
	CapSignSpliceTx      uint64 = 128
	CapLockOutpoint      uint64 = 256
	CapMaster            uint64 = 1024
)

// Client is who sends a request: the identity and capabilities lightningd
// gave the connection with hsmd_client_hsmfd (Greenlight's
// HsmRequestContext). The zero PeerID with DBID 0 and Master capability is
// lightningd's own connection.
type Client struct {
	PeerID       [33]byte
	DBID         uint64
	Capabilities uint64
}

// MasterClient is lightningd's own connection to hsmd.
var MasterClient = Client{Capabilities: CapMaster | CapSignGossip | CapECDH}

// IsMaster reports whether c is lightningd's own connection, where a bad
// request is fatal to CLN's hsmd.
func (c Client) IsMaster() bool { return c.Capabilities&CapMaster != 0 }

// RefusalError is returned for a request the engine does not answer: one
// CLN's hsmd would reject, or one a policy refuses. Reason reads as a
// sentence and never contains a secret.
type RefusalError struct {
	MsgType uint16
	// Tag is the refusal's stable tag, set where the refusal is made: the
	// policy violation's tag (package policy, e.g. "policy-invoice-payee")
	// when the policy refused the request, otherwise TagCapability,
	// TagParse or TagEngine (a refusal CLN's hsmd makes itself).
	Tag string
	// Reason says why, e.g. "client does not have capability to run 19".
	Reason string
	// Fatal is true where CLN's hsmd would exit: a bad request on the
	// master connection. The daemon keeps running; the flag is for logs
	// and for replaying CLN's vectors.
	Fatal bool
	// Err is the underlying error, if any (e.g. a *hsmproto.DecodeError).
	Err error
}

func (e *RefusalError) Error() string {
	name := hsmproto.MessageName(e.MsgType)
	if name == "" {
		name = fmt.Sprintf("message type %d", e.MsgType)
	}
	reason := e.Reason
	if e.ByPolicy() {
		reason = e.Tag + ": " + reason
	}
	if e.Err != nil {
		return fmt.Sprintf("refused %s: %s: %v", name, reason, e.Err)
	}
	return fmt.Sprintf("refused %s: %s", name, reason)
}

func (e *RefusalError) Unwrap() error { return e.Err }

// ByPolicy reports whether the policy made the refusal (rather than a check
// CLN's hsmd makes itself): its tag then leads the reason shown.
func (e *RefusalError) ByPolicy() bool { return strings.HasPrefix(e.Tag, "policy-") }

// The tags of the refusals CLN's hsmd makes itself (policy refusals carry
// their policy tag).
const (
	// TagCapability: the client may not send this message (or no such
	// message exists).
	TagCapability = "capability"
	// TagParse: the request does not decode.
	TagParse = "parse"
	// TagEngine: any other refusal of hsmd's (bad_req, status_failed).
	TagEngine = "engine"
)

// Engine answers hsmd requests exactly as CLN v26.06.6's hsmd does for the
// same secret. It is safe for concurrent use.
type Engine struct {
	ring *keys.Ring
	// points caches parsed remote points (see point).
	points *lru.Cache[hsmproto.Pubkey, *btcec.PublicKey]
	// state remembers channels and the node (WithState); nil: stateless.
	state *state.Store
	// stateSigner signs and checks Greenlight state entries (with state).
	stateSigner *state.EntrySigner

	mu sync.RWMutex
	// Set by hsmd_init (or the options): the network's BIP32 key versions,
	// the negotiated wire version and the network lightningd named (CLN's
	// name for its chainparams, "" for a genesis hash CLN does not know).
	bip32Version keys.BIP32Version
	hsmVersion   uint32
	network      string
	initialized  bool

	// The policy (policy_checks.go): its mode, who hears of violations
	// signed under warn, and the configured network ("" if none).
	policyMode    policy.Mode
	policyReport  PolicyReporter
	configNetwork string
	// policy holds the limits, warn list, allowlist and clock of the
	// on-chain and invoice checks (policy_onchain.go).
	policy policySettings
	// derive derives commitments' public keys, remembering the latest:
	// the policy derives a commitment's keys more than once.
	derive *curve.Deriver
	// built is the peer's last commitment of each channel rebuilt by the
	// commitment check (policy_commitment.go).
	built builtCommitments

	// intents verifies the user's intents (WithIntentSource), nil: none.
	intents IntentSource
	// The authorization decision's settings and listener, and the
	// allowlist in force (authorize.go, operator.go).
	authSettings AuthorizationSettings
	authReport   AuthorizationReporter
	allow        allowlistHolder
	payees       *lru.Cache[[32]byte, [33]byte] // invoices' recovered payees

	// fixed is set by WithFixedNetwork: the version and network come
	// from our configuration and hsmd_init is refused. Never changes.
	fixed bool
}

// Class says what answering a request gives away, the question a paused
// signer asks of each route: only Public requests are answered while the
// operator has paused signing.
type Class uint8

// Route classes. The zero Class is no class: every route must name one
// (TestEveryRouteHasAClass).
const (
	// Public requests return public data (keys, points, checks of what
	// the node already knows) or only record what the node says.
	Public Class = iota + 1
	// Signs: the reply is a signature, or approves a payment that a
	// signature then commits to.
	Signs
	// Reveals: the reply holds a secret (a per-commitment secret, an ECDH
	// shared secret, a derived secret), or the request changes what later
	// replies reveal (hsmd_init's wire version 5 makes
	// get_per_commitment_point return old secrets).
	Reveals
)

func (c Class) String() string {
	switch c {
	case Public:
		return "public"
	case Signs:
		return "signs"
	case Reveals:
		return "reveals-secret"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// route is one line of the dispatch table: the capability a client needs
// to send the message, the message's class, the policy check run on the
// decoded request before it is signed (nil: none without channel state),
// and its handler.
type route struct {
	capability uint64
	class      Class
	check      func(e *Engine, c Client, m hsmproto.Message) *policy.Violation
	// stateCheck is the check that reads the signer's state (rows made
	// with guarded; policy_state.go), nil: none.
	stateCheck func(e *Engine, ctx context.Context, c Client, m hsmproto.Message, s Snapshot) *policy.Violation
	// authorize decides whether the user or the operator wants what the
	// request sends out of the node (authorize.go), nil: nothing to ask.
	authorize func(e *Engine, ctx context.Context, c Client, m hsmproto.Message) error
	handle    func(e *Engine, c Client, m hsmproto.Message) (hsmproto.Message, error)
}

// checked builds a route whose policy check and handler take the decoded
// request's own type: {capability, class, check, handler} in one row.
func checked[M hsmproto.Message](capability uint64, class Class, check func(*Engine, Client, M) *policy.Violation, fn func(*Engine, Client, M) (hsmproto.Message, error)) route {
	r := on(capability, class, fn)
	r.check = func(e *Engine, c Client, m hsmproto.Message) *policy.Violation {
		if req, ok := m.(M); ok {
			return check(e, c, req)
		}
		return nil
	}
	return r
}

// on builds a route whose handler takes the decoded request's own type.
func on[M hsmproto.Message](capability uint64, class Class, fn func(*Engine, Client, M) (hsmproto.Message, error)) route {
	return route{capability: capability, class: class, handle: func(e *Engine, c Client, m hsmproto.Message) (hsmproto.Message, error) {
		req, ok := m.(M)
		if !ok {
			return nil, fmt.Errorf("internal error: decoded %T for a %s route", m, m.MsgName())
		}
		return fn(e, c, req)
	}}
}

// Classes returns the class of every request the engine answers, from its
// dispatch table (a new map each call).
func Classes() map[uint16]Class {
	out := make(map[uint16]Class, len(routes))
	for t, r := range routes {
		out[t] = r.class
	}
	return out
}

// routes is the dispatch table: every request hsmd answers, the capability
// it needs (hsmd_check_client_capabilities), its class, its policy check
// (rows made with checked; guarded rows add a check on the signer's state,
// policy_state.go; on rows have none) and its handler. Handle decodes once, runs the check on the
// decoded request, then the handler signs.
// get_per_commitment_point is Reveals: at wire version 5 it returns the
// secret of commitment n−2. ecdh returns a shared secret. Preapprove
// requests are Signs: they consent to a payment.
var routes map[uint16]route

func init() {
	routes = map[uint16]route{
		// Start-up and lightningd's own requests.
		hsmproto.TypeInit:                  on(CapMaster, Reveals, (*Engine).handleInit),
		hsmproto.TypeDeriveSecret:          on(CapMaster, Reveals, (*Engine).handleDeriveSecret),
		hsmproto.TypeCheckPubkey:           on(CapMaster, Public, (*Engine).handleCheckPubkey),
		hsmproto.TypeCheckBip86Pubkey:      on(CapMaster, Public, (*Engine).handleCheckBip86Pubkey),
		hsmproto.TypeNewChannel:            guarded(CapMaster, Public, nil, stateNewChannel, (*Engine).handleNewChannel),
		hsmproto.TypeForgetChannel:         on(CapMaster, Public, (*Engine).handleForgetChannel),
		hsmproto.TypeGetChannelBasepoints:  on(CapMaster, Public, (*Engine).handleGetChannelBasepoints),
		hsmproto.TypeGetOutputScriptpubkey: on(CapMaster, Public, (*Engine).handleGetOutputScriptpubkey),

		// Messages, invoices, offers and payments.
		hsmproto.TypeSignMessage:            on(CapMaster, Signs, (*Engine).handleSignMessage),
		hsmproto.TypeBip137SignMessage:      on(CapMaster, Signs, (*Engine).handleBip137SignMessage),
		hsmproto.TypeSignInvoice:            on(CapMaster, Signs, (*Engine).handleSignInvoice),
		hsmproto.TypeSignBolt12:             on(CapMaster, Signs, (*Engine).handleSignBolt12),
		hsmproto.TypeSignBolt12_2:           on(CapMaster, Signs, (*Engine).handleSignBolt12_2),
		hsmproto.TypePreapproveInvoice:      checked(CapMaster, Signs, (*Engine).checkPreapproveInvoice, (*Engine).handlePreapproveInvoice).authorizedBy(authorized(authorizePreapproveInvoice)),
		hsmproto.TypePreapproveInvoiceCheck: checked(CapMaster, Signs, (*Engine).checkPreapproveInvoiceCheck, (*Engine).handlePreapproveInvoiceCheck).authorizedBy(authorized(authorizePreapproveInvoiceCheck)),
		hsmproto.TypePreapproveKeysend:      on(CapMaster, Signs, (*Engine).handlePreapproveKeysend).authorizedBy(authorized(authorizePreapproveKeysend)),
		hsmproto.TypePreapproveKeysendCheck: on(CapMaster, Signs, (*Engine).handlePreapproveKeysendCheck).authorizedBy(authorized(authorizePreapproveKeysendCheck)),

		// Peer connections and gossip.
		hsmproto.TypeEcdhReq:                 on(CapECDH, Reveals, (*Engine).handleEcdh),
		hsmproto.TypeNodeAnnouncementSigReq:  on(CapSignGossip, Signs, (*Engine).handleNodeAnnouncementSig),
		hsmproto.TypeCannouncementSigReq:     on(CapSignGossip, Signs, (*Engine).handleCannouncementSig),
		hsmproto.TypeCupdateSigReq:           on(CapSignGossip, Signs, (*Engine).handleCupdateSig),
		hsmproto.TypeSignAnyCannouncementReq: on(CapMaster, Signs, (*Engine).handleSignAnyCannouncement),

		// Channel set-up and commitment points.
		hsmproto.TypeSetupChannel:            guarded(CapCommitmentPoint, Public, (*Engine).checkSetupChannel, stateSetupChannel, (*Engine).handleSetupChannel),
		hsmproto.TypeGetPerCommitmentPoint:   guarded(CapCommitmentPoint, Reveals, nil, stateGetPerCommitmentPoint, (*Engine).handleGetPerCommitmentPoint),
		hsmproto.TypeCheckFutureSecret:       on(CapCommitmentPoint, Public, (*Engine).handleCheckFutureSecret),
		hsmproto.TypeCheckOutpoint:           on(CapLockOutpoint, Public, (*Engine).handleCheckOutpoint),
		hsmproto.TypeLockOutpoint:            on(CapLockOutpoint, Public, (*Engine).handleLockOutpoint),
		hsmproto.TypeSignOptionWillFundOffer: on(CapSignWillFundOffer, Signs, (*Engine).handleSignOptionWillFundOffer),

		// Commitment transactions and revocation.
		hsmproto.TypeSignRemoteCommitmentTx: guarded(CapSignRemoteTx, Signs, (*Engine).checkRemoteCommitment, inOrder(stateSignRemoteCommitmentTx, (*Engine).stateCheckRemoteCommitment), (*Engine).handleSignRemoteCommitmentTx),
		hsmproto.TypeSignRemoteHtlcTx:       guarded(CapSignRemoteTx, Signs, (*Engine).checkRemoteHtlcTx, (*Engine).stateCheckRemoteHtlcTx, (*Engine).handleSignRemoteHtlcTx),
		hsmproto.TypeValidateCommitmentTx:   guarded(CapSignRemoteTx, Public, nil, inOrder(stateValidateCommitmentTx, (*Engine).stateCheckHolderCommitment), (*Engine).handleValidateCommitmentTx),
		hsmproto.TypeValidateRevocation:     guarded(CapSignRemoteTx, Public, nil, stateValidateRevocation, (*Engine).handleValidateRevocation),
		hsmproto.TypeRevokeCommitmentTx:     guarded(CapSignRemoteTx, Reveals, nil, stateRevokeCommitmentTx, (*Engine).handleRevokeCommitmentTx),
		hsmproto.TypeSignCommitmentTx:       guarded(CapMaster, Signs, nil, stateSignCommitmentTx, (*Engine).handleSignCommitmentTx),

		// Closing, splicing and the wallet.
		hsmproto.TypeSignMutualCloseTx: guarded(CapSignClosingTx, Signs, (*Engine).checkMutualClose, stateMutualClose, (*Engine).handleSignMutualCloseTx).authorizedBy(authorized(authorizeMutualClose)),
		hsmproto.TypeSignSpliceTx:      on(CapSignSpliceTx, Signs, (*Engine).handleSignSpliceTx),
		hsmproto.TypeSignWithdrawal:    guarded(CapMaster, Signs, (*Engine).checkWithdrawal, stateWithdrawalFunding, (*Engine).handleSignWithdrawal).authorizedBy(authorized(authorizeWithdrawal)),

		// On-chain sweeps after a close (onchaind, or lightningd for any channel).
		hsmproto.TypeSignDelayedPaymentToUs:    checked(CapSignOnchainTx, Signs, checkDelayedPaymentToUs, (*Engine).handleSignDelayedPaymentToUs),
		hsmproto.TypeSignRemoteHtlcToUs:        checked(CapSignOnchainTx, Signs, checkRemoteHtlcToUs, (*Engine).handleSignRemoteHtlcToUs),
		hsmproto.TypeSignPenaltyToUs:           checked(CapSignOnchainTx, Signs, checkPenaltyToUs, (*Engine).handleSignPenaltyToUs),
		hsmproto.TypeSignAnyDelayedPaymentToUs: checked(CapMaster, Signs, checkAnyDelayedPaymentToUs, (*Engine).handleSignAnyDelayedPaymentToUs),
		hsmproto.TypeSignAnyRemoteHtlcToUs:     checked(CapMaster, Signs, checkAnyRemoteHtlcToUs, (*Engine).handleSignAnyRemoteHtlcToUs),
		hsmproto.TypeSignAnyPenaltyToUs:        checked(CapMaster, Signs, checkAnyPenaltyToUs, (*Engine).handleSignAnyPenaltyToUs),
		hsmproto.TypeSignAnyLocalHtlcTx:        on(CapMaster, Signs, (*Engine).handleSignAnyLocalHtlcTx),
		hsmproto.TypeSignAnchorspend:           on(CapMaster, Signs, (*Engine).handleSignAnchorspend),
		hsmproto.TypeSignHtlcTxMingle:          on(CapMaster, Signs, (*Engine).handleSignHtlcTxMingle),
	}
}

// Handle answers one raw request (u16 type ‖ payload) from client c and
// returns the raw reply, or a *RefusalError.
func (e *Engine) Handle(ctx context.Context, c Client, raw []byte) ([]byte, error) {
	if len(raw) < 2 {
		return nil, &RefusalError{Tag: TagCapability, Reason: "client does not have capability to run -1 (message shorter than its type)", Fatal: c.IsMaster()}
	}
	t := uint16(raw[0])<<8 | uint16(raw[1])
	r, ok := routes[t]
	if !ok || c.Capabilities&r.capability == 0 {
		return nil, &RefusalError{MsgType: t, Tag: TagCapability, Reason: fmt.Sprintf("client does not have capability to run %d", t), Fatal: c.IsMaster()}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := hsmproto.Decode(raw)
	if err != nil {
		return nil, &RefusalError{MsgType: t, Tag: TagParse, Reason: "could not parse request", Fatal: c.IsMaster(), Err: err}
	}
	if r.check != nil {
		if err := e.checkPolicy(c, t, func() *policy.Violation { return r.check(e, c, m) }); err != nil {
			return nil, err
		}
	}
	if err := e.runAuthorize(ctx, c, r, m); err != nil {
		if reply := declined(m, err); reply != nil {
			return hsmproto.Marshal(reply)
		}
		return nil, err
	}
	reply, err := e.answer(ctx, c, r, m)
	if err != nil {
		var re *RefusalError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, &RefusalError{MsgType: t, Tag: TagEngine, Reason: err.Error(), Fatal: c.IsMaster()}
	}
	// Marshal, not Encode: a reply built from a request's own values must
	// never take the engine down, only refuse that request.
	out, err := hsmproto.Marshal(reply)
	if err != nil {
		return nil, &RefusalError{MsgType: t, Tag: TagEngine, Reason: "could not encode the reply", Fatal: c.IsMaster(), Err: err}
	}
	return out, nil
}

// Option configures an Engine.
type Option func(*engineOptions)

type engineOptions struct {
	keyOpts      []keys.Option
	bip32Version keys.BIP32Version
	policyMode   policy.Mode
	policyReport PolicyReporter
	network      string
	fixedNetwork string
	state        *state.Store
	// The policy's limits (nil: policy.DefaultLimits), warn list,
	// allowlist and clock (nil: time.Now).
	policyLimits    *policy.Limits
	policyWarn      []string
	policyAllowlist []string
	now             func() time.Time
	intents         IntentSource
	authorization   AuthorizationSettings
	authReport      AuthorizationReporter
}

// WithSecretType says which kind of CLN hsm_secret the secret came from;
// hsmd reports it in its init reply.
func WithSecretType(t keys.SecretType) Option {
	return func(o *engineOptions) { o.keyOpts = append(o.keyOpts, keys.WithSecretType(t)) }
}

// WithBIP32Version sets the network's BIP32 key versions used before
// hsmd_init says otherwise (Greenlight computes the init reply itself).
func WithBIP32Version(v keys.BIP32Version) Option {
	return func(o *engineOptions) { o.bip32Version = v }
}

// WithFixedNetwork fixes the network (CLN's name: "bitcoin", "testnet",
// "testnet4", "signet", "regtest", "liquid", "liquid-regtest") and the
// wire version (6) from the signer's own configuration, and makes the
// engine refuse hsmd_init. A Greenlight node never forwards hsmd_init, so
// one arriving there comes from a node that wants to choose the version
// (5 returns old per-commitment secrets) or the network; the drop-in
// hsmd and vector replay leave this option out, hsmd_init being CLN's
// protocol there.
func WithFixedNetwork(network string) Option {
	return func(o *engineOptions) { o.fixedNetwork = network }
}

// NewEngine derives every key hsmd derives at start-up from secret: 32
// bytes (Greenlight's seed, CLN's raw hsm_secret) or 64 bytes (the BIP39
// seed of CLN's mnemonic hsm_secret). The caller may wipe secret afterwards.
func NewEngine(secret []byte, opts ...Option) (*Engine, error) {
	o := engineOptions{bip32Version: keys.BIP32Mainnet, policyMode: policy.ModeEnforce}
	for _, opt := range opts {
		opt(&o)
	}
	mode, err := policy.ParseMode(string(o.policyMode))
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	if o.network != "" {
		if _, ok := policy.NetworkFor(o.network); !ok {
			return nil, fmt.Errorf("signer: unknown network %q (want bitcoin, testnet, testnet4, signet or regtest)", o.network)
		}
	}
	if o.fixedNetwork != "" {
		if _, ok := BIP32VersionFor(o.fixedNetwork); !ok {
			return nil, fmt.Errorf("signer: unknown network %q (want bitcoin, testnet, testnet4, signet, regtest, liquid or liquid-regtest)", o.fixedNetwork)
		}
	}
	ring, err := keys.New(secret, o.keyOpts...)
	if err != nil {
		return nil, err
	}
	var stateSigner *state.EntrySigner
	if o.state != nil {
		k, err := keys.StateSigningKey(secret)
		if err != nil {
			ring.Wipe()
			return nil, err
		}
		stateSigner = state.NewEntrySigner(k)
	}
	lim := policy.DefaultLimits
	if o.policyLimits != nil {
		lim = *o.policyLimits
	}
	warn, err := policy.ParseWarnList(o.policyWarn)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	allowNetwork := o.network
	if allowNetwork == "" {
		allowNetwork = o.fixedNetwork
	}
	allow, err := parseAllowlist(o.policyAllowlist, allowNetwork)
	if err != nil {
		return nil, err
	}
	now := o.now
	if now == nil {
		now = time.Now
	}
	e := &Engine{
		policy:        policySettings{limits: lim, warn: warn, now: now},
		ring:          ring,
		points:        newPointCache(pointCacheSize),
		derive:        curve.NewDeriver(derivedKeysCacheSize),
		built:         newBuiltCommitments(builtChannels),
		bip32Version:  o.bip32Version,
		hsmVersion:    hsmproto.MaxVersion,
		policyMode:    mode,
		policyReport:  o.policyReport,
		configNetwork: o.network,
		state:         o.state,
		stateSigner:   stateSigner,
		intents:       o.intents,
		authSettings:  o.authorization.withDefaults(),
		authReport:    o.authReport,
		payees:        lru.New[[32]byte, [33]byte](256),
	}
	e.allow.init(o.policyAllowlist, allowNetwork, allow)
	if err := e.loadRuntimeAllowlist(); err != nil {
		ring.Wipe()
		return nil, fmt.Errorf("signer: %w", err)
	}
	if o.fixedNetwork != "" {
		e.bip32Version, _ = BIP32VersionFor(o.fixedNetwork)
		e.network, e.fixed = o.fixedNetwork, true
		if e.configNetwork == "" {
			e.configNetwork = o.fixedNetwork
		}
	}
	return e, nil
}

// NodeID is the node's public key, as hsmd's init reply carries it.
func (e *Engine) NodeID() [33]byte { return e.ring.NodeID() }

// Wipe erases the engine's secrets; it answers nothing afterwards.
func (e *Engine) Wipe() {
	e.ring.Wipe()
	if e.stateSigner != nil {
		e.stateSigner.Wipe()
	}
	e.points.Clear()
}

// pointCacheSize bounds the cache of parsed points: a few hundred channels'
// current per-commitment points.
const pointCacheSize = 1024

// derivedKeysCacheSize bounds the keys the engine's Deriver remembers
// (about 200 bytes each): the four or five keys of a few hundred
// commitments.
const derivedKeysCacheSize = 2048

func newPointCache(size int) *lru.Cache[hsmproto.Pubkey, *btcec.PublicKey] {
	return lru.New[hsmproto.Pubkey, *btcec.PublicKey](size)
}

// point parses a point lightningd or a subdaemon sent (a per-commitment
// point, the commitment point of a close_info, a will-fund funding key),
// through a bounded cache of public keys: the same points come again (every
// sign_remote_htlc_tx of a commitment carries its per-commitment point), and
// a parse is a square root, a fifth of a signature. hsmproto.Decode has
// already refused points off the curve. ECDH points do not go through it:
// each handshake brings a fresh one.
func (e *Engine) point(p hsmproto.Pubkey) (*btcec.PublicKey, error) {
	if k, ok := e.points.Get(p); ok {
		return k, nil
	}
	k, err := p.Key()
	if err != nil {
		return nil, err
	}
	e.points.Add(p, k)
	return k, nil
}
