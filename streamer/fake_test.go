package streamer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	glpb "gl-signerd/streamer/pb/greenlight"
	schedpb "gl-signerd/streamer/pb/scheduler"
)

// checkLeaks fails the test if goroutines started during it are still
// running shortly after it ends. Call it first, so its cleanup runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines before the test, %d after:\n%s", base, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// fakeNode is an in-process Greenlight node: each stream sends what is
// pushed to requests until the test ends the stream with drop.
type fakeNode struct {
	glpb.UnimplementedNodeServer
	requests  chan *glpb.HsmRequest
	responses chan *glpb.HsmResponse

	mu      sync.Mutex
	streams int
	dropCh  chan struct{} // closed to end the current stream
	opened  chan struct{} // receives one value per opened stream
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		requests:  make(chan *glpb.HsmRequest, 100),
		responses: make(chan *glpb.HsmResponse, 100),
		dropCh:    make(chan struct{}),
		opened:    make(chan struct{}, 100),
	}
}

func (n *fakeNode) StreamHsmRequests(_ *glpb.Empty, stream glpb.Node_StreamHsmRequestsServer) error {
	n.mu.Lock()
	n.streams++
	drop := n.dropCh
	n.mu.Unlock()
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	n.opened <- struct{}{}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case <-drop:
			return nil
		case r := <-n.requests:
			if err := stream.Send(r); err != nil {
				return err
			}
		}
	}
}

func (n *fakeNode) RespondHsmRequest(_ context.Context, r *glpb.HsmResponse) (*glpb.Empty, error) {
	n.responses <- r
	return &glpb.Empty{}, nil
}

// drop ends the current stream (the node was preempted).
func (n *fakeNode) drop() {
	n.mu.Lock()
	close(n.dropCh)
	n.dropCh = make(chan struct{})
	n.mu.Unlock()
}

func (n *fakeNode) response(t *testing.T) *glpb.HsmResponse {
	t.Helper()
	select {
	case r := <-n.responses:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no response from the streamer within 5 s")
		return nil
	}
}

func (n *fakeNode) waitOpened(t *testing.T) {
	t.Helper()
	select {
	case <-n.opened:
	case <-time.After(5 * time.Second):
		t.Fatal("the streamer did not open a stream within 5 s")
	}
}

// fakeScheduler answers GetNodeInfo with a fixed URI (or the errors
// queued in errs) and records reports and call times.
type fakeScheduler struct {
	mu      sync.Mutex
	uri     string
	errs    []error
	calls   []time.Time
	reports []*schedpb.SignerRejection
	upgrade []error // results of successive MaybeUpgrade calls
	upCalls int
	// moving gives every answer a new URI (uri with the call number).
	moving bool
}

func (f *fakeScheduler) GetNodeInfo(ctx context.Context, nodeID []byte, wait bool) (*schedpb.NodeInfoResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	uri := f.uri
	if f.moving {
		uri = fmt.Sprintf("%s/%d", f.uri, len(f.calls))
	}
	return &schedpb.NodeInfoResponse{NodeId: nodeID, GrpcUri: uri}, nil
}

func (f *fakeScheduler) ReportSignerRejection(_ context.Context, r *schedpb.SignerRejection) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	return nil
}

func (f *fakeScheduler) MaybeUpgrade(_ context.Context, _ *schedpb.UpgradeRequest) (*schedpb.UpgradeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.upCalls++
	if len(f.upgrade) > 0 {
		err := f.upgrade[0]
		f.upgrade = f.upgrade[1:]
		if err != nil {
			return nil, err
		}
	}
	return &schedpb.UpgradeResponse{OldVersion: "v24.11"}, nil
}

func (f *fakeScheduler) callTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

func (f *fakeScheduler) reported() []*schedpb.SignerRejection {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*schedpb.SignerRejection(nil), f.reports...)
}

// serveFake starts node on a bufconn listener and returns a DialNode
// function for it.
func serveFake(t *testing.T, node glpb.NodeServer) func(string) (*grpc.ClientConn, error) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	glpb.RegisterNodeServer(srv, node)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return func(string) (*grpc.ClientConn, error) {
		return grpc.Dial("passthrough:///bufnet",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxReceiveSize)))
	}
}

// runStreamer starts s.Run and stops it at cleanup, checking it returned
// nil.
func runStreamer(t *testing.T, s *Streamer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run returned %v after cancellation; want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5 s of cancellation")
		}
	})
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var testNodeID = [33]byte{0x02, 1, 2, 3}

func msg(typ uint16, payload ...byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ)}, payload...)
}

var tlsConfigStub = tls.Config{}

// waitStats polls s.Stats() until ok accepts it, for up to 5 s.
func waitStats(t *testing.T, s *Streamer, ok func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Stats()
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never matched: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
