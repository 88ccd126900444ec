package glemu_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"gl-signerd/internal/glemu"
	"gl-signerd/streamer"
	glpb "gl-signerd/streamer/pb/greenlight"
	schedpb "gl-signerd/streamer/pb/scheduler"
)

// register -> schedule -> stream -> request/response, with a refusal
// reported along the way.
func TestRegisterScheduleStreamRoundTrip(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{})
	signer := newSigner(t)
	dev, conf, sched := register(t, emu, signer)

	// The device certificate is a chain signed from our CSR.
	info, err := streamer.ParseCertInfo(dev.Cert)
	if err != nil || info.NodeID != signer.NodeID() || info.Device != "default" {
		t.Fatalf("device certificate: %+v, %v", info, err)
	}
	if n := bytes.Count(dev.Cert, []byte("BEGIN CERTIFICATE")); n != 3 {
		t.Errorf("device certificate file holds %d certificates; want leaf + node CA + users CA", n)
	}
	node := emu.Node(signer.NodeID())
	if node == nil || node.Network() != "regtest" || node.SignerVersion() != "v26.06" || !bytes.Equal(node.InitMsg(), testRegistration.InitMsg) {
		t.Fatalf("registered node: %+v", node)
	}
	if node.URI() != "" {
		t.Fatal("a node is scheduled before anyone asked")
	}

	ctx := ctxT(t, 10*time.Second)
	ni, err := sched.Schedule(ctx, dev.NodeID[:])
	if err != nil || !strings.HasPrefix(ni.GetGrpcUri(), "https://127.0.0.1:") || ni.GetSessionId() != 1 {
		t.Fatalf("Schedule = %v, %v", ni, err)
	}

	h := func(ctx context.Context, r streamer.Request) streamer.Response {
		if r.Type() == 23 {
			return streamer.Response{Err: errors.New("policy-sign-message: not from the node")}
		}
		return echo(ctx, r)
	}
	s := runStreamer(t, streamer.Config{
		NodeID: signer.NodeID(), Scheduler: sched, NodeTLS: conf,
		Handler: streamer.RequestHandlerFunc(h), GitVersion: "glemu-test",
	})

	node.SetSignerState([]*glpb.SignerStateEntry{{Key: "seeded", Version: 1, Value: []byte("x")}})
	peer := bytes.Repeat([]byte{0x02}, 33)
	resp := submit(t, node, &glpb.HsmRequest{
		Raw:     msg(27, 0, 3, 'a', 'b', 'c'),
		Context: &glpb.HsmRequestContext{NodeId: peer, Dbid: 4, Capabilities: 1},
	})
	if resp.GetRequestId() != 1000 || !bytes.Equal(resp.GetRaw(), msg(127, 0, 3, 'a', 'b', 'c')) || resp.GetError() != "" {
		t.Fatalf("response = %v", resp)
	}
	st := node.SignerState()
	if len(st) != 2 || st[0].GetKey() != "last" || st[0].GetVersion() != 1000 || st[1].GetKey() != "seeded" {
		t.Errorf("node signer state = %v; want the seeded entry and the handler's", st)
	}

	refused := submit(t, node, &glpb.HsmRequest{Raw: msg(23, 0, 1, 'x')})
	if refused.GetRequestId() != 1001 || !strings.Contains(refused.GetError(), "policy-sign-message") || len(refused.GetRaw()) != 0 {
		t.Errorf("refusal = %v", refused)
	}
	waitFor(t, "the rejection report", func() bool { return len(emu.Rejections()) == 1 })
	rej := emu.Rejections()[0]
	if rej.GetRequest().GetRequestId() != 1001 || !bytes.Equal(rej.GetNodeId(), dev.NodeID[:]) || rej.GetGitVersion() != "glemu-test" {
		t.Errorf("rejection = %v", rej)
	}

	ns := node.Stats()
	if ns.Submitted != 2 || ns.Answered != 2 || ns.Refused != 1 || ns.Heartbeats != 1 || ns.Pending != 0 || ns.ActiveStreams != 1 {
		t.Errorf("node stats = %+v", ns)
	}
	if ss := s.Stats(); ss.State != streamer.StateStreaming || ss.Heartbeats != 1 || ss.Refusals != 1 {
		t.Errorf("streamer stats = %+v", ss)
	}
}

