package glemu

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	glpb "gl-signerd/streamer/pb/greenlight"
	schedpb "gl-signerd/streamer/pb/scheduler"
)

// Request ids: Greenlight's hsmd proxy numbers requests from 1000
// (libs/gl-signerproxy/src/hsmproxy.rs); 0 is the heartbeat the node
// plugin sends first on every stream.
const (
	firstRequestID = 1000
	heartbeatID    = 0
)

// heartbeatRaw is vls-protocol's GetHeartbeat (type 2008, no payload).
var heartbeatRaw = []byte{0x07, 0xd8}

// Node is one registered node: its signer state, its pending hsmd
// requests and, while scheduled, its gRPC server.
type Node struct {
	e           *Emulator
	id          [33]byte
	network     string
	inviteCode  string
	mu          sync.Mutex
	signerProto string
	initMsg     []byte
	startup     []*schedpb.StartupMessage

	nextID  uint32
	pending map[uint32]*pendingRequest
	// answers holds a digest of each applied answer, to compare
	// duplicates with.
	answers map[uint32][32]byte
	state   map[string]*glpb.SignerStateEntry
	streams map[*nodeStream]struct{}
	// calls are the user's calls in flight (AddCall): attached to every
	// request submitted meanwhile.
	calls []*glpb.PendingRequest
	// streamsChanged is closed and replaced whenever a stream opens or
	// closes.
	streamsChanged chan struct{}

	srv       *grpc.Server
	srvDone   chan struct{}
	serverTLS *tls.Config
	uri       string
	lastPort  int
	sessionID uint64
	// scheduled is closed while the node is scheduled.
	scheduled chan struct{}
	stats     NodeStats
}

// NodeStats counts what happened on a node. Every request id is answered
// at most once: later answers for it count as Duplicates.
type NodeStats struct {
	Scheduled   bool
	URI         string
	SessionID   uint64
	Schedules   int
	Preemptions int

	Streams       int // request streams opened
	ActiveStreams int
	Cuts          int // streams ended by CutStreams

	Submitted  uint64 // requests submitted
	Sent       uint64 // requests sent on a stream (replays included)
	Replayed   uint64 // sends of a request already sent on an earlier stream
	Answered   uint64 // requests completed by a response
	Refused    uint64 // error responses
	Duplicates uint64 // responses to requests already answered or abandoned
	// DuplicatesDiffering counts duplicates whose answer (raw reply or
	// error) differs from the one applied: a signer answering a replayed
	// request differently.
	DuplicatesDiffering uint64
	Unknown             uint64 // responses to ids never issued
	Abandoned           uint64 // requests whose Submit gave up before an answer
	Heartbeats          uint64 // heartbeat responses
	Pending             int    // requests awaiting an answer
}

type pendingRequest struct {
	req    *glpb.HsmRequest
	done   chan *glpb.HsmResponse // buffered: the answer never blocks
	sentOn int
}

// nodeStream is one attached signer.
type nodeStream struct {
	notify    chan struct{} // buffered: a wake-up is never lost
	cut       chan struct{} // closed by CutStreams
	sent      map[uint32]bool
	stateSent map[string]uint64
}

// ID is the node id.
func (n *Node) ID() [33]byte { return n.id }

// Network is the network the node registered for.
func (n *Node) Network() string { return n.network }

// InviteCode is the invite code sent at registration.
func (n *Node) InviteCode() string { return n.inviteCode }

// SignerVersion is the signer_proto of the registration, or the
// signer_version of the latest MaybeUpgrade.
func (n *Node) SignerVersion() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.signerProto
}

// InitMsg is the hsmd_init reply stashed at registration (or upgrade).
func (n *Node) InitMsg() []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]byte(nil), n.initMsg...)
}

// StartupMessages are the canned startup request/response pairs stashed at
// registration or by the latest MaybeUpgrade.
func (n *Node) StartupMessages() []*schedpb.StartupMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	return cloneStartup(n.startup)
}

