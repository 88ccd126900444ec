package streamer

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	schedpb "gl-signerd/streamer/pb/scheduler"
)

// Default HTTP/2 keepalive used on every connection. Greenlight's client
// pings every second; grpc-go does not allow less than 10 s, and its servers
// treat more frequent pings as abuse.
const (
	KeepaliveTime    = 10 * time.Second
	KeepaliveTimeout = 5 * time.Second
)

// MaxRequestSize is the largest hsmd message (HsmRequest.raw) the signer
// answers, the same limit hsmproto puts on a framed message; a larger one
// is refused with an error. MaxReceiveSize, the gRPC receive limit, leaves
// room above it for the request's signer state and pending requests, so an
// oversized request reaches us and gets that error instead of breaking the
// stream on every delivery (the node replays unanswered requests).
const (
	MaxRequestSize = 8 << 20
	MaxReceiveSize = 64 << 20
)

// Keepalive is the HTTP/2 ping schedule of a connection: a ping after Time
// without activity, and the connection is given up when no answer comes
// within Timeout. Zero fields take the defaults above; Time below 10 s is
// raised to 10 s, the least grpc-go allows.
type Keepalive struct {
	Time    time.Duration
	Timeout time.Duration
}

func (k Keepalive) params() keepalive.ClientParameters {
	p := keepalive.ClientParameters{Time: k.Time, Timeout: k.Timeout, PermitWithoutStream: true}
	if p.Time <= 0 {
		p.Time = KeepaliveTime
	}
	if p.Time < 10*time.Second {
		p.Time = 10 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = KeepaliveTimeout
	}
	return p
}

// dialTLS opens a lazily connecting gRPC client connection over mTLS.
// serverName overrides the name the server certificate is checked against
// (empty: the URI's host).
func dialTLS(uri string, tlsConf *tls.Config, serverName string, ka Keepalive) (*grpc.ClientConn, error) {
	if tlsConf == nil {
		return nil, fmt.Errorf("no TLS configuration for %s", uri)
	}
	target, _, err := dialTarget(uri)
	if err != nil {
		return nil, err
	}
	conf := tlsConf.Clone()
	if serverName != "" {
		conf.ServerName = serverName
	}
	return grpc.Dial(target,
		grpc.WithTransportCredentials(credentials.NewTLS(conf)),
		grpc.WithKeepaliveParams(ka.params()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxReceiveSize)),
		// A fixed flow-control window turns off grpc-go's bandwidth
		// estimation, which answers received data with HTTP/2 pings: on a
		// stream of small requests that is extra frames and wake-ups for
		// every few requests (8 % of the daemon's CPU at 1,000 requests/s
		// in gl-signerd bench).
		grpc.WithInitialWindowSize(flowWindow),
		grpc.WithInitialConnWindowSize(flowWindow),
	)
}

// flowWindow is the HTTP/2 flow-control window of our connections, per
// stream and per connection: larger than any hsmd request we accept.
const flowWindow = 16 << 20

// SchedulerClient calls Greenlight's Scheduler and Debug services.
type SchedulerClient struct {
	conn  *grpc.ClientConn // nil when built from a caller's connection
	sched schedpb.SchedulerClient
	debug schedpb.DebugClient
}

// DialScheduler connects (lazily) to the scheduler at uri, e.g.
// "https://scheduler.gl.blckstrm.com:443", with the given mTLS
// configuration (see ClientTLS). An optional Keepalive replaces the
// default ping schedule.
func DialScheduler(uri string, tlsConf *tls.Config, ka ...Keepalive) (*SchedulerClient, error) {
	var k Keepalive
	if len(ka) > 0 {
		k = ka[0]
	}
	conn, err := dialTLS(uri, tlsConf, "", k)
	if err != nil {
		return nil, fmt.Errorf("connecting to the scheduler: %w", err)
	}
	c := NewSchedulerClient(conn)
	c.conn = conn
	return c, nil
}

// NewSchedulerClient wraps an existing connection; Close leaves it open.
func NewSchedulerClient(conn grpc.ClientConnInterface) *SchedulerClient {
	return &SchedulerClient{
		sched: schedpb.NewSchedulerClient(conn),
		debug: schedpb.NewDebugClient(conn),
	}
}

// Close closes the connection DialScheduler opened.
func (c *SchedulerClient) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// GetChallenge asks for a one-time challenge bound to scope and nodeID.
func (c *SchedulerClient) GetChallenge(ctx context.Context, scope schedpb.ChallengeScope, nodeID []byte) ([]byte, error) {
	res, err := c.sched.GetChallenge(ctx, &schedpb.ChallengeRequest{Scope: scope, NodeId: nodeID})
	if err != nil {
		return nil, fmt.Errorf("scheduler GetChallenge: %w", err)
	}
	return res.GetChallenge(), nil
}

// Register sends a registration request as is (see Register for the
// whole flow).
func (c *SchedulerClient) Register(ctx context.Context, req *schedpb.RegistrationRequest) (*schedpb.RegistrationResponse, error) {
	res, err := c.sched.Register(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("scheduler Register: %w", err)
	}
	return res, nil
}

// Recover sends a recovery request as is (see Recover for the whole flow).
func (c *SchedulerClient) Recover(ctx context.Context, req *schedpb.RecoveryRequest) (*schedpb.RecoveryResponse, error) {
	res, err := c.sched.Recover(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("scheduler Recover: %w", err)
	}
	return res, nil
}

// Schedule asks the scheduler to start the node and returns where it runs.
func (c *SchedulerClient) Schedule(ctx context.Context, nodeID []byte) (*schedpb.NodeInfoResponse, error) {
	res, err := c.sched.Schedule(ctx, &schedpb.ScheduleRequest{NodeId: nodeID})
	if err != nil {
		return nil, fmt.Errorf("scheduler Schedule: %w", err)
	}
	return res, nil
}

// GetNodeInfo returns where the node runs (an empty GrpcUri if it is not
// scheduled). With wait it blocks until the node is scheduled or ctx ends.
func (c *SchedulerClient) GetNodeInfo(ctx context.Context, nodeID []byte, wait bool) (*schedpb.NodeInfoResponse, error) {
	res, err := c.sched.GetNodeInfo(ctx, &schedpb.NodeInfoRequest{NodeId: nodeID, Wait: wait})
	if err != nil {
		return nil, fmt.Errorf("scheduler GetNodeInfo: %w", err)
	}
	return res, nil
}

// MaybeUpgrade tells the scheduler the signer's version and startup
// messages, so the node can be started (and upgraded) without a signer.
func (c *SchedulerClient) MaybeUpgrade(ctx context.Context, req *schedpb.UpgradeRequest) (*schedpb.UpgradeResponse, error) {
	res, err := c.sched.MaybeUpgrade(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("scheduler MaybeUpgrade: %w", err)
	}
	return res, nil
}

// ReportSignerRejection reports a refused request to Greenlight's Debug
// service.
func (c *SchedulerClient) ReportSignerRejection(ctx context.Context, r *schedpb.SignerRejection) error {
	if _, err := c.debug.ReportSignerRejection(ctx, r); err != nil {
		return fmt.Errorf("scheduler ReportSignerRejection: %w", err)
	}
	return nil
}