// The node is preempted with a request in the signer's hands; the signer
// waits, finds the node at its new address, gets the request replayed and
// answers it once.
func TestPreemptAndReschedule(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{AutoSchedule: true})
	signer := newSigner(t)
	_, conf, sched := register(t, emu, signer)
	node := emu.Node(signer.NodeID())
	oldURI := node.URI()
	if oldURI == "" {
		t.Fatal("AutoSchedule did not schedule the node")
	}

	seen := make(chan struct{}, 10)
	var mu sync.Mutex
	calls := 0
	h := func(ctx context.Context, r streamer.Request) streamer.Response {
		if r.Type() == 99 {
			mu.Lock()
			calls++
			first := calls == 1
			mu.Unlock()
			seen <- struct{}{}
			if first { // hold it until the stream dies
				<-ctx.Done()
				return streamer.Response{Err: ctx.Err()}
			}
		}
		return echo(ctx, r)
	}
	s := runStreamer(t, streamer.Config{NodeID: signer.NodeID(), Scheduler: sched, NodeTLS: conf,
		Handler: streamer.RequestHandlerFunc(h)})

	if r := submit(t, node, &glpb.HsmRequest{Raw: msg(1)}); r.GetError() != "" {
		t.Fatal(r.GetError())
	}
	done := make(chan *glpb.HsmResponse, 1)
	go func() {
		resp, err := node.Submit(ctxT(t, 20*time.Second), &glpb.HsmRequest{Raw: msg(99, 7)})
		if err != nil {
			t.Errorf("Submit: %v", err)
		}
		done <- resp
	}()
	<-seen
	node.Preempt()
	waitFor(t, "the streamer to notice", func() bool {
		st := s.Stats().State
		return st == streamer.StateWaiting || st == streamer.StateBackoff
	})
	if node.URI() != "" {
		t.Fatal("a preempted node still has an address")
	}
	newURI, err := node.Reschedule()
	if err != nil || newURI == oldURI {
		t.Fatalf("Reschedule = %q, %v; want a new address (old %q)", newURI, err, oldURI)
	}
	var resp *glpb.HsmResponse
	select {
	case resp = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the replayed request was never answered")
	}
	if resp == nil || resp.GetError() != "" || !bytes.Equal(resp.GetRaw(), msg(199, 7)) {
		t.Fatalf("replayed request answered with %v", resp)
	}
	ns := node.Stats()
	if ns.Streams != 2 || ns.Preemptions != 1 || ns.Answered != 2 || ns.Replayed != 1 || ns.Duplicates != 0 || ns.SessionID != 2 {
		t.Errorf("node stats = %+v", ns)
	}
	if ss := s.Stats(); ss.Connects != 2 || ss.NodeURI != newURI {
		t.Errorf("streamer stats = %+v", ss)
	}
}

// GetNodeInfo(wait=true) blocks until the node is scheduled; without wait
// it answers at once with no address.
func TestGetNodeInfoWait(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{})
	signer := newSigner(t)
	dev, _, sched := register(t, emu, signer)

	ni, err := sched.GetNodeInfo(ctxT(t, 5*time.Second), dev.NodeID[:], false)
	if err != nil || ni.GetGrpcUri() != "" {
		t.Fatalf("GetNodeInfo(wait=false) = %v, %v; want no address", ni, err)
	}

	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err = sched.GetNodeInfo(short, dev.NodeID[:], true)
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("GetNodeInfo(wait=true) on an unscheduled node = %v; want it to block until the deadline", err)
	}

	got := make(chan *schedpb.NodeInfoResponse, 1)
	go func() {
		ni, err := sched.GetNodeInfo(ctxT(t, 10*time.Second), dev.NodeID[:], true)
		if err != nil {
			t.Errorf("GetNodeInfo(wait=true): %v", err)
		}
		got <- ni
	}()
	select {
	case ni := <-got:
		t.Fatalf("GetNodeInfo(wait=true) returned %v before the node was scheduled", ni)
	case <-time.After(200 * time.Millisecond):
	}
	uri, err := emu.Node(signer.NodeID()).Schedule()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ni := <-got:
		if ni.GetGrpcUri() != uri {
			t.Errorf("GetNodeInfo returned %q; want %q", ni.GetGrpcUri(), uri)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("GetNodeInfo(wait=true) did not return after scheduling")
	}
}