func (n *Node) upgrade(req *schedpb.UpgradeRequest) (old string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old = n.signerProto
	if req.GetSignerVersion() != "" {
		n.signerProto = req.GetSignerVersion()
	}
	if len(req.GetStartupmsgs()) > 0 {
		n.startup = cloneStartup(req.GetStartupmsgs())
	}
	// Deprecated in favour of startupmsgs, but Greenlight's signer still
	// sends it.
	if len(req.GetInitmsg()) > 0 {
		n.initMsg = append([]byte(nil), req.GetInitmsg()...)
	}
	return old
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() NodeStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	s.Scheduled, s.URI, s.SessionID = n.srv != nil, n.uri, n.sessionID
	s.ActiveStreams, s.Pending = len(n.streams), len(n.pending)
	return s
}

// URI is where the node runs, or "" when it is not scheduled.
func (n *Node) URI() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.uri
}

func (n *Node) info() *schedpb.NodeInfoResponse {
	n.mu.Lock()
	defer n.mu.Unlock()
	return &schedpb.NodeInfoResponse{NodeId: append([]byte(nil), n.id[:]...), GrpcUri: n.uri, SessionId: n.sessionID}
}

// Schedule starts the node's server (if it is not running) on a new
// loopback port and returns its URI. Signers waiting in GetNodeInfo are
// released.
func (n *Node) Schedule() (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return n.uri, nil
	}
	n.e.mu.Lock()
	closed := n.e.closed
	n.e.mu.Unlock()
	if closed {
		return "", errClosed
	}
	if n.serverTLS == nil {
		ca, err := n.e.certs.nodeCA(n.id)
		if err != nil {
			return "", err
		}
		if n.serverTLS, err = n.e.certs.serverTLS(ca, fmt.Sprintf("/users/%x/node", n.id)); err != nil {
			return "", err
		}
	}
	lis, err := n.listen()
	if err != nil {
		return "", err
	}
	srv := newServer(n.serverTLS)
	glpb.RegisterNodeServer(srv, &nodeService{n: n})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	n.srv, n.srvDone = srv, done
	n.lastPort = lis.Addr().(*net.TCPAddr).Port
	n.uri = "https://" + lis.Addr().String()
	n.sessionID++
	n.stats.Schedules++
	close(n.scheduled)
	n.e.log.Info("node scheduled", zap.String("node_id", fmt.Sprintf("%x", n.id)), zap.String("uri", n.uri))
	return n.uri, nil
}

// listen picks a loopback port other than the node's previous one, so a
// rescheduled node is at a new address.
func (n *Node) listen() (net.Listener, error) {
	for i := 0; i < 10; i++ {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listening for node %x: %w", n.id, err)
		}
		if lis.Addr().(*net.TCPAddr).Port != n.lastPort {
			return lis, nil
		}
		_ = lis.Close()
	}
	return nil, errors.New("could not find a new port for the node")
}

// Preempt stops the node's server, dropping every signer stream. Pending
// requests stay pending and are replayed when a signer reattaches. A node
// that is not scheduled is left alone.
func (n *Node) Preempt() {
	n.mu.Lock()
	srv, done := n.srv, n.srvDone
	if srv == nil {
		n.mu.Unlock()
		return
	}
	n.srv, n.srvDone, n.uri = nil, nil, ""
	n.scheduled = make(chan struct{})
	n.stats.Preemptions++
	n.mu.Unlock()
	srv.Stop()
	<-done
	n.e.log.Info("node preempted", zap.String("node_id", fmt.Sprintf("%x", n.id)))
}

// Reschedule preempts the node and schedules it again at a new port.
func (n *Node) Reschedule() (string, error) {
	n.Preempt()
	return n.Schedule()
}

