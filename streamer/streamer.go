package streamer

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	glpb "gl-signerd/streamer/pb/greenlight"
	schedpb "gl-signerd/streamer/pb/scheduler"
)

// NodeLocator finds the node; *SchedulerClient implements it.
type NodeLocator interface {
	GetNodeInfo(ctx context.Context, nodeID []byte, wait bool) (*schedpb.NodeInfoResponse, error)
}

// Reporter receives refused requests; *SchedulerClient implements it.
type Reporter interface {
	ReportSignerRejection(ctx context.Context, r *schedpb.SignerRejection) error
}

// Upgrader stashes startup messages at the scheduler; *SchedulerClient
// implements it.
type Upgrader interface {
	MaybeUpgrade(ctx context.Context, req *schedpb.UpgradeRequest) (*schedpb.UpgradeResponse, error)
}

// Config configures a Streamer. NodeID, Scheduler, Handler and one of
// NodeTLS or DialNode are required; zero durations and sizes take the
// defaults given.
type Config struct {
	NodeID    [33]byte
	Scheduler NodeLocator
	// Reporter receives refusals. Nil: Scheduler, if it is a Reporter.
	// (Greenlight's own client reports with the "nobody" identity; any
	// identity the scheduler accepts will do.)
	Reporter Reporter
	// NodeTLS is the device identity used to reach the node (ClientTLS).
	NodeTLS *tls.Config
	// DialNode replaces the TLS dial to the node, for tests.
	DialNode func(uri string) (*grpc.ClientConn, error)
	Handler  RequestHandler
	Logger   *zap.Logger

	// Upgrade, if set, is sent with MaybeUpgrade once before the first
	// GetNodeInfo (Scheduler must then be an Upgrader), as Greenlight's
	// signer does at startup. An Unavailable scheduler is retried; any
	// other error ends Run.
	Upgrade *schedpb.UpgradeRequest
	// GitVersion goes into rejection reports.
	GitVersion string

	// BackoffInitial is the first retry delay (default 500 ms);
	// BackoffMax caps it (default 30 s). Delays are jittered to [d/2, d).
	// The backoff grows with failures (scheduler unreachable, the node's
	// address refusing connections, identity refusals) and starts over
	// once a stream opens or the scheduler names a new address for the
	// node; a node that moved is reattached at once.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// QueueDepth bounds the queued requests per channel (default 64).
	QueueDepth int
	// MaxConcurrent bounds requests handled at once (default
	// 2×GOMAXPROCS, at least 4).
	MaxConcurrent int
	// RespondTimeout bounds one RespondHsmRequest call (default 30 s).
	RespondTimeout time.Duration
	// NodeIdentityRetries is how many streams in a row the node may refuse
	// our identity (or present one we do not trust) before Run gives up
	// (default 3). The scheduler checks the same identity, so such a
	// refusal usually means a stale address now served by another node;
	// a refusal by the scheduler itself ends Run at once.
	NodeIdentityRetries int
	// DrainTimeout is how long, after Run's ctx ends, the requests already
	// received may take to be answered before they are abandoned to be
	// replayed (default 0: abandoned at once). Run returns after them.
	DrainTimeout time.Duration
	// Keepalive is the HTTP/2 ping schedule of the node connection (zero:
	// the defaults).
	Keepalive Keepalive
}

// State is what the streamer is doing.
type State string

// States, in the order a healthy run goes through them.
const (
	StateIdle       State = "idle"
	StateUpgrading  State = "upgrading"
	StateWaiting    State = "waiting-for-node" // GetNodeInfo(wait=true) in flight
	StateConnecting State = "connecting"
	StateStreaming  State = "streaming"
	StateBackoff    State = "backoff"
	StateStopped    State = "stopped"
)

// Stats is a snapshot of the streamer's state and counters.
type Stats struct {
	State      State
	StateSince time.Time
	// NodeURI is the node being streamed from or last tried.
	NodeURI string
	// NextAttempt is when the backoff ends (in StateBackoff).
	NextAttempt time.Time

	Connects    uint64 // streams opened
	Disconnects uint64 // streams that ended after opening
	Requests    uint64 // requests received (including heartbeats)
	Heartbeats  uint64 // heartbeats answered
	Responses   uint64 // responses delivered (including refusals)
	Refusals    uint64 // requests answered with an error
	Declined    uint64 // non-hsmd extension messages declined (also in Refusals)
	SendErrors  uint64 // responses that could not be delivered
	Handling    int64  // requests in the handler right now

	Reports        uint64 // refusals reported to the Debug service
	ReportsDropped uint64 // refusals not reported: queue full or shutting down
	ReportErrors   uint64 // reports the Debug service did not accept

	LastError   string
	LastErrorAt time.Time
}