// Each request id is applied once: a repeated or made-up answer is
// counted, not delivered again.
func TestExactlyOnce(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{AutoSchedule: true})
	signer := newSigner(t)
	_, conf, sched := register(t, emu, signer)
	node := emu.Node(signer.NodeID())

	var once sync.Once
	respondAgain := make(chan streamer.Request, 1)
	h := func(ctx context.Context, r streamer.Request) streamer.Response {
		once.Do(func() { respondAgain <- r })
		return echo(ctx, r)
	}
	runStreamer(t, streamer.Config{NodeID: signer.NodeID(), Scheduler: sched, NodeTLS: conf,
		Handler: streamer.RequestHandlerFunc(h)})
	if r := submit(t, node, &glpb.HsmRequest{Raw: msg(1, 1)}); r.GetRequestId() != 1000 {
		t.Fatalf("first response %v", r)
	}

	// A second signer connection answers 1000 again and an id never issued.
	node2 := nodeClient(t, emu, node.URI(), conf)
	for _, r := range []*glpb.HsmResponse{
		{RequestId: 1000, Raw: msg(101, 9)}, {RequestId: 1000, Raw: msg(101, 1)}, {RequestId: 4242, Raw: msg(101, 9)},
	} {
		if _, err := node2.RespondHsmRequest(ctxT(t, 5*time.Second), r); err != nil {
			t.Fatal(err)
		}
	}
	ns := node.Stats()
	if ns.Answered != 1 || ns.Duplicates != 2 || ns.DuplicatesDiffering != 1 || ns.Unknown != 1 {
		t.Errorf("node stats = %+v; want 1 answered, 2 duplicates (1 differing), 1 unknown", ns)
	}
	if r := submit(t, node, &glpb.HsmRequest{Raw: msg(2)}); r.GetRequestId() != 1001 || !bytes.Equal(r.GetRaw(), msg(102)) {
		t.Errorf("next request answered with %v", r)
	}
}

