package streamer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	glpb "gl-signerd/streamer/pb/greenlight"
	schedpb "gl-signerd/streamer/pb/scheduler"
)

type mergingHandler struct {
	RequestHandlerFunc
	mu     sync.Mutex
	merged []StateEntry
}

func (h *mergingHandler) MergeSignerState(entries []StateEntry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.merged = append(h.merged, entries...)
	return nil
}

func newTestStreamer(t *testing.T, node *fakeNode, sched *fakeScheduler, h RequestHandler, mod func(*Config)) *Streamer {
	t.Helper()
	cfg := Config{
		NodeID:         testNodeID,
		Scheduler:      sched,
		DialNode:       serveFake(t, node),
		Handler:        h,
		BackoffInitial: 20 * time.Millisecond,
		BackoffMax:     100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1"}
	var got Request
	h := &mergingHandler{RequestHandlerFunc: func(_ context.Context, r Request) Response {
		got = r
		return Response{Raw: msg(127, 0xaa), SignerState: []StateEntry{{Key: "k", Version: 2, Value: []byte("v2")}}}
	}}
	s := newTestStreamer(t, node, sched, h, nil)
	runStreamer(t, s)
	node.waitOpened(t)

	peer := bytes.Repeat([]byte{3}, 33)
	node.requests <- &glpb.HsmRequest{
		RequestId:   1000,
		Context:     &glpb.HsmRequestContext{NodeId: peer, Dbid: 7, Capabilities: 0x9},
		Raw:         msg(27, 1, 2),
		SignerState: []*glpb.SignerStateEntry{{Key: "k", Version: 1, Value: []byte("v1")}},
		Requests:    []*glpb.PendingRequest{{Uri: "/cln.Node/Pay", Timestamp: 5}},
	}
	resp := node.response(t)
	if resp.GetRequestId() != 1000 || !bytes.Equal(resp.GetRaw(), msg(127, 0xaa)) || resp.GetError() != "" {
		t.Fatalf("response = %v; want id 1000, raw %x", resp, msg(127, 0xaa))
	}
	if len(resp.GetSignerState()) != 1 || resp.GetSignerState()[0].GetVersion() != 2 {
		t.Errorf("response state = %v; want the handler's entry", resp.GetSignerState())
	}
	if got.ID != 1000 || got.Context == nil || got.Context.DBID != 7 || got.Context.Capabilities != 9 ||
		!bytes.Equal(got.Context.PeerID[:], peer) || got.Type() != 27 {
		t.Errorf("handler saw %+v", got)
	}
	if len(got.Requests) != 1 || got.Requests[0].URI != "/cln.Node/Pay" || got.Requests[0].Timestamp != 5 {
		t.Errorf("handler saw pending requests %+v", got.Requests)
	}
	if len(got.SignerState) != 1 || len(h.merged) != 1 || h.merged[0].Key != "k" {
		t.Errorf("state: request %v, merged %v", got.SignerState, h.merged)
	}
	waitStats(t, s, func(st Stats) bool {
		return st.State == StateStreaming && st.Connects == 1 && st.Requests == 1 && st.Responses == 1 && st.Refusals == 0
	})
}

func TestHeartbeatAnsweredWithoutHandler(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1"}
	h := &mergingHandler{RequestHandlerFunc: func(context.Context, Request) Response {
		t.Error("the handler saw a heartbeat")
		return Response{Err: errors.New("no")}
	}}
	s := newTestStreamer(t, node, sched, h, nil)
	runStreamer(t, s)
	node.waitOpened(t)
	node.requests <- &glpb.HsmRequest{
		RequestId:   0,
		Raw:         msg(2008),
		SignerState: []*glpb.SignerStateEntry{{Key: "a", Version: 1}, {Key: "b", Version: 3}},
	}
	resp := node.response(t)
	if resp.GetRequestId() != 0 || !bytes.Equal(resp.GetRaw(), []byte{0x08, 0x3c, 0, 0}) || resp.GetError() != "" {
		t.Fatalf("heartbeat response = %v; want GetHeartbeatReply 083c0000", resp)
	}
	h.mu.Lock()
	merged := len(h.merged)
	h.mu.Unlock()
	if merged != 2 {
		t.Errorf("merged %d state entries from the heartbeat; want 2", merged)
	}
	waitStats(t, s, func(st Stats) bool { return st.Heartbeats == 1 && st.Refusals == 0 })
}

func TestRefusalsAreAnsweredAndReported(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1"}
	h := RequestHandlerFunc(func(_ context.Context, r Request) Response {
		switch r.Type() {
		case 23:
			return Response{Err: errors.New("policy-sign-message: refusing sign_message from the node")}
		case 24:
			panic("boom")
		default:
			return Response{} // no reply at all
		}
	})
	s := newTestStreamer(t, node, sched, h, func(c *Config) { c.GitVersion = "test" })
	runStreamer(t, s)
	node.waitOpened(t)

	cases := []struct {
		req      *glpb.HsmRequest
		errWant  string
		declined bool
	}{
		{&glpb.HsmRequest{RequestId: 1, Raw: msg(23, 0, 1, 'x')}, "policy-sign-message", false},
		{&glpb.HsmRequest{RequestId: 2, Raw: msg(24)}, "internal error handling message type 24", false},
		{&glpb.HsmRequest{RequestId: 3, Raw: msg(25)}, "no reply to message type 25", false},
		{&glpb.HsmRequest{RequestId: 4, Raw: msg(2002)}, "not a CLN hsmd request", true},
		{&glpb.HsmRequest{RequestId: 5, Raw: []byte{1}}, "shorter than a message type", false},
		{&glpb.HsmRequest{RequestId: 6, Raw: msg(1), Context: &glpb.HsmRequestContext{NodeId: []byte{2}}}, "1-byte peer id", false},
		{&glpb.HsmRequest{RequestId: 7, Raw: msg(1, make([]byte, MaxRequestSize)...)}, "more than the 8388608 bytes", false},
	}
	for _, c := range cases {
		node.requests <- c.req
		resp := node.response(t)
		if resp.GetRequestId() != c.req.GetRequestId() || len(resp.GetRaw()) != 0 || !strings.Contains(resp.GetError(), c.errWant) {
			t.Errorf("request %d: response %v; want error containing %q", c.req.GetRequestId(), resp, c.errWant)
		}
	}
	waitFor(t, "a report per refusal", func() bool { return len(sched.reported()) == len(cases) })
	for _, r := range sched.reported() {
		if r.GetGitVersion() != "test" || !bytes.Equal(r.GetNodeId(), testNodeID[:]) || r.GetRequest() == nil || r.GetMsg() == "" {
			t.Errorf("report %v lacks the request, node id or version", r)
		}
	}
	waitStats(t, s, func(st Stats) bool {
		n := uint64(len(cases))
		return st.Refusals == n && st.Declined == 1 && st.Responses == n && st.Reports == n
	})
}

// Requests for one channel run in order; different channels run
// concurrently: channel A's first request blocks until channel B's request
// has been handled, which can only happen if they run at the same time.
func TestChannelsConcurrentAndOrdered(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1"}
	bDone := make(chan struct{})
	var mu sync.Mutex
	var orderA []uint32
	h := RequestHandlerFunc(func(ctx context.Context, r Request) Response {
		switch r.Context.DBID {
		case 1:
			if r.ID == 10 {
				select {
				case <-bDone:
				case <-time.After(5 * time.Second):
					return Response{Err: errors.New("channel B never ran while A was busy")}
				}
			}
			mu.Lock()
			orderA = append(orderA, r.ID)
			mu.Unlock()
		case 2:
			close(bDone)
		}
		return Response{Raw: msg(100 + r.Type())}
	})
	s := newTestStreamer(t, node, sched, h, nil)
	runStreamer(t, s)
	node.waitOpened(t)

	peer := bytes.Repeat([]byte{2}, 33)
	for id := uint32(10); id < 15; id++ {
		node.requests <- &glpb.HsmRequest{RequestId: id, Raw: msg(5), Context: &glpb.HsmRequestContext{NodeId: peer, Dbid: 1}}
	}
	node.requests <- &glpb.HsmRequest{RequestId: 20, Raw: msg(5), Context: &glpb.HsmRequestContext{NodeId: peer, Dbid: 2}}
	for i := 0; i < 6; i++ {
		if r := node.response(t); r.GetError() != "" {
			t.Fatalf("request %d: %s", r.GetRequestId(), r.GetError())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(orderA) != "[10 11 12 13 14]" {
		t.Errorf("channel A handled in order %v; want [10 11 12 13 14]", orderA)
	}
}

// After a stream the node accepted ends, the backoff starts over: a node
// at the same address is tried again after the first delay (never in a
// hot loop, never longer however often it happens), and a node the
// scheduler names at a new address (preempted and scheduled again) at
// once.
func TestReconnectAfterStreamEnds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		initial  time.Duration
		move     bool
		min, max time.Duration // bounds of each reattach
	}{
		// A growing backoff would make the reattaches at least 50, 100,
		// 200, 400, 800, 1,600 ms.
		{name: "same address", initial: 100 * time.Millisecond, min: 50 * time.Millisecond, max: 350 * time.Millisecond},
		{name: "node moved", initial: 2 * time.Second, move: true, max: 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			node := newFakeNode()
			sched := &fakeScheduler{uri: "https://node.example:1"}
			h := RequestHandlerFunc(func(context.Context, Request) Response { return Response{Raw: msg(100)} })
			s := newTestStreamer(t, node, sched, h, func(c *Config) {
				c.BackoffInitial = tc.initial
				c.BackoffMax = 64 * tc.initial
			})
			runStreamer(t, s)
			node.waitOpened(t)
			for i := 0; i < 6; i++ {
				if tc.move {
					sched.mu.Lock()
					sched.uri = fmt.Sprintf("https://node.example:%d", i+2)
					sched.mu.Unlock()
				}
				t0 := time.Now()
				node.drop()
				node.waitOpened(t)
				if took := time.Since(t0); took < tc.min || took > tc.max {
					t.Errorf("reattach %d took %v; want %v to %v", i+1, took, tc.min, tc.max)
				}
			}
			// Still working after reconnecting.
			node.requests <- &glpb.HsmRequest{RequestId: 1, Raw: msg(1)}
			if r := node.response(t); r.GetRequestId() != 1 || r.GetError() != "" {
				t.Errorf("after reconnecting: %v", r)
			}
			waitStats(t, s, func(st Stats) bool { return st.Connects == 7 && st.Disconnects == 6 })
		})
	}
}