// IdentityError means Greenlight refused our certificate, or presented
// one we do not trust. Retrying cannot fix it, so Run returns it.
type IdentityError struct{ Err error }

func (e *IdentityError) Error() string {
	return fmt.Sprintf("the TLS identity was refused (%v); check the device certificate, its key and the Greenlight CA file", e.Err)
}

func (e *IdentityError) Unwrap() error { return e.Err }

// Streamer keeps a signer attached to its Greenlight node.
type Streamer struct {
	cfg     Config
	log     *zap.Logger
	merger  StateMerger
	running atomic.Bool
	reports chan *schedpb.SignerRejection

	mu    sync.Mutex
	stats Stats
}

const reportQueueDepth = 32

// New checks cfg and returns a Streamer.
func New(cfg Config) (*Streamer, error) {
	if cfg.NodeID == ([33]byte{}) {
		return nil, errors.New("streamer: no node id configured")
	}
	if cfg.Scheduler == nil {
		return nil, errors.New("streamer: no scheduler configured")
	}
	if cfg.Handler == nil {
		return nil, errors.New("streamer: no request handler configured")
	}
	if cfg.NodeTLS == nil && cfg.DialNode == nil {
		return nil, errors.New("streamer: no device TLS identity configured for the node")
	}
	if cfg.Upgrade != nil {
		if _, ok := cfg.Scheduler.(Upgrader); !ok {
			return nil, errors.New("streamer: Upgrade is set but the scheduler cannot MaybeUpgrade")
		}
	}
	if cfg.Reporter == nil {
		cfg.Reporter, _ = cfg.Scheduler.(Reporter)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.BackoffInitial <= 0 {
		cfg.BackoffInitial = 500 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.BackoffMax < cfg.BackoffInitial {
		cfg.BackoffMax = cfg.BackoffInitial
	}
	if cfg.QueueDepth <= 0 {
		cfg.QueueDepth = 64
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if cfg.RespondTimeout <= 0 {
		cfg.RespondTimeout = 30 * time.Second
	}
	if cfg.NodeIdentityRetries <= 0 {
		cfg.NodeIdentityRetries = 3
	}
	s := &Streamer{
		cfg:     cfg,
		log:     cfg.Logger.With(zap.String("node_id", hex.EncodeToString(cfg.NodeID[:]))),
		reports: make(chan *schedpb.SignerRejection, reportQueueDepth),
	}
	s.merger, _ = cfg.Handler.(StateMerger)
	s.stats.State, s.stats.StateSince = StateIdle, time.Now()
	return s, nil
}

// Stats returns a snapshot of the state and counters; safe to call at any
// time from any goroutine.
func (s *Streamer) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run keeps the signer attached until ctx ends (it then returns nil) or
// the TLS identity is refused (*IdentityError). A Streamer runs once at a
// time.
func (s *Streamer) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("streamer: Run is already running")
	}
	defer s.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		s.setState(StateStopped, "")
	}()
	if s.cfg.Reporter != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.reportLoop(ctx)
		}()
	}

	b := newBackoff(s.cfg.BackoffInitial, s.cfg.BackoffMax)
	if s.cfg.Upgrade != nil {
		if err := s.upgrade(ctx, b); err != nil || ctx.Err() != nil {
			return err
		}
		b.reset()
	}
	identityFailures := 0
	// last is the node address of the previous attempt, and lastOpened
	// whether that attempt opened a stream; retry is the delay before
	// trying the same address again.
	var last nodeAddress
	lastOpened := false
	var retry time.Duration
	for {
		s.setState(StateWaiting, "")
		info, err := s.cfg.Scheduler.GetNodeInfo(ctx, s.cfg.NodeID[:], true)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			if isIdentityError(err) {
				s.noteError(err)
				return &IdentityError{Err: err}
			}
			s.noteError(err)
			s.log.Warn("cannot get the node's address from the scheduler", zap.Error(err))
			if !s.pause(ctx, b.next()) {
				return nil
			}
			continue
		case info.GetGrpcUri() == "":
			s.log.Debug("the scheduler returned no address; the node is not scheduled")
			if !s.pause(ctx, b.next()) {
				return nil
			}
			continue
		}
		// When to try: at once when the node we were streaming from has
		// moved (preempted and scheduled again: the scheduler's word that
		// it is up), so the node is answered again within a round trip;
		// after the backoff when we try the same address again (a cut
		// stream, a node still starting, a stale address), or after a
		// failed attempt, so that nothing loops hot.
		addr := nodeAddress{uri: info.GetGrpcUri(), session: info.GetSessionId()}
		var delay time.Duration
		switch {
		case addr == last:
			delay = retry
		case lastOpened || last == (nodeAddress{}):
			b.reset() // delay 0: the first attempt, or a node that moved
		default:
			b.reset() // a new address after a failed attempt
			delay = b.next()
		}
		if delay > 0 && !s.pause(ctx, delay) {
			return nil
		}
		last = addr
		opened, err := s.stream(ctx, addr.uri)
		if ctx.Err() != nil {
			return nil
		}
		lastOpened = opened
		if opened {
			// The node answered: whatever ended the stream, it is not a
			// failure to back off from.
			b.reset()
		}
		switch {
		case err != nil && isIdentityError(err):
			s.noteError(err)
			identityFailures++
			if identityFailures > s.cfg.NodeIdentityRetries {
				return &IdentityError{Err: err}
			}
			s.log.Warn("the node refused our identity or is not trusted; asking the scheduler again",
				zap.String("uri", addr.uri), zap.Error(err))
		case err != nil:
			s.noteError(err)
			identityFailures = 0
			s.log.Warn("the node request stream ended", zap.String("uri", addr.uri), zap.Error(err))
		}
		retry = b.next()
	}
}