// Greenlight leaves a refused request pending and replays it to the next
// signer; with KeepRefusedPending the emulator does the same.
func TestKeepRefusedPending(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{AutoSchedule: true, KeepRefusedPending: true})
	signer := newSigner(t)
	_, conf, sched := register(t, emu, signer)
	node := emu.Node(signer.NodeID())

	var mu sync.Mutex
	refuse := true
	h := func(ctx context.Context, r streamer.Request) streamer.Response {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return streamer.Response{Err: errors.New("not yet")}
		}
		return echo(ctx, r)
	}
	runStreamer(t, streamer.Config{NodeID: signer.NodeID(), Scheduler: sched, NodeTLS: conf,
		Handler: streamer.RequestHandlerFunc(h)})
	done := make(chan *glpb.HsmResponse, 1)
	go func() {
		r, err := node.Submit(ctxT(t, 20*time.Second), &glpb.HsmRequest{Raw: msg(5)})
		if err != nil {
			t.Errorf("Submit: %v", err)
		}
		done <- r
	}()
	waitFor(t, "the refusal", func() bool { return node.Stats().Refused == 1 })
	if ns := node.Stats(); ns.Pending != 1 {
		t.Fatalf("after a refusal: %+v; want the request still pending", ns)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	if _, err := node.Reschedule(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.GetError() != "" || !bytes.Equal(r.GetRaw(), msg(105)) {
			t.Errorf("replayed request answered with %v", r)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the refused request was not replayed")
	}
}

// Identities that must be refused: a scheduler we do not trust, another
// node's device certificate, an expired one, and the nobody certificate
// where a device is needed (or a device where nobody is needed).
func TestIdentityRefusals(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{AutoSchedule: true})
	a, b := newSigner(t), newSigner(t)
	devA, confA, schedA := register(t, emu, a)
	devB, _, _ := register(t, emu, b)
	ca := read(t, emu.CAPath())
	ctx := ctxT(t, 20*time.Second)

	t.Run("wrong CA", func(t *testing.T) {
		other := startEmu(t, glemu.Options{})
		conf := tlsFor(t, read(t, other.CAPath()), devA.Cert, devA.Key)
		_, err := dial(t, emu, conf).GetNodeInfo(ctx, devA.NodeID[:], false)
		if err == nil || !strings.Contains(err.Error(), "x509") {
			t.Errorf("GetNodeInfo trusting another CA = %v; want a certificate verification error", err)
		}
		assertRunRefused(t, streamer.Config{NodeID: a.NodeID(), Scheduler: dial(t, emu, conf), NodeTLS: conf})
	})

	t.Run("certificate from another CA", func(t *testing.T) {
		other := startEmu(t, glemu.Options{})
		cert, key, err := other.IssueCert(streamer.DeviceCN(a.NodeID(), "forged"), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		conf := tlsFor(t, ca, cert, key)
		_, err = dial(t, emu, conf).GetNodeInfo(ctx, devA.NodeID[:], false)
		if err == nil {
			t.Error("the scheduler accepted a certificate from a foreign CA")
		}
		assertRunRefused(t, streamer.Config{NodeID: a.NodeID(), Scheduler: dial(t, emu, conf), NodeTLS: conf})
	})

	t.Run("another node's certificate", func(t *testing.T) {
		_, err := schedA.GetNodeInfo(ctx, devB.NodeID[:], false)
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("GetNodeInfo for B with A's certificate = %v; want PermissionDenied", err)
		}
		stream, err := nodeClient(t, emu, emu.Node(b.NodeID()).URI(), confA).StreamHsmRequests(ctx, &glpb.Empty{})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("streaming B's requests with A's certificate = %v; want PermissionDenied", err)
		}
		// A scheduler that hands out B's address to A's signer does not
		// get A's signer onto B's node either.
		assertRunRefused(t, streamer.Config{NodeID: b.NodeID(), Scheduler: fixedLocator(emu.Node(b.NodeID()).URI()), NodeTLS: confA})
	})

	t.Run("expired certificate", func(t *testing.T) {
		cert, key, err := emu.IssueCert(streamer.DeviceCN(a.NodeID(), "old"), time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		conf := tlsFor(t, ca, cert, key)
		if _, err := dial(t, emu, conf).GetNodeInfo(ctx, devA.NodeID[:], false); err == nil {
			t.Error("the scheduler accepted an expired certificate")
		}
		assertRunRefused(t, streamer.Config{NodeID: a.NodeID(), Scheduler: fixedLocator(emu.Node(a.NodeID()).URI()), NodeTLS: conf})
	})

	t.Run("nobody on node calls", func(t *testing.T) {
		_, err := nobody(t, emu).GetNodeInfo(ctx, devA.NodeID[:], false)
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("GetNodeInfo as nobody = %v; want PermissionDenied", err)
		}
	})

	t.Run("device registering", func(t *testing.T) {
		c := newSigner(t)
		_, err := streamer.Register(ctx, schedA, c, testRegistration)
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("Register with a device certificate = %v; want PermissionDenied", err)
		}
		if _, err := streamer.Recover(ctx, schedA, a); status.Code(err) != codes.PermissionDenied {
			t.Errorf("Recover with a device certificate = %v; want PermissionDenied", err)
		}
	})
}