// A scheduler naming a new address each time, none of which accepts
// connections, is not a node that moved: each new address starts the
// backoff over but is tried only after its first delay, never in a hot
// loop.
func TestNewAddressesAfterFailuresNotHot(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1", moving: true}
	h := RequestHandlerFunc(func(context.Context, Request) Response { return Response{Raw: msg(100)} })
	var mu sync.Mutex
	fails := 6
	var dials []time.Time
	s := newTestStreamer(t, node, sched, h, func(c *Config) {
		c.BackoffInitial = 40 * time.Millisecond
		c.BackoffMax = time.Second
		dial := c.DialNode
		c.DialNode = func(uri string) (*grpc.ClientConn, error) {
			mu.Lock()
			defer mu.Unlock()
			dials = append(dials, time.Now())
			if fails > 0 {
				fails--
				return nil, errors.New("connection refused")
			}
			return dial(uri)
		}
	})
	runStreamer(t, s)
	node.waitOpened(t)
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(dials); i++ {
		if gap := dials[i].Sub(dials[i-1]); gap < 20*time.Millisecond {
			t.Errorf("attempt %d came %v after the previous one; want at least 20 ms", i+1, gap)
		}
	}
}

// A node address that refuses connections is a real failure: the delays
// between attempts grow, jittered, as long as the scheduler keeps naming
// that address.
func TestConnectFailuresBackOff(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1"}
	h := RequestHandlerFunc(func(context.Context, Request) Response { return Response{Raw: msg(100)} })
	var mu sync.Mutex
	fails := 5
	var dials []time.Time
	s := newTestStreamer(t, node, sched, h, func(c *Config) {
		c.BackoffInitial = 20 * time.Millisecond
		c.BackoffMax = 320 * time.Millisecond
		dial := c.DialNode
		c.DialNode = func(uri string) (*grpc.ClientConn, error) {
			mu.Lock()
			defer mu.Unlock()
			dials = append(dials, time.Now())
			if fails > 0 {
				fails--
				return nil, errors.New("connection refused")
			}
			return dial(uri)
		}
	})
	runStreamer(t, s)
	node.waitOpened(t)
	mu.Lock()
	defer mu.Unlock()
	if len(dials) != 6 {
		t.Fatalf("%d attempts; want 5 failed and 1 stream", len(dials))
	}
	// Delay i is drawn from [d/2, d) with d = 20 ms × 2^i.
	for i, lower := range []time.Duration{10, 20, 40, 80, 160} {
		if gap := dials[i+1].Sub(dials[i]); gap < lower*time.Millisecond {
			t.Errorf("attempt %d came %v after the previous one; the backoff requires at least %v", i+2, gap, lower*time.Millisecond)
		}
	}
}