// nodeAddress is where the scheduler says the node runs: its URI and the
// scheduler's session id (a node scheduled again gets a new one).
type nodeAddress struct {
	uri     string
	session uint64
}

func (s *Streamer) upgrade(ctx context.Context, b *backoff) error {
	up := s.cfg.Scheduler.(Upgrader)
	for {
		s.setState(StateUpgrading, "")
		res, err := up.MaybeUpgrade(ctx, s.cfg.Upgrade)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			s.log.Info("the scheduler knows our signer version",
				zap.String("signer_version", s.cfg.Upgrade.GetSignerVersion()),
				zap.String("old_version", res.GetOldVersion()))
			return nil
		}
		s.noteError(err)
		if isIdentityError(err) {
			return &IdentityError{Err: err}
		}
		if status.Code(err) != codes.Unavailable {
			return fmt.Errorf("the scheduler refused the signer version and startup messages: %w", err)
		}
		s.log.Warn("the scheduler is unavailable; retrying MaybeUpgrade", zap.Error(err))
		if !s.pause(ctx, b.next()) {
			return nil
		}
	}
}

func (s *Streamer) pause(ctx context.Context, d time.Duration) bool {
	s.mu.Lock()
	s.setStateLocked(StateBackoff, "")
	s.stats.NextAttempt = time.Now().Add(d)
	s.mu.Unlock()
	return sleep(ctx, d)
}

