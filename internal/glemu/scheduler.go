package glemu

import (
	"bytes"
	"context"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	glpb "gl-signerd/streamer/pb/greenlight"
	schedpb "gl-signerd/streamer/pb/scheduler"
)

// caller is the identity in a verified client certificate.
type caller struct {
	cn     string
	nobody bool
	nodeID [33]byte
}

func callerFrom(ctx context.Context) (caller, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return caller{}, status.Error(codes.Unauthenticated, "no peer information")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return caller{}, status.Error(codes.Unauthenticated, "no verified client certificate")
	}
	cn := ti.State.VerifiedChains[0][0].Subject.CommonName
	nobody, id, ok := parseCN(cn)
	if !ok {
		return caller{}, status.Errorf(codes.PermissionDenied, "certificate %q is not a Greenlight user certificate", cn)
	}
	return caller{cn: cn, nobody: nobody, nodeID: id}, nil
}

// deviceOf checks that the caller holds a device certificate of node.
func deviceOf(ctx context.Context, node []byte) (caller, [33]byte, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return c, [33]byte{}, err
	}
	if c.nobody {
		return c, [33]byte{}, status.Error(codes.PermissionDenied, "the nobody identity may only register and recover nodes")
	}
	if node == nil || bytes.Equal(node, c.nodeID[:]) {
		// The certificate's node id was checked when it was issued; the
		// node service asks this for every answer, so skip parsing it.
		return c, c.nodeID, nil
	}
	id, err := parseNodeID(node)
	if err != nil {
		return c, id, err
	}
	if id != c.nodeID {
		return c, id, status.Errorf(codes.PermissionDenied, "certificate %q is not a device of node %x", c.cn, node)
	}
	return c, id, nil
}

func parseNodeID(b []byte) ([33]byte, error) {
	var id [33]byte
	if len(b) != 33 {
		return id, status.Errorf(codes.InvalidArgument, "node_id is %d bytes; expected 33", len(b))
	}
	if _, err := btcec.ParsePubKey(b); err != nil {
		return id, status.Errorf(codes.InvalidArgument, "node_id is not a public key: %v", err)
	}
	copy(id[:], b)
	return id, nil
}

type schedulerService struct {
	schedpb.UnimplementedSchedulerServer
	e *Emulator
}

func (s *schedulerService) GetChallenge(ctx context.Context, req *schedpb.ChallengeRequest) (*schedpb.ChallengeResponse, error) {
	if _, err := callerFrom(ctx); err != nil {
		return nil, err
	}
	id, err := parseNodeID(req.GetNodeId())
	if err != nil {
		return nil, err
	}
	if req.GetScope() != schedpb.ChallengeScope_REGISTER && req.GetScope() != schedpb.ChallengeScope_RECOVER {
		return nil, status.Errorf(codes.InvalidArgument, "unknown challenge scope %d", req.GetScope())
	}
	c, err := s.e.challenges.issue(id, req.GetScope())
	if err != nil {
		return nil, status.Error(codes.ResourceExhausted, err.Error())
	}
	return &schedpb.ChallengeResponse{Challenge: c}, nil
}

// prove checks a register/recover call: nobody identity, a fresh challenge
// of the right scope for the node, signed by the node key.
func (s *schedulerService) prove(ctx context.Context, node, challenge, sig []byte, scope schedpb.ChallengeScope) ([33]byte, error) {
	c, err := callerFrom(ctx)
	if err != nil {
		return [33]byte{}, err
	}
	if !c.nobody {
		return [33]byte{}, status.Errorf(codes.PermissionDenied, "only the nobody identity may %s; %q may not", scopeVerb(scope), c.cn)
	}
	id, err := parseNodeID(node)
	if err != nil {
		return id, err
	}
	if err := s.e.challenges.take(challenge, id, scope); err != nil {
		return id, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := VerifyChallengeSignature(id, challenge, sig); err != nil {
		return id, status.Errorf(codes.PermissionDenied, "challenge signature: %v", err)
	}
	return id, nil
}

func scopeVerb(s schedpb.ChallengeScope) string {
	if s == schedpb.ChallengeScope_RECOVER {
		return "recover nodes"
	}
	return "register nodes"
}

var networks = map[string]bool{"bitcoin": true, "testnet": true, "signet": true, "regtest": true}

func (s *schedulerService) Register(ctx context.Context, req *schedpb.RegistrationRequest) (*schedpb.RegistrationResponse, error) {
	id, err := s.prove(ctx, req.GetNodeId(), req.GetChallenge(), req.GetSignature(), schedpb.ChallengeScope_REGISTER)
	if err != nil {
		return nil, err
	}
	if !networks[req.GetNetwork()] {
		return nil, status.Errorf(codes.InvalidArgument, "unknown network %q", req.GetNetwork())
	}
	cert, err := s.e.certs.signCSR(id, req.GetCsr(), s.e.opts.DeviceCertValidity)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	n := &Node{
		e:           s.e,
		id:          id,
		network:     req.GetNetwork(),
		signerProto: req.GetSignerProto(),
		initMsg:     req.GetInitMsg(),
		startup:     cloneStartup(req.GetStartupmsgs()),
		inviteCode:  req.GetInviteCode(),
		nextID:      firstRequestID,
		pending:     make(map[uint32]*pendingRequest),
		state:       make(map[string]*glpb.SignerStateEntry),
		streams:     make(map[*nodeStream]struct{}),
		scheduled:   make(chan struct{}),
	}
	s.e.mu.Lock()
	switch {
	case s.e.closed:
		s.e.mu.Unlock()
		return nil, status.Error(codes.Unavailable, errClosed.Error())
	case s.e.nodes[id] != nil:
		s.e.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "node %x is already registered; use Recover", id)
	}
	s.e.nodes[id] = n
	s.e.mu.Unlock()
	s.e.log.Info("node registered", zap.String("node_id", fmt.Sprintf("%x", id)), zap.String("network", n.network))
	if s.e.opts.AutoSchedule {
		if _, err := n.Schedule(); err != nil {
			return nil, status.Errorf(codes.Internal, "scheduling: %v", err)
		}
	}
	return &schedpb.RegistrationResponse{DeviceCert: string(cert)}, nil
}