// assertRunRefused checks that a streamer with cfg stops with an
// *IdentityError rather than retrying.
func assertRunRefused(t *testing.T, cfg streamer.Config) {
	t.Helper()
	cfg.Handler = streamer.RequestHandlerFunc(echo)
	cfg.BackoffInitial, cfg.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	s, err := streamer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(ctxT(t, 10*time.Second))
	var ie *streamer.IdentityError
	if !errors.As(err, &ie) {
		t.Errorf("Run = %v; want an *IdentityError", err)
	}
}

type fixedLocator string

func (f fixedLocator) GetNodeInfo(_ context.Context, id []byte, _ bool) (*schedpb.NodeInfoResponse, error) {
	return &schedpb.NodeInfoResponse{NodeId: id, GrpcUri: string(f)}, nil
}

// The challenge is one-time, scoped, bound to the node, expiring, and
// must be signed by the node key; the CSR must name the node.
func TestRegistrationChecks(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{ChallengeTTL: 300 * time.Millisecond})
	sc := nobody(t, emu)
	ctx := ctxT(t, 20*time.Second)
	s := newSigner(t)
	id := s.NodeID()
	csr, _, err := streamer.NewDeviceCSR(id, "default")
	if err != nil {
		t.Fatal(err)
	}
	challenge := func(scope schedpb.ChallengeScope, node [33]byte) []byte {
		c, err := sc.GetChallenge(ctx, scope, node[:])
		if err != nil || len(c) != 32 {
			t.Fatalf("GetChallenge = %x, %v", c, err)
		}
		return c
	}
	sign := func(k glemu.KeySigner, c []byte) []byte {
		sig, err := k.SignChallenge(c)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	req := func(c, sig, csr []byte) *schedpb.RegistrationRequest {
		return &schedpb.RegistrationRequest{NodeId: id[:], Network: "regtest", Challenge: c, Signature: sig, Csr: csr}
	}
	other := newSigner(t)
	otherCSR, _, _ := streamer.NewDeviceCSR(other.NodeID(), "default")

	c := challenge(schedpb.ChallengeScope_REGISTER, id)
	if _, err := sc.Register(ctx, req(c, sign(other, c), csr)); status.Code(err) != codes.PermissionDenied {
		t.Errorf("signature by another key: %v; want PermissionDenied", err)
	}
	if _, err := sc.Register(ctx, req(c, sign(s, c), csr)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("reused challenge: %v; want InvalidArgument", err)
	}
	c = challenge(schedpb.ChallengeScope_RECOVER, id)
	if _, err := sc.Register(ctx, req(c, sign(s, c), csr)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("RECOVER challenge used to register: %v; want InvalidArgument", err)
	}
	c = challenge(schedpb.ChallengeScope_REGISTER, other.NodeID())
	if _, err := sc.Register(ctx, req(c, sign(s, c), csr)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("challenge issued for another node: %v; want InvalidArgument", err)
	}
	c = challenge(schedpb.ChallengeScope_REGISTER, id)
	if _, err := sc.Register(ctx, req(c, sign(s, c), otherCSR)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("CSR naming another node: %v; want InvalidArgument", err)
	}
	c = challenge(schedpb.ChallengeScope_REGISTER, id)
	time.Sleep(400 * time.Millisecond)
	if _, err := sc.Register(ctx, req(c, sign(s, c), csr)); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired challenge: %v; want InvalidArgument (expired)", err)
	}
	if emu.Node(id) != nil {
		t.Fatal("a refused registration registered the node")
	}

	c = challenge(schedpb.ChallengeScope_REGISTER, id)
	if _, err := sc.Register(ctx, req(c, sign(s, c), csr)); err != nil {
		t.Fatalf("a correct registration: %v", err)
	}
	if _, err := streamer.Register(ctx, sc, s, testRegistration); status.Code(err) != codes.AlreadyExists {
		t.Errorf("registering twice: %v; want AlreadyExists", err)
	}
	if _, err := streamer.Recover(ctx, sc, other); status.Code(err) != codes.NotFound {
		t.Errorf("recovering an unknown node: %v; want NotFound", err)
	}

	// Recover gives a new, working device certificate.
	dev, err := streamer.Recover(ctx, sc, s)
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if !strings.HasPrefix(dev.Name, "recovered-") {
		t.Errorf("recovered device name %q", dev.Name)
	}
	info, _ := streamer.ParseCertInfo(dev.Cert)
	if info.Device != dev.Name || info.NodeID != id {
		t.Errorf("recovered certificate: %+v", info)
	}
	rc := dial(t, emu, tlsFor(t, read(t, emu.CAPath()), dev.Cert, dev.Key))
	if _, err := rc.GetNodeInfo(ctx, id[:], false); err != nil {
		t.Errorf("GetNodeInfo with the recovered certificate: %v", err)
	}
}