// WaitScheduled blocks until the node is scheduled or ctx ends.
func (n *Node) WaitScheduled(ctx context.Context) error {
	for {
		n.mu.Lock()
		if n.srv != nil {
			n.mu.Unlock()
			return nil
		}
		ch := n.scheduled
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitForSigner blocks until at least one signer stream is attached or
// ctx ends.
func (n *Node) WaitForSigner(ctx context.Context) error {
	for {
		n.mu.Lock()
		if len(n.streams) > 0 {
			n.mu.Unlock()
			return nil
		}
		ch := n.streamsChangedLocked()
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (n *Node) streamsChangedLocked() chan struct{} {
	if n.streamsChanged == nil {
		n.streamsChanged = make(chan struct{})
	}
	return n.streamsChanged
}

func (n *Node) noteStreamsChangedLocked() {
	if n.streamsChanged != nil {
		close(n.streamsChanged)
		n.streamsChanged = nil
	}
}

// Submit sends an hsmd request to the signer and waits for its answer, as
// lightningd does through Greenlight's hsmd proxy. The node assigns the
// request id (from 1000) and attaches the signer state changes; req's
// Context, Raw and Requests are used. The request stays pending, and is
// replayed to every newly attached signer, until it is answered or ctx
// ends. The node need not be scheduled yet.
//
// An error response completes Submit (the returned response has Error
// set) unless Options.KeepRefusedPending is set. Close ends every Submit.
func (n *Node) Submit(ctx context.Context, req *glpb.HsmRequest) (*glpb.HsmResponse, error) {
	if len(req.GetRaw()) < 2 {
		return nil, errors.New("glemu: the request has no message type")
	}
	r := &glpb.HsmRequest{Raw: append([]byte(nil), req.GetRaw()...)}
	if req.GetContext() != nil {
		r.Context = proto.Clone(req.GetContext()).(*glpb.HsmRequestContext)
	}
	for _, p := range req.GetRequests() {
		r.Requests = append(r.Requests, proto.Clone(p).(*glpb.PendingRequest))
	}
	p := &pendingRequest{req: r, done: make(chan *glpb.HsmResponse, 1)}

	n.mu.Lock()
	r.Requests = append(r.Requests, n.calls...)
	r.RequestId = n.nextID
	n.nextID++
	n.pending[r.RequestId] = p
	n.stats.Submitted++
	n.wakeStreamsLocked()
	n.mu.Unlock()

	var stop error
	select {
	case resp := <-p.done:
		return resp, nil
	case <-ctx.Done():
		stop = ctx.Err()
	case <-n.e.done:
		stop = errClosed
	}
	n.mu.Lock()
	if _, ok := n.pending[r.RequestId]; ok {
		delete(n.pending, r.RequestId)
		n.stats.Abandoned++
	}
	n.mu.Unlock()
	select {
	case resp := <-p.done: // answered while we were giving up
		return resp, nil
	default:
		return nil, stop
	}
}

// SignerState returns the node's copy of the signer state, sorted by key.
func (n *Node) SignerState() []*glpb.SignerStateEntry {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*glpb.SignerStateEntry, 0, len(n.state))
	for _, e := range n.state {
		out = append(out, proto.Clone(e).(*glpb.SignerStateEntry))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetKey() < out[j].GetKey() })
	return out
}

// SetSignerState merges entries into the node's signer state (a higher
// version wins), as if an earlier signer had returned them.
func (n *Node) SetSignerState(entries []*glpb.SignerStateEntry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mergeStateLocked(entries)
	n.wakeStreamsLocked()
}

func (n *Node) mergeStateLocked(entries []*glpb.SignerStateEntry) {
	for _, e := range entries {
		if cur := n.state[e.GetKey()]; cur == nil || e.GetVersion() > cur.GetVersion() {
			n.state[e.GetKey()] = proto.Clone(e).(*glpb.SignerStateEntry)
		}
	}
}

func (n *Node) wakeStreamsLocked() {
	for s := range n.streams {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// stateDiffLocked returns the state entries s has not seen yet and marks
// them seen.
func (n *Node) stateDiffLocked(s *nodeStream) []*glpb.SignerStateEntry {
	var out []*glpb.SignerStateEntry
	for k, e := range n.state {
		if v, ok := s.stateSent[k]; ok && v >= e.GetVersion() {
			continue
		}
		s.stateSent[k] = e.GetVersion()
		out = append(out, proto.Clone(e).(*glpb.SignerStateEntry))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetKey() < out[j].GetKey() })
	return out
}

// nextBatch returns the pending requests s has not been sent yet, in id
// order, each carrying the state s has not seen.
func (n *Node) nextBatch(s *nodeStream) []*glpb.HsmRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	var ids []uint32
	for id := range n.pending {
		if !s.sent[id] {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := make([]*glpb.HsmRequest, 0, len(ids))
	for _, id := range ids {
		p := n.pending[id]
		r := proto.Clone(p.req).(*glpb.HsmRequest)
		r.SignerState = n.stateDiffLocked(s)
		s.sent[id] = true
		if p.sentOn > 0 {
			n.stats.Replayed++
		}
		p.sentOn++
		n.stats.Sent++
		out = append(out, r)
	}
	return out
}

// respond applies a signer's answer exactly once.
func (n *Node) respond(resp *glpb.HsmResponse) {
	n.mu.Lock()
	defer n.mu.Unlock()
	id := resp.GetRequestId()
	if id == heartbeatID {
		if resp.GetError() == "" {
			n.mergeStateLocked(resp.GetSignerState())
		}
		n.stats.Heartbeats++
		return
	}
	p := n.pending[id]
	if p == nil {
		if id >= firstRequestID && id < n.nextID {
			n.stats.Duplicates++
			if d, ok := n.answers[id]; ok && d != answerDigest(resp) {
				n.stats.DuplicatesDiffering++
			}
		} else {
			n.stats.Unknown++
		}
		return
	}
	if resp.GetError() != "" {
		n.stats.Refused++
		n.e.log.Warn("the signer refused a request", zap.Uint32("request_id", id), zap.String("error", resp.GetError()))
		if n.e.opts.KeepRefusedPending {
			return
		}
	} else {
		n.mergeStateLocked(resp.GetSignerState())
	}
	delete(n.pending, id)
	for s := range n.streams {
		delete(s.sent, id) // no longer pending: never sent again
	}
	n.stats.Answered++
	if n.answers == nil {
		n.answers = make(map[uint32][32]byte)
	}
	n.answers[id] = answerDigest(resp)
	p.done <- proto.Clone(resp).(*glpb.HsmResponse)
}

// answerDigest identifies an answer: its reply bytes or its error.
func answerDigest(resp *glpb.HsmResponse) [32]byte {
	h := sha256.New()
	h.Write(resp.GetRaw())
	h.Write([]byte{0})
	h.Write([]byte(resp.GetError()))
	var d [32]byte
	h.Sum(d[:0])
	return d
}

type nodeService struct {
	glpb.UnimplementedNodeServer
	n *Node
}

func (s *nodeService) StreamHsmRequests(_ *glpb.Empty, stream glpb.Node_StreamHsmRequestsServer) error {
	n := s.n
	if _, _, err := deviceOf(stream.Context(), n.id[:]); err != nil {
		return err
	}
	st := &nodeStream{notify: make(chan struct{}, 1), cut: make(chan struct{}), sent: make(map[uint32]bool), stateSent: make(map[string]uint64)}
	n.mu.Lock()
	n.streams[st] = struct{}{}
	n.stats.Streams++
	n.noteStreamsChangedLocked()
	heartbeat := &glpb.HsmRequest{RequestId: heartbeatID, Raw: heartbeatRaw, SignerState: n.stateDiffLocked(st)}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.streams, st)
		n.noteStreamsChangedLocked()
		n.mu.Unlock()
	}()

	if err := stream.Send(heartbeat); err != nil {
		return err
	}
	for {
		for _, r := range n.nextBatch(st) {
			if err := stream.Send(r); err != nil {
				return err
			}
		}
		select {
		case <-st.notify:
		case <-st.cut:
			return status.Error(codes.Unavailable, "glemu: stream cut")
		case <-stream.Context().Done():
			return nil
		}
	}
}

// CutStreams ends every attached signer stream with Unavailable, as a
// broken connection or a proxy restart would, without preempting the node:
// it stays scheduled at the same address. Requests sent on the cut streams
// and not yet answered are replayed to the next stream. It returns the
// number of streams cut.
func (n *Node) CutStreams() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	cut := 0
	for s := range n.streams {
		select {
		case <-s.cut:
		default:
			close(s.cut)
			cut++
		}
	}
	n.stats.Cuts += cut
	return cut
}

// WaitForStream blocks until more than after request streams have been
// opened in all (NodeStats.Streams) or ctx ends.
func (n *Node) WaitForStream(ctx context.Context, after int) error {
	for {
		n.mu.Lock()
		if n.stats.Streams > after {
			n.mu.Unlock()
			return nil
		}
		ch := n.streamsChangedLocked()
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *nodeService) RespondHsmRequest(ctx context.Context, resp *glpb.HsmResponse) (*glpb.Empty, error) {
	if _, _, err := deviceOf(ctx, s.n.id[:]); err != nil {
		return nil, err
	}
	s.n.respond(resp)
	return &glpb.Empty{}, nil
}