// A scheduler that keeps failing after the node was streaming is backed
// off from, the delays growing: the reset of an opened stream does not
// make a hot loop of a scheduler outage.
func TestSchedulerDownAfterStreamBacksOff(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1"}
	h := RequestHandlerFunc(func(context.Context, Request) Response { return Response{Raw: msg(100)} })
	s := newTestStreamer(t, node, sched, h, func(c *Config) {
		c.BackoffInitial = 20 * time.Millisecond
		c.BackoffMax = 640 * time.Millisecond
	})
	runStreamer(t, s)
	node.waitOpened(t)
	unavailable := status.Error(codes.Unavailable, "scheduler down")
	sched.mu.Lock()
	sched.errs = []error{unavailable, unavailable, unavailable, unavailable, unavailable, unavailable}
	sched.mu.Unlock()
	node.drop()
	node.waitOpened(t)
	calls := sched.callTimes()
	if len(calls) != 8 {
		t.Fatalf("%d GetNodeInfo calls; want 1, 6 failures and 1 more", len(calls))
	}
	// calls[1] is the first after the stream; the delays after each
	// failure are drawn from [d/2, d) with d = 40 ms × 2^i.
	for i, lower := range []time.Duration{20, 40, 80, 160, 320} {
		if gap := calls[i+2].Sub(calls[i+1]); gap < lower*time.Millisecond {
			t.Errorf("GetNodeInfo call %d came %v after the previous one; the backoff requires at least %v", i+2, gap, lower*time.Millisecond)
		}
	}
}