func TestMaybeUpgrade(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{AutoSchedule: true})
	s := newSigner(t)
	_, conf, sched := register(t, emu, s)
	msgs := []*schedpb.StartupMessage{{Request: msg(11), Response: msg(114, 1)}, {Request: msg(27, 0, 1, 'a'), Response: msg(127, 9)}}
	st := runStreamer(t, streamer.Config{NodeID: s.NodeID(), Scheduler: sched, NodeTLS: conf, Handler: streamer.RequestHandlerFunc(echo),
		Upgrade: &schedpb.UpgradeRequest{SignerVersion: "v26.09", Startupmsgs: msgs}})
	node := emu.Node(s.NodeID())
	if err := node.WaitForSigner(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if node.SignerVersion() != "v26.09" {
		t.Errorf("signer version after MaybeUpgrade = %q", node.SignerVersion())
	}
	got := node.StartupMessages()
	if len(got) != 2 || !bytes.Equal(got[1].GetResponse(), msg(127, 9)) {
		t.Errorf("stashed startup messages = %v", got)
	}
	_ = st
	res, err := sched.MaybeUpgrade(ctxT(t, 5*time.Second), &schedpb.UpgradeRequest{SignerVersion: "v26.12"})
	if err != nil || res.GetOldVersion() != "v26.09" {
		t.Errorf("MaybeUpgrade = %v, %v; want old version v26.09", res, err)
	}
	if _, err := nobody(t, emu).MaybeUpgrade(ctxT(t, 5*time.Second), &schedpb.UpgradeRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("MaybeUpgrade as nobody = %v; want PermissionDenied", err)
	}
}

func TestFilesAndEnv(t *testing.T) {
	checkLeaks(t)
	emu, err := glemu.Start(context.Background(), glemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(emu.Env(), "\n")
	for _, want := range []string{
		"GL_SCHEDULER_GRPC_URI=" + emu.SchedulerURI(), "GL_CA_CRT=" + emu.CAPath(),
		"GL_NOBODY_CRT=" + emu.NobodyCertPath(), "GL_NOBODY_KEY=" + emu.NobodyKeyPath(),
	} {
		if !strings.Contains(env, want) {
			t.Errorf("Env lacks %s", want)
		}
	}
	block, _ := pem.Decode(read(t, emu.CAPath()))
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !root.IsCA {
		t.Fatalf("ca.pem: %v", err)
	}
	info, err := streamer.ParseCertInfo(read(t, emu.NobodyCertPath()))
	if err != nil || info.CommonName != "/users/nobody" {
		t.Errorf("nobody certificate: %+v, %v", info, err)
	}
	if fi, err := os.Stat(emu.NobodyKeyPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("nobody key file: %v, %v", fi, err)
	}
	dir := emu.Dir()
	if err := emu.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Close left %s behind", dir)
	}
}