func (s *schedulerService) Recover(ctx context.Context, req *schedpb.RecoveryRequest) (*schedpb.RecoveryResponse, error) {
	id, err := s.prove(ctx, req.GetNodeId(), req.GetChallenge(), req.GetSignature(), schedpb.ChallengeScope_RECOVER)
	if err != nil {
		return nil, err
	}
	if s.e.Node(id) == nil {
		return nil, status.Errorf(codes.NotFound, "node %x is not registered", id)
	}
	cert, err := s.e.certs.signCSR(id, req.GetCsr(), s.e.opts.DeviceCertValidity)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &schedpb.RecoveryResponse{DeviceCert: string(cert)}, nil
}

func (s *schedulerService) node(id [33]byte) (*Node, error) {
	n := s.e.Node(id)
	if n == nil {
		return nil, status.Errorf(codes.NotFound, "node %x is not registered", id)
	}
	return n, nil
}

func (s *schedulerService) Schedule(ctx context.Context, req *schedpb.ScheduleRequest) (*schedpb.NodeInfoResponse, error) {
	_, id, err := deviceOf(ctx, req.GetNodeId())
	if err != nil {
		return nil, err
	}
	n, err := s.node(id)
	if err != nil {
		return nil, err
	}
	if _, err := n.Schedule(); err != nil {
		return nil, status.Errorf(codes.Internal, "scheduling: %v", err)
	}
	return n.info(), nil
}

func (s *schedulerService) GetNodeInfo(ctx context.Context, req *schedpb.NodeInfoRequest) (*schedpb.NodeInfoResponse, error) {
	_, id, err := deviceOf(ctx, req.GetNodeId())
	if err != nil {
		return nil, err
	}
	n, err := s.node(id)
	if err != nil {
		return nil, err
	}
	if req.GetWait() {
		if err := n.WaitScheduled(ctx); err != nil {
			return nil, status.FromContextError(err).Err()
		}
	}
	return n.info(), nil
}

func (s *schedulerService) MaybeUpgrade(ctx context.Context, req *schedpb.UpgradeRequest) (*schedpb.UpgradeResponse, error) {
	_, id, err := deviceOf(ctx, nil)
	if err != nil {
		return nil, err
	}
	n, err := s.node(id)
	if err != nil {
		return nil, err
	}
	return &schedpb.UpgradeResponse{OldVersion: n.upgrade(req)}, nil
}

type debugService struct {
	schedpb.UnimplementedDebugServer
	e *Emulator
}

// ReportSignerRejection accepts reports from any Greenlight identity
// (Greenlight's own signer reports with the nobody certificate).
func (d *debugService) ReportSignerRejection(ctx context.Context, r *schedpb.SignerRejection) (*glpb.Empty, error) {
	if _, err := callerFrom(ctx); err != nil {
		return nil, err
	}
	d.e.mu.Lock()
	d.e.rejections = append(d.e.rejections, proto.Clone(r).(*schedpb.SignerRejection))
	d.e.mu.Unlock()
	d.e.log.Info("signer rejection reported", zap.String("msg", r.GetMsg()))
	return &glpb.Empty{}, nil
}

func cloneStartup(in []*schedpb.StartupMessage) []*schedpb.StartupMessage {
	out := make([]*schedpb.StartupMessage, len(in))
	for i, m := range in {
		out[i] = proto.Clone(m).(*schedpb.StartupMessage)
	}
	return out
}
