package glemu

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	schedpb "gl-signerd/streamer/pb/scheduler"
)

// Options configures an Emulator. The zero value is usable.
type Options struct {
	// Dir receives ca.pem, nobody.crt and nobody-key.pem. Empty: a new
	// temporary directory, removed by Close.
	Dir string
	// Listen is the scheduler's address, a loopback host and a port
	// (default "127.0.0.1:0", any free port). Nodes are always served on
	// loopback, and the certificates name only localhost and 127.0.0.1.
	Listen string
	// Logger: nil logs nothing.
	Logger *zap.Logger
	// ChallengeTTL is how long a challenge stays valid (default 1 min).
	ChallengeTTL time.Duration
	// DeviceCertValidity is the lifetime of device certificates signed on
	// Register and Recover (default one year).
	DeviceCertValidity time.Duration
	// AutoSchedule schedules a node as soon as it registers.
	AutoSchedule bool
	// KeepRefusedPending keeps a request the signer refused pending (and
	// Submit blocked), as Greenlight's node does: it only logs the error
	// and replays the request to the next stream. By default a refusal
	// completes Submit with the error response, which is what tests
	// usually want to see.
	KeepRefusedPending bool
}

// Environment variable names Greenlight's client reads; a daemon pointed
// at the emulator reads the same ones.
const (
	EnvSchedulerURI = "GL_SCHEDULER_GRPC_URI"
	EnvCACert       = "GL_CA_CRT"
	EnvNobodyCert   = "GL_NOBODY_CRT"
	EnvNobodyKey    = "GL_NOBODY_KEY"
)

// Emulator is a Greenlight scheduler with the nodes it schedules.
type Emulator struct {
	opts       Options
	log        *zap.Logger
	dir        string
	removeDir  bool
	certs      *certTree
	challenges *challengeStore

	schedSrv  *grpc.Server
	schedAddr string
	serveDone chan struct{}

	// done is closed by Close; it releases blocked Submit calls.
	done chan struct{}

	mu         sync.Mutex
	nodes      map[[33]byte]*Node
	rejections []*schedpb.SignerRejection
	closed     bool
}

// Start builds the certificate tree, writes the CA and "nobody" files and
// starts the scheduler on a loopback port. ctx only bounds the start.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.ChallengeTTL <= 0 {
		opts.ChallengeTTL = time.Minute
	}
	if opts.DeviceCertValidity <= 0 {
		opts.DeviceCertValidity = 365 * 24 * time.Hour
	}
	e := &Emulator{
		opts:       opts,
		log:        opts.Logger,
		dir:        opts.Dir,
		challenges: &challengeStore{ttl: opts.ChallengeTTL, m: make(map[string]challenge)},
		nodes:      make(map[[33]byte]*Node),
		done:       make(chan struct{}),
	}
	if e.log == nil {
		e.log = zap.NewNop()
	}
	ok := false
	if e.dir == "" {
		d, err := os.MkdirTemp("", "glemu-")
		if err != nil {
			return nil, fmt.Errorf("glemu: making the certificate directory: %w", err)
		}
		e.dir, e.removeDir = d, true
		defer func() {
			if !ok {
				_ = os.RemoveAll(d)
			}
		}()
	}
	var err error
	if e.certs, err = newCertTree(); err != nil {
		return nil, fmt.Errorf("glemu: making the CA: %w", err)
	}
	nobodyCert, nobodyKey, err := e.certs.newIdentity(e.certs.users, "/users/nobody", time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour), false)
	if err != nil {
		return nil, fmt.Errorf("glemu: making the nobody certificate: %w", err)
	}
	for name, data := range map[string][]byte{
		"ca.pem": certPEM(e.certs.root.cert), "nobody.crt": nobodyCert, "nobody-key.pem": nobodyKey,
	} {
		if err := os.WriteFile(filepath.Join(e.dir, name), data, 0o600); err != nil {
			return nil, fmt.Errorf("glemu: writing %s: %w", name, err)
		}
	}
	tlsConf, err := e.certs.serverTLS(e.certs.root, "GL scheduler")
	if err != nil {
		return nil, fmt.Errorf("glemu: making the scheduler certificate: %w", err)
	}
	addr, err := ListenAddr(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("glemu: %w", err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("glemu: listening for the scheduler: %w", err)
	}
	e.schedSrv = newServer(tlsConf)
	schedpb.RegisterSchedulerServer(e.schedSrv, &schedulerService{e: e})
	schedpb.RegisterDebugServer(e.schedSrv, &debugService{e: e})
	e.schedAddr = lis.Addr().String()
	e.serveDone = make(chan struct{})
	go func() {
		defer close(e.serveDone)
		_ = e.schedSrv.Serve(lis)
	}()
	ok = true
	e.log.Info("greenlight emulator started", zap.String("scheduler", e.SchedulerURI()), zap.String("dir", e.dir))
	return e, nil
}