// stream attaches to the node at uri until the stream ends. opened
// reports whether the node accepted the stream.
func (s *Streamer) stream(ctx context.Context, uri string) (opened bool, err error) {
	s.setState(StateConnecting, uri)
	var conn *grpc.ClientConn
	if s.cfg.DialNode != nil {
		conn, err = s.cfg.DialNode(uri)
	} else {
		_, host, terr := dialTarget(uri)
		if terr != nil {
			return false, terr
		}
		conn, err = dialTLS(uri, s.cfg.NodeTLS, nodeServerName(host), s.cfg.Keepalive)
	}
	if err != nil {
		return false, fmt.Errorf("connecting to the node at %s: %w", uri, err)
	}
	defer conn.Close()

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	node := glpb.NewNodeClient(conn)
	stream, err := node.StreamHsmRequests(sctx, &glpb.Empty{})
	if err != nil {
		return false, fmt.Errorf("opening the request stream at %s: %w", uri, err)
	}
	if _, err := stream.Header(); err != nil {
		return false, fmt.Errorf("opening the request stream at %s: %w", uri, err)
	}
	// With DrainTimeout, requests run under their own context: when Run's
	// ctx ends, the stream stops receiving at once, and the requests
	// already received get DrainTimeout to be answered.
	jctx, jcancel := sctx, context.CancelFunc(func() {})
	if s.cfg.DrainTimeout > 0 {
		jctx, jcancel = context.WithCancel(context.WithoutCancel(sctx))
		stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(s.cfg.DrainTimeout, jcancel) })
		defer stopDrain()
	}
	d := newDispatcher(jctx, s.cfg.QueueDepth, s.cfg.MaxConcurrent)
	defer func() {
		cancel()
		if ctx.Err() == nil {
			jcancel() // the stream ended by itself: abandon its requests
		}
		d.wait()
		jcancel()
	}()

	start := time.Now()
	s.mu.Lock()
	s.stats.Connects++
	s.setStateLocked(StateStreaming, uri)
	s.mu.Unlock()
	s.log.Info("streaming requests from the node", zap.String("uri", uri))

	for {
		msg, err := stream.Recv()
		if err != nil {
			s.mu.Lock()
			s.stats.Disconnects++
			s.mu.Unlock()
			if errors.Is(err, io.EOF) {
				return true, fmt.Errorf("the node closed the request stream after %s", time.Since(start).Round(time.Millisecond))
			}
			return true, fmt.Errorf("request stream from %s: %w", uri, err)
		}
		s.accept(node, d, msg)
	}
}

// accept routes one request to its channel queue. It runs on the receive
// loop, so it never blocks on the network.
func (s *Streamer) accept(node glpb.NodeClient, d *dispatcher, msg *glpb.HsmRequest) {
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()

	req, err := requestFromPB(msg)
	if err == nil && s.merger != nil && len(req.SignerState) > 0 {
		if merr := s.merger.MergeSignerState(req.SignerState); merr != nil {
			err = fmt.Errorf("cannot merge the signer state sent with the request: %w", merr)
		}
	}
	typ := req.Type()
	if ce := s.log.Check(zap.DebugLevel, "request"); ce != nil { // no fields built when debug is off
		ce.Write(zap.Uint32("request_id", req.ID), zap.Uint16("type", typ),
			zap.Int("state_entries", len(req.SignerState)), zap.Bool("master", req.Context == nil))
	}

	var job func(context.Context)
	switch {
	case err != nil:
		job = s.refuse(node, msg, err, false)
	case len(req.Raw) > MaxRequestSize:
		job = s.refuse(node, msg, fmt.Errorf("the request is %d bytes, more than the %d bytes an hsmd message may have", len(req.Raw), MaxRequestSize), false)
	case len(req.Raw) < 2:
		job = s.refuse(node, msg, fmt.Errorf("the request is %d bytes, shorter than a message type", len(req.Raw)), false)
	case typ == typeGetHeartbeat:
		job = func(ctx context.Context) {
			if s.respond(ctx, node, &glpb.HsmResponse{RequestId: req.ID, Raw: heartbeatReply}) {
				s.mu.Lock()
				s.stats.Heartbeats++
				s.mu.Unlock()
			}
		}
	case typ >= firstExtensionType:
		job = s.refuse(node, msg, errDeclined(typ), true)
	default:
		job = func(ctx context.Context) {
			resp := s.handle(ctx, req)
			if ctx.Err() != nil {
				return // the stream is gone; the node replays the request
			}
			if resp.Err != nil {
				s.refuse(node, msg, resp.Err, false)(ctx)
				return
			}
			s.respond(ctx, node, &glpb.HsmResponse{
				RequestId: req.ID, Raw: resp.Raw, SignerState: stateToPB(resp.SignerState),
			})
		}
	}
	d.submit(req.key(), job)
}