// The challenge signature is checked as Greenlight checks it.
func TestVerifyChallengeSignature(t *testing.T) {
	s := newSigner(t)
	c := bytes.Repeat([]byte{7}, 32)
	sig, err := s.SignChallenge(c)
	if err != nil || len(sig) != 64 {
		t.Fatalf("SignChallenge = %x, %v", sig, err)
	}
	if err := glemu.VerifyChallengeSignature(s.NodeID(), c, sig); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	bad := append([]byte(nil), sig...)
	bad[10] ^= 1
	other := newSigner(t)
	for name, tc := range map[string]struct {
		id  [33]byte
		c   []byte
		sig []byte
	}{
		"flipped bit":   {s.NodeID(), c, bad},
		"other key":     {other.NodeID(), c, sig},
		"other message": {s.NodeID(), bytes.Repeat([]byte{8}, 32), sig},
		"65 bytes":      {s.NodeID(), c, append(sig, 1)},
		"zero r":        {s.NodeID(), c, append(make([]byte, 32), sig[32:]...)},
	} {
		if glemu.VerifyChallengeSignature(tc.id, tc.c, tc.sig) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Known answer, computed independently (Python hashlib):
	// SHA256(SHA256("Lightning Signed Message:hello")).
	h := glemu.SignedMessageHash([]byte("hello"))
	if got := hex.EncodeToString(h[:]); got != "439434dbc13e56e78b165f27bd05c76953c873c6fa0c8b71966336d502ae5da5" {
		t.Errorf("SignedMessageHash(hello) = %s", got)
	}
}

// Close stops the nodes and releases a Submit no signer will answer.
func TestCloseReleasesSubmit(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{AutoSchedule: true})
	s := newSigner(t)
	register(t, emu, s)
	node := emu.Node(s.NodeID())
	errc := make(chan error, 1)
	go func() {
		_, err := node.Submit(context.Background(), &glpb.HsmRequest{Raw: msg(1)})
		errc <- err
	}()
	waitFor(t, "the request to be pending", func() bool { return node.Stats().Pending == 1 })
	if err := emu.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("Submit after Close = %v; want the emulator-closed error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Submit still blocked after Close")
	}
	if st := node.Stats(); st.Scheduled || st.Abandoned != 1 {
		t.Errorf("after Close: %+v", st)
	}
	if _, err := node.Schedule(); err == nil {
		t.Error("a closed emulator scheduled a node")
	}
}

// CutStreams ends the signer's stream without moving the node: the signer
// comes back to the same address, and a request held by the cut stream is
// replayed and answered once.
func TestCutStreams(t *testing.T) {
	checkLeaks(t)
	emu := startEmu(t, glemu.Options{AutoSchedule: true})
	signer := newSigner(t)
	_, conf, sched := register(t, emu, signer)
	node := emu.Node(signer.NodeID())
	uri := node.URI()

	hold := make(chan struct{})
	var held sync.Once
	h := func(ctx context.Context, r streamer.Request) streamer.Response {
		if r.Type() == 7 {
			held.Do(func() { <-hold }) // the first delivery waits for the cut
		}
		return echo(ctx, r)
	}
	runStreamer(t, streamer.Config{NodeID: signer.NodeID(), Scheduler: sched, NodeTLS: conf,
		Handler: streamer.RequestHandlerFunc(h)})
	if err := node.WaitForSigner(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	done := make(chan *glpb.HsmResponse, 1)
	go func() { done <- submit(t, node, &glpb.HsmRequest{Raw: msg(7, 1)}) }()
	waitFor(t, "the request to be sent", func() bool { return node.Stats().Sent == 1 })
	before := node.Stats().Streams
	if n := node.CutStreams(); n != 1 {
		t.Fatalf("CutStreams cut %d streams, want 1", n)
	}
	close(hold)
	if err := node.WaitForStream(ctxT(t, 10*time.Second), before); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if !bytes.Equal(r.GetRaw(), msg(107, 1)) {
		t.Errorf("response %v", r)
	}
	ns := node.Stats()
	if ns.Cuts != 1 || ns.Preemptions != 0 || node.URI() != uri || ns.Answered != 1 || ns.Pending != 0 {
		t.Errorf("node stats %+v, uri %s (was %s)", ns, node.URI(), uri)
	}
	if n := node.CutStreams(); n != 1 {
		t.Errorf("the signer did not come back (%d streams cut)", n)
	}
}