// ListenAddr checks a scheduler address (Options.Listen) and returns the
// one to listen on: empty is "127.0.0.1:0"; a host must be loopback (127.0.0.1, ::1 or localhost, which the certificates
// name), since the nodes are served on loopback only.
func ListenAddr(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w (write it as HOST:PORT, e.g. 127.0.0.1:2601)", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("listen address %q: the emulator serves loopback only (its nodes listen on 127.0.0.1 and its certificates name localhost and 127.0.0.1); use 127.0.0.1:PORT", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// newServer is a gRPC server with our TLS and a keepalive policy that
// accepts the daemon's pings (grpc-go's default would call 10 s pings
// abuse and close the connection).
func newServer(tlsConf *tls.Config) *grpc.Server {
	return grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tlsConf)),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// Fixed windows, as a tonic server (Greenlight's node is one) has
		// by default, hyper's adaptive window being off: no grpc-go
		// bandwidth-estimation pings.
		grpc.InitialWindowSize(1<<20),
		grpc.InitialConnWindowSize(1<<20),
		// Handle calls on a few long-lived goroutines rather than a new
		// one per call (each RespondHsmRequest is a call).
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	)
}

// Close stops every node and the scheduler and removes the temporary
// directory Start made.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.done)
	nodes := make([]*Node, 0, len(e.nodes))
	for _, n := range e.nodes {
		nodes = append(nodes, n)
	}
	e.mu.Unlock()
	for _, n := range nodes {
		n.Preempt()
	}
	e.schedSrv.Stop()
	<-e.serveDone
	if e.removeDir {
		return os.RemoveAll(e.dir)
	}
	return nil
}

// SchedulerURI is the scheduler's address, "https://127.0.0.1:<port>".
func (e *Emulator) SchedulerURI() string { return "https://" + e.schedAddr }

// Dir is the directory holding ca.pem, nobody.crt and nobody-key.pem.
func (e *Emulator) Dir() string { return e.dir }

// CAPath is the PEM file of the emulator's root CA.
func (e *Emulator) CAPath() string { return filepath.Join(e.dir, "ca.pem") }

// NobodyCertPath is the "nobody" certificate chain (CN /users/nobody).
func (e *Emulator) NobodyCertPath() string { return filepath.Join(e.dir, "nobody.crt") }

// NobodyKeyPath is the "nobody" private key.
func (e *Emulator) NobodyKeyPath() string { return filepath.Join(e.dir, "nobody-key.pem") }

// Env returns the environment (KEY=value) that points a Greenlight client
// at the emulator.
func (e *Emulator) Env() []string {
	return []string{
		EnvSchedulerURI + "=" + e.SchedulerURI(),
		EnvCACert + "=" + e.CAPath(),
		EnvNobodyCert + "=" + e.NobodyCertPath(),
		EnvNobodyKey + "=" + e.NobodyKeyPath(),
	}
}

// IssueCert issues a client certificate chain and key with any CN, under
// the node's CA for "/users/<id>/..." CNs and under the /users CA
// otherwise, valid from notBefore to notAfter. For tests of refused
// identities (expired, another node's, made-up CNs).
func (e *Emulator) IssueCert(cn string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	parent := e.certs.users
	if nobody, id, ok := parseCN(cn); ok && !nobody {
		if parent, err = e.certs.nodeCA(id); err != nil {
			return nil, nil, err
		}
	}
	return e.certs.newIdentity(parent, cn, notBefore, notAfter, false)
}

// Node returns a registered node, or nil.
func (e *Emulator) Node(id [33]byte) *Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nodes[id]
}

// Nodes returns the registered nodes' ids, sorted.
func (e *Emulator) Nodes() [][33]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([][33]byte, 0, len(e.nodes))
	for id := range e.nodes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	return ids
}

// Rejections returns copies of the SignerRejection reports received so far.
func (e *Emulator) Rejections() []*schedpb.SignerRejection {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*schedpb.SignerRejection, len(e.rejections))
	for i, r := range e.rejections {
		out[i] = proto.Clone(r).(*schedpb.SignerRejection)
	}
	return out
}

// errClosed is returned by calls on a closed emulator.
var errClosed = errors.New("glemu: the emulator is closed")