// handle calls the handler, turning a panic or an empty answer into a
// refusal.
func (s *Streamer) handle(ctx context.Context, req Request) (resp Response) {
	s.mu.Lock()
	s.stats.Handling++
	s.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("the request handler panicked", zap.Uint32("request_id", req.ID),
				zap.Uint16("type", req.Type()), zap.Any("panic", r), zap.Stack("stack"))
			resp = Response{Err: fmt.Errorf("internal error handling message type %d", req.Type())}
		}
		s.mu.Lock()
		s.stats.Handling--
		s.mu.Unlock()
	}()
	resp = s.cfg.Handler.HandleHsmRequest(ctx, req)
	if resp.Err == nil && len(resp.Raw) < 2 {
		resp.Err = fmt.Errorf("internal error: no reply to message type %d", req.Type())
	}
	return resp
}

// refuse returns a job that answers msg with err and reports it.
func (s *Streamer) refuse(node glpb.NodeClient, msg *glpb.HsmRequest, err error, declined bool) func(context.Context) {
	return func(ctx context.Context) {
		s.log.Warn("refused a request", zap.Uint32("request_id", msg.GetRequestId()),
			zap.Uint16("type", Request{Raw: msg.GetRaw()}.Type()), zap.Error(err))
		s.mu.Lock()
		s.stats.Refusals++
		if declined {
			s.stats.Declined++
		}
		s.mu.Unlock()
		s.report(msg, err)
		s.respond(ctx, node, &glpb.HsmResponse{RequestId: msg.GetRequestId(), Error: err.Error()})
	}
}

// respond delivers one response; it reports whether the node took it.
func (s *Streamer) respond(ctx context.Context, node glpb.NodeClient, resp *glpb.HsmResponse) bool {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.RespondTimeout)
	defer cancel()
	_, err := node.RespondHsmRequest(rctx, resp)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.stats.SendErrors++
		if ctx.Err() == nil {
			s.log.Warn("cannot deliver a response; the node will replay the request",
				zap.Uint32("request_id", resp.GetRequestId()), zap.Error(err))
		}
		return false
	}
	s.stats.Responses++
	return true
}

// report queues a rejection report without blocking.
func (s *Streamer) report(msg *glpb.HsmRequest, err error) {
	if s.cfg.Reporter == nil {
		return
	}
	r := &schedpb.SignerRejection{
		Msg:        err.Error(),
		Request:    msg,
		GitVersion: s.cfg.GitVersion,
		NodeId:     append([]byte(nil), s.cfg.NodeID[:]...),
	}
	select {
	case s.reports <- r:
	default:
		s.mu.Lock()
		s.stats.ReportsDropped++
		s.mu.Unlock()
	}
}

func (s *Streamer) reportLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-s.reports:
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := s.cfg.Reporter.ReportSignerRejection(rctx, r)
			cancel()
			s.mu.Lock()
			if err != nil {
				s.stats.ReportErrors++
			} else {
				s.stats.Reports++
			}
			s.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				s.log.Debug("cannot report a refused request", zap.Error(err))
			}
		}
	}
}

func (s *Streamer) setState(st State, uri string) {
	s.mu.Lock()
	s.setStateLocked(st, uri)
	s.mu.Unlock()
}

func (s *Streamer) setStateLocked(st State, uri string) {
	if s.stats.State != st {
		s.stats.State, s.stats.StateSince = st, time.Now()
	}
	if uri != "" {
		s.stats.NodeURI = uri
	}
	if st != StateBackoff {
		s.stats.NextAttempt = time.Time{}
	}
}

func (s *Streamer) noteError(err error) {
	s.mu.Lock()
	s.stats.LastError, s.stats.LastErrorAt = err.Error(), time.Now()
	s.mu.Unlock()
}

// tlsIdentityFailures are the TLS failures that mean a certificate was
// refused or not trusted, as grpc-go reports them (it reports handshake
// and TLS alert errors as codes.Unavailable, in text only).
var tlsIdentityFailures = []string{
	"x509:",
	"tls: failed to verify certificate",
	"remote error: tls: bad certificate",
	"remote error: tls: unknown certificate authority",
	"remote error: tls: certificate required",
	"remote error: tls: expired certificate",
	"remote error: tls: unknown certificate",
	"remote error: tls: unsupported certificate",
	"remote error: tls: certificate revoked",
	"remote error: tls: access denied",
}

func isIdentityError(err error) bool {
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied:
		return true
	}
	msg := err.Error()
	for _, f := range tlsIdentityFailures {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}