// A scheduler error is retried with backoff, never in a hot loop, and
// never ends Run.
func TestSchedulerErrorsRetried(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	unavailable := status.Error(codes.Unavailable, "scheduler restarting")
	sched := &fakeScheduler{uri: "https://node.example:1", errs: []error{unavailable, unavailable, unavailable}}
	h := RequestHandlerFunc(func(context.Context, Request) Response { return Response{Raw: msg(100)} })
	s := newTestStreamer(t, node, sched, h, func(c *Config) { c.BackoffInitial = 30 * time.Millisecond })
	runStreamer(t, s)
	node.waitOpened(t)
	calls := sched.callTimes()
	if len(calls) != 4 {
		t.Fatalf("%d GetNodeInfo calls; want 3 failures and 1 success", len(calls))
	}
	if total := calls[3].Sub(calls[0]); total < (15+30+60)*time.Millisecond {
		t.Errorf("three retries took %v; the backoff requires at least 105 ms", total)
	}
	if st := s.Stats(); !strings.Contains(st.LastError, "scheduler restarting") {
		t.Errorf("LastError = %q", st.LastError)
	}
}

func TestIdentityErrorEndsRun(t *testing.T) {
	checkLeaks(t)
	for _, err := range []error{
		status.Error(codes.PermissionDenied, "not your node"),
		status.Error(codes.Unauthenticated, "who are you"),
		status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`),
		fmt.Errorf("scheduler GetNodeInfo: %w", status.Error(codes.Unavailable, "error reading server preface: remote error: tls: bad certificate")),
	} {
		sched := &fakeScheduler{errs: []error{err}}
		s, nerr := New(Config{NodeID: testNodeID, Scheduler: sched, DialNode: serveFake(t, newFakeNode()),
			Handler: RequestHandlerFunc(func(context.Context, Request) Response { return Response{} })})
		if nerr != nil {
			t.Fatal(nerr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rerr := s.Run(ctx)
		cancel()
		var ie *IdentityError
		if !errors.As(rerr, &ie) {
			t.Errorf("%v: Run returned %v; want an *IdentityError", err, rerr)
		}
		if st := s.Stats(); st.State != StateStopped {
			t.Errorf("state after Run = %s", st.State)
		}
	}
}

func TestUpgradeBeforeWaiting(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1",
		upgrade: []error{status.Error(codes.Unavailable, "down"), nil}}
	h := RequestHandlerFunc(func(context.Context, Request) Response { return Response{Raw: msg(100)} })
	s := newTestStreamer(t, node, sched, h, func(c *Config) {
		c.Upgrade = &schedpb.UpgradeRequest{SignerVersion: "v26.06"}
	})
	runStreamer(t, s)
	node.waitOpened(t)
	sched.mu.Lock()
	defer sched.mu.Unlock()
	if sched.upCalls != 2 {
		t.Errorf("MaybeUpgrade called %d times; want 2 (one Unavailable, one success)", sched.upCalls)
	}

	// Any error other than Unavailable ends Run.
	sched2 := &fakeScheduler{upgrade: []error{status.Error(codes.InvalidArgument, "bad startup messages")}}
	s2, err := New(Config{NodeID: testNodeID, Scheduler: sched2, DialNode: serveFake(t, newFakeNode()), Handler: h,
		Upgrade: &schedpb.UpgradeRequest{SignerVersion: "v26.06"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "bad startup messages") {
		t.Errorf("Run = %v; want the MaybeUpgrade refusal", err)
	}
	if len(sched2.callTimes()) != 0 {
		t.Error("GetNodeInfo was called after MaybeUpgrade failed")
	}
}

// Cancelling Run while a handler is busy and requests are queued returns
// promptly and leaves nothing running.
func TestCancelWhileBusy(t *testing.T) {
	checkLeaks(t)
	node := newFakeNode()
	sched := &fakeScheduler{uri: "https://node.example:1"}
	started := make(chan struct{}, 10)
	h := RequestHandlerFunc(func(ctx context.Context, r Request) Response {
		started <- struct{}{}
		<-ctx.Done()
		return Response{Err: ctx.Err()}
	})
	s := newTestStreamer(t, node, sched, h, func(c *Config) { c.QueueDepth = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	node.waitOpened(t)
	for id := uint32(1); id <= 6; id++ {
		node.requests <- &glpb.HsmRequest{RequestId: id, Raw: msg(5)}
	}
	<-started
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if st := s.Stats(); st.Handling != 0 || st.State != StateStopped {
		t.Errorf("after Run: %+v", st)
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	h := RequestHandlerFunc(func(context.Context, Request) Response { return Response{} })
	sched := &fakeScheduler{}
	tlsConf := &tlsConfigStub
	for name, cfg := range map[string]Config{
		"no node id":   {Scheduler: sched, Handler: h, NodeTLS: tlsConf},
		"no scheduler": {NodeID: testNodeID, Handler: h, NodeTLS: tlsConf},
		"no handler":   {NodeID: testNodeID, Scheduler: sched, NodeTLS: tlsConf},
		"no identity":  {NodeID: testNodeID, Scheduler: sched, Handler: h},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	b := newBackoff(100*time.Millisecond, 400*time.Millisecond)
	for round := 0; round < 2; round++ {
		for i, d := range []time.Duration{100, 200, 400, 400, 400} {
			d *= time.Millisecond
			got := b.next()
			if got < d/2 || got >= d {
				t.Errorf("round %d delay %d = %v; want in [%v, %v)", round, i, got, d/2, d)
			}
		}
		b.reset()
	}
}

type refusingNode struct {
	glpb.UnimplementedNodeServer
	mu    sync.Mutex
	tries int
}

func (n *refusingNode) StreamHsmRequests(*glpb.Empty, glpb.Node_StreamHsmRequestsServer) error {
	n.mu.Lock()
	n.tries++
	n.mu.Unlock()
	return status.Error(codes.PermissionDenied, "not a device of this node")
}

// A node that refuses our identity is retried a few times (the address
// may be stale) and then Run gives up with an *IdentityError.
func TestNodeIdentityRefusalRetriedThenFatal(t *testing.T) {
	checkLeaks(t)
	node := &refusingNode{}
	s, err := New(Config{NodeID: testNodeID, Scheduler: &fakeScheduler{uri: "https://node.example:1"},
		DialNode: serveFake(t, node), NodeIdentityRetries: 2,
		BackoffInitial: 5 * time.Millisecond, BackoffMax: 10 * time.Millisecond,
		Handler: RequestHandlerFunc(func(context.Context, Request) Response { return Response{} })})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = s.Run(ctx)
	var ie *IdentityError
	if !errors.As(err, &ie) || status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Run = %v; want an *IdentityError wrapping PermissionDenied", err)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.tries != 3 {
		t.Errorf("the node was tried %d times; want 1 + 2 retries", node.tries)
	}
}
