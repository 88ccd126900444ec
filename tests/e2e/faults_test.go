package e2e

// Fault tests: the real binary under channel traffic while the node is
// preempted, its streams cut, the scheduler flaps, the daemon is killed,
// and the node sends garbage. Every answer the node gets is checked by the
// traffic generator (signatures, script engine) and compared byte for byte
// with an in-process engine holding the same seed.
//
// Counts are the real ones (20 preemptions, 1,000 stream cuts, 100
// SIGKILLs); -short runs fewer. Measured on two cores without -race, the
// file takes about 90 s: stream cuts 42 s, scheduler flapping 20 s,
// preemptions 2 s (15 s before the backoff started over on an opened
// stream), SIGKILLs 8 s, the rest under a second each.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/control"
	"gl-signerd/internal/glemu"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// count is n, or short under -short.
func count(n, short int) int {
	if testing.Short() {
		return short
	}
	return n
}

// The node is preempted and rescheduled at a new address 20 times while
// four channels are busy: the signer follows each time, every request is
// answered once and correctly, and nothing is left pending.
func TestFaultPreemptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, glemu.Options{})
	// The default backoff (500 ms to 30 s): a moved node is reattached at
	// once, so each move costs well under a second.
	d := f.start()
	f.attached(d, 0, 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g := f.generator(1, nil)
	l := startLoad(ctx, g, 4, 3)
	n := count(20, 5)
	var worst time.Duration
	for i := 0; i < n; i++ {
		waitProgress(t, g, l, g.Stats().Sent, 20, time.Minute)
		streams := f.node.Stats().Streams
		t0 := time.Now()
		if _, err := f.node.Reschedule(); err != nil {
			t.Fatal(err)
		}
		f.attached(d, streams, 30*time.Second)
		worst = max(worst, time.Since(t0))
	}
	waitProgress(t, g, l, g.Stats().Sent, 20, time.Minute)
	if err := l.finish(); err != nil {
		t.Fatalf("traffic: %v\n%s", err, d.logTail())
	}
	ns := f.node.Stats()
	checkClean(t, g, ns)
	if ns.Preemptions != n {
		t.Errorf("%d preemptions, want %d", ns.Preemptions, n)
	}
	t.Logf("%d preemptions under load: slowest reattach %s; %s; %d lifecycles; node: %d answered, %d replayed sends, %d duplicate answers",
		n, worst.Round(time.Millisecond), g.Stats(), l.done.Load(), ns.Answered, ns.Replayed, ns.Duplicates)
	if worst >= time.Second {
		t.Errorf("the slowest reattach took %s; want under 1 s", worst.Round(time.Millisecond))
	}
	if code := d.stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM\n%s", code, d.logTail())
	}
}

// 1,000 stream cuts under load: each request is answered exactly once
// (the node applies one answer; any duplicate answer is byte-equal to it),
// none is lost, and every answer is the engine's.
func TestFaultStreamCuts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, glemu.Options{})
	d := f.start("GL_SIGNERD_STREAMER_BACKOFF_INITIAL=10ms", "GL_SIGNERD_STREAMER_BACKOFF_MAX=40ms")
	f.attached(d, 0, 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g := f.generator(2, nil)
	l := startLoad(ctx, g, 4, 4)
	n := count(1000, 100)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		// Cut a stream that has carried traffic.
		streams := f.node.Stats().Streams
		waitProgress(t, g, l, g.Stats().Sent, 2, time.Minute)
		if f.node.CutStreams() == 0 {
			i-- // the signer was between streams: try again
		}
		f.attached(d, streams, 30*time.Second)
	}
	took := time.Since(t0)
	waitProgress(t, g, l, g.Stats().Sent, 20, time.Minute)
	if err := l.finish(); err != nil {
		t.Fatalf("traffic: %v\n%s", err, d.logTail())
	}
	ns := f.node.Stats()
	checkClean(t, g, ns)
	if ns.Cuts < n {
		t.Errorf("%d cuts, want %d", ns.Cuts, n)
	}
	t.Logf("%d stream cuts in %s under load; %s; node: %d answered, %d replayed sends, %d duplicate answers (all identical)",
		ns.Cuts, took.Round(time.Millisecond), g.Stats(), ns.Answered, ns.Replayed, ns.Duplicates)
	if code := d.stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM\n%s", code, d.logTail())
	}
}

// The daemon is killed with SIGKILL at random moments under load (100
// times) and started again each time: signing resumes, every request is
// answered once and correctly (requests sent to a dead daemon are replayed
// to the next one), and every answer the node received was in the audit
// log before it was sent.
func TestFaultSIGKILL(t *testing.T) {
	t.Parallel()
	f := newFixture(t, glemu.Options{})
	env := []string{"GL_SIGNERD_STREAMER_BACKOFF_INITIAL=20ms", "GL_SIGNERD_STREAMER_BACKOFF_MAX=200ms"}
	d := f.start(env...)
	f.attached(d, 0, 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a := &acked{}
	g := f.generator(3, a)
	l := startLoad(ctx, g, 4, 3)
	rng := rand.New(rand.NewPCG(3, 3))
	n := count(100, 10)
	var restart time.Duration
	for i := 0; i < n; i++ {
		waitProgress(t, g, l, g.Stats().Sent, 1+uint64(rng.IntN(40)), time.Minute)
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		d.kill()
		if d.code != -int(syscall.SIGKILL) {
			t.Fatalf("the daemon exited with %d before SIGKILL:\n%s", d.code, d.logTail())
		}
		streams := f.node.Stats().Streams
		t0 := time.Now()
		d = f.start(env...)
		f.attached(d, streams, 30*time.Second)
		restart += time.Since(t0)
	}
	waitProgress(t, g, l, g.Stats().Sent, 20, time.Minute)
	if err := l.finish(); err != nil {
		t.Fatalf("traffic: %v\n%s", err, d.logTail())
	}
	ns := f.node.Stats()
	checkClean(t, g, ns)
	if code := d.stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM\n%s", code, d.logTail())
	}

	// Every acknowledged answer is in the audit log, as answered.
	audited := map[uint32]string{}
	for _, r := range readAudit(t, filepath.Join(f.state, "audit.log")) {
		id, _ := r["request_id"].(float64)
		out, _ := r["outcome"].(string)
		if audited[uint32(id)] != "answered" {
			audited[uint32(id)] = out
		}
	}
	a.mu.Lock()
	missing := 0
	for id, ok := range a.ids {
		if ok && audited[id] != "answered" {
			missing++
		}
	}
	acks := len(a.ids)
	a.mu.Unlock()
	if missing > 0 {
		t.Errorf("%d of %d acknowledged answers are not in the audit log", missing, acks)
	}
	t.Logf("%d SIGKILLs under load, mean restart to attached %s; %s; node: %d answered, %d replayed sends, %d duplicate answers; %d audit records",
		n, (restart / time.Duration(n)).Round(time.Millisecond), g.Stats(), ns.Answered, ns.Replayed, ns.Duplicates, len(audited))
}

// SIGTERM while a thousand requests are queued: the daemon answers what
// it received before exiting 0, the rest stays pending at the node and is
// answered by the next daemon; nothing is lost or answered twice.
func TestFaultSIGTERMDrains(t *testing.T) {
	t.Parallel()
	f := newFixture(t, glemu.Options{})
	d := f.start()
	f.attached(d, 0, 30*time.Second)

	const n = 1000
	type result struct {
		resp *glpb.HsmResponse
		err  error
		want []byte
	}
	results := make(chan result, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < n; i++ {
		// Per-commitment points of 10 channels (10 queues in the
		// daemon), in order within each channel.
		c := signer.Client{PeerID: f.nodeID, DBID: uint64(1 + i%10), Capabilities: signer.CapCommitmentPoint}
		raw := (&hsmproto.GetPerCommitmentPoint{N: uint64(i)}).Encode()
		want, err := f.oracle.Handle(ctx, c, raw)
		if err != nil {
			t.Fatal(err)
		}
		rc := &glpb.HsmRequestContext{NodeId: c.PeerID[:], Dbid: c.DBID, Capabilities: c.Capabilities}
		go func() {
			resp, err := f.node.Submit(ctx, &glpb.HsmRequest{Raw: raw, Context: rc})
			results <- result{resp, err, want}
		}()
	}
	// SIGTERM as soon as the daemon is busy with them: waiting for all to
	// be sent gave a daemon answering at 5,000 requests/s time to finish.
	deadline := time.Now().Add(30 * time.Second)
	for s := f.node.Stats(); s.Answered < 20 && s.Sent < n && time.Now().Before(deadline); s = f.node.Stats() {
		time.Sleep(100 * time.Microsecond)
	}
	atTerm := f.node.Stats()
	if code := d.stop(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, d.logTail())
	}
	afterExit := f.node.Stats()
	audited := 0
	for _, r := range readAudit(t, filepath.Join(f.state, "audit.log")) {
		if r["outcome"] == "answered" {
			audited++
		}
	}
	if uint64(audited) != afterExit.Answered {
		t.Errorf("the daemon audited %d answers but the node got %d", audited, afterExit.Answered)
	}
	if atTerm.Answered >= n {
		t.Fatalf("all %d requests were answered before SIGTERM: nothing was in flight", n)
	}
	t.Logf("at SIGTERM: %d sent, %d answered; after exit: %d answered (drained %d), %d left pending",
		atTerm.Sent, atTerm.Answered, afterExit.Answered, afterExit.Answered-atTerm.Answered, afterExit.Pending)

	// The next daemon answers the rest.
	if afterExit.Pending > 0 {
		streams := f.node.Stats().Streams
		d = f.start()
		f.attached(d, streams, 30*time.Second)
	}
	for i := 0; i < n; i++ {
		r := <-results
		if r.err != nil || r.resp.GetError() != "" || !bytes.Equal(r.resp.GetRaw(), r.want) {
			t.Fatalf("request: %v %q", r.err, r.resp.GetError())
		}
	}
	ns := f.node.Stats()
	if ns.Answered != n || ns.Pending != 0 || ns.DuplicatesDiffering != 0 {
		t.Errorf("node: %+v", ns)
	}
	if afterExit.Pending > 0 {
		if code := d.stop(10 * time.Second); code != 0 {
			t.Errorf("second daemon: exit code %d", code)
		}
	}
}

// The scheduler is down when the daemon starts: one clear error, exit 5,
// after a handful of connection attempts. Later it flaps while the daemon
// runs (and the node moves, so the daemon needs it): the daemon retries
// with backoff, never in a hot loop, and signs again once it is back.
func TestFaultSchedulerFlapping(t *testing.T) {
	t.Parallel()
	f := newFixture(t, glemu.Options{})
	proxy := newProxy(t, strings.TrimPrefix(f.emu.SchedulerURI(), "https://"))
	via := "GL_SCHEDULER_GRPC_URI=https://" + proxy.addr()

	// Down at start.
	proxy.setDown(true)
	t0 := time.Now()
	d := f.start(via)
	code := d.wait(30 * time.Second)
	attempts := proxy.attempts.Load()
	if code != 5 {
		t.Fatalf("exit code %d with the scheduler down, want 5\n%s", code, d.logTail())
	}
	if log := d.logTail(); !strings.Contains(log, "scheduler") {
		t.Errorf("the error does not name the scheduler:\n%s", log)
	}
	if attempts < 1 || attempts > 10 {
		t.Errorf("%d connection attempts before giving up, want 1..10", attempts)
	}
	t.Logf("scheduler down at start: exit 5 after %s and %d connection attempts", time.Since(t0).Round(time.Millisecond), attempts)

	// Flapping while running: the default backoff (500 ms, doubling),
	// capped at 4 s instead of 30 s so that each 5 s outage sees a retry.
	proxy.setDown(false)
	d = f.start(via, "GL_SIGNERD_STREAMER_BACKOFF_MAX=4s")
	f.attached(d, f.node.Stats().Streams, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g := f.generator(4, nil)
	l := startLoad(ctx, g, 2, 3)
	const down = 5 * time.Second
	for i := 0; i < count(3, 1); i++ {
		waitProgress(t, g, l, g.Stats().Sent, 20, time.Minute)
		before := proxy.attempts.Load()
		proxy.setDown(true)
		f.node.Preempt()
		time.Sleep(down)
		n := proxy.attempts.Load() - before
		streams := f.node.Stats().Streams
		proxy.setDown(false)
		if _, err := f.node.Schedule(); err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		f.attached(d, streams, 60*time.Second)
		t.Logf("flap %d: %d connection attempts in %s down; back on the node %s after the scheduler returned",
			i+1, n, down, time.Since(t1).Round(time.Millisecond))
		// A hot loop would make thousands; backoff makes a few.
		if n < 1 || n > 15 {
			t.Errorf("flap %d: %d connection attempts in %s, want 1..15", i+1, n, down)
		}
	}
	waitProgress(t, g, l, g.Stats().Sent, 20, time.Minute)
	if err := l.finish(); err != nil {
		t.Fatalf("traffic: %v\n%s", err, d.logTail())
	}
	checkClean(t, g, f.node.Stats())
	if code := d.stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// Identities Greenlight would not accept stop the daemon at start with
// exit 5 and a message that says what to do: a CA that did not sign the
// scheduler's certificate, a device certificate of another node, an
// expired one.
func TestFaultIdentityRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, glemu.Options{})
	var other [33]byte
	copy(other[:], f.nodeID[:])
	other[32] ^= 1
	now := time.Now()
	for _, tc := range []struct {
		name string
		file string // the state-dir file replaced, or "" for tls.ca_cert
		make func(t *testing.T) []byte
		want string
	}{
		{"wrong CA", "", func(t *testing.T) []byte {
			p := filepath.Join(t.TempDir(), "ca.pem")
			writeSelfSignedCA(t, p)
			b, _ := os.ReadFile(p)
			return b
		}, "certificate"},
		{"another node's certificate", "device.crt", func(t *testing.T) []byte {
			c, _, err := f.emu.IssueCert(fmt.Sprintf("/users/%x/default", other), now.Add(-time.Hour), now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, "node"},
		{"expired certificate", "device.crt", func(t *testing.T) []byte {
			c, _, err := f.emu.IssueCert(fmt.Sprintf("/users/%x/default", f.nodeID), now.Add(-2*time.Hour), now.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}, "expire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env []string
			if tc.file == "" {
				path := filepath.Join(t.TempDir(), "ca.pem")
				if err := os.WriteFile(path, tc.make(t), 0o600); err != nil {
					t.Fatal(err)
				}
				env = append(env, "GL_CA_CRT="+path)
			} else {
				path := filepath.Join(f.state, tc.file)
				orig, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				defer os.WriteFile(path, orig, 0o600)
				if err := os.WriteFile(path, tc.make(t), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			d := f.start(env...)
			defer d.kill()
			code := d.wait(30 * time.Second)
			log := d.logTail()
			if code != 5 {
				t.Fatalf("exit code %d, want 5\n%s", code, log)
			}
			if !strings.Contains(strings.ToLower(log), tc.want) {
				t.Errorf("the error does not mention %q:\n%s", tc.want, log)
			}
			t.Logf("%s", log[strings.LastIndex(log, "\n")+1:])
		})
	}
}

// Garbage from the node: each bad request gets an error response (none
// is left unanswered or crashes the daemon), and the daemon keeps
// answering correctly on the same channel.
func TestFaultGarbageFromNode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, glemu.Options{})
	d := f.start()
	f.attached(d, 0, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g := f.generator(5, nil)
	ch, err := g.OpenChannel(ctx, traffic.ChannelOptions{WeFund: true, Anchors: true})
	if err != nil {
		t.Fatal(err)
	}
	peer := ch.PeerID()
	client := signer.Client{PeerID: peer, DBID: ch.DBID(), Capabilities: 447}
	channeld := &glpb.HsmRequestContext{NodeId: peer[:], Dbid: ch.DBID(), Capabilities: client.Capabilities}
	valid := (&hsmproto.GetPerCommitmentPoint{N: 7}).Encode()
	want, err := f.oracle.Handle(ctx, client, valid)
	if err != nil {
		t.Fatal(err)
	}
	big := func(n int) []byte {
		b := make([]byte, n)
		b[0], b[1] = 0x12, 0x34
		return b
	}
	ask := func(req *glpb.HsmRequest) *glpb.HsmResponse {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
		defer scancel()
		resp, err := f.node.Submit(sctx, req)
		if err != nil {
			t.Fatalf("no answer: %v\n%s", err, d.logTail())
		}
		return resp
	}
	for _, tc := range []struct {
		name string
		req  *glpb.HsmRequest
	}{
		{"type only", &glpb.HsmRequest{Raw: []byte{0, 19}, Context: channeld}},
		{"truncated", &glpb.HsmRequest{Raw: valid[:5], Context: channeld}},
		{"truncated, from lightningd", &glpb.HsmRequest{Raw: []byte{0, 28, 0, 0, 0, 1, 2}}},
		{"unknown type 4660", &glpb.HsmRequest{Raw: []byte{0x12, 0x34, 1, 2, 3}, Context: channeld}},
		{"unknown type 65535", &glpb.HsmRequest{Raw: []byte{0xff, 0xff}}},
		{"a reply type", &glpb.HsmRequest{Raw: []byte{0, 118}, Context: channeld}},
		{"hsmd_init from the node", &glpb.HsmRequest{Raw: []byte{0, 11}}},
		{"missing capability", &glpb.HsmRequest{Raw: valid, Context: &glpb.HsmRequestContext{NodeId: peer[:], Dbid: ch.DBID(), Capabilities: 1}}},
		{"oversized, 1 MiB", &glpb.HsmRequest{Raw: big(1 << 20)}},
		{"oversized, 3.5 MiB", &glpb.HsmRequest{Raw: big(3<<20 + 1<<19), Context: channeld}},
		// Above gRPC's default 4 MiB receive limit, and above
		// hsmproto.MaxFrameSize: refused, not a broken stream replayed
		// forever (the streamer receives up to 64 MiB).
		{"oversized, 5 MiB", &glpb.HsmRequest{Raw: big(5 << 20), Context: channeld}},
		{"oversized, 9 MiB", &glpb.HsmRequest{Raw: big(9 << 20)}},
		{"a context whose node id is 3 bytes", &glpb.HsmRequest{Raw: valid, Context: &glpb.HsmRequestContext{NodeId: []byte{1, 2, 3}, Dbid: 1, Capabilities: 447}}},
	} {
		resp := ask(tc.req)
		if resp.GetError() == "" {
			t.Errorf("%s: answered %x, want an error", tc.name, resp.GetRaw())
		}
		if resp := ask(&glpb.HsmRequest{Raw: valid, Context: channeld}); resp.GetError() != "" || !bytes.Equal(resp.GetRaw(), want) {
			t.Fatalf("after %s: a valid request got %x %q", tc.name, resp.GetRaw(), resp.GetError())
		}
	}

	// A valid request carrying garbage as the client commands that
	// justify it: not needed to answer it; answered or refused, never
	// dropped.
	resp := ask(&glpb.HsmRequest{Raw: valid, Context: channeld,
		Requests: []*glpb.PendingRequest{{Request: []byte{0xff}, Signature: []byte{1}, Pubkey: []byte{2}, Rune: []byte("x"), Uri: "\u0000"}}})
	if resp.GetError() == "" && !bytes.Equal(resp.GetRaw(), want) {
		t.Errorf("with garbage pending requests: answered %x, want %x or an error", resp.GetRaw(), want)
	}
	t.Logf("with garbage pending requests: error %q", resp.GetError())

	// Malformed signer state: entries the daemon cannot make sense of
	// come with the next request. It must not take them for its own, nor
	// stop serving; the request is answered (the state is not needed to
	// answer it) or refused, never dropped.
	f.node.SetSignerState([]*glpb.SignerStateEntry{
		{Key: "../channels/\u0000\u200b weird key", Version: 1 << 63, Value: []byte{0xde, 0xad}, Signature: []byte{1, 2, 3}},
		{Key: "", Version: 0, Value: nil},
		{Key: "channels/0000", Version: 7, Value: big(1 << 16)},
	})
	resp = ask(&glpb.HsmRequest{Raw: valid, Context: channeld})
	if resp.GetError() == "" && !bytes.Equal(resp.GetRaw(), want) {
		t.Errorf("with malformed signer state: answered %x, want %x or an error", resp.GetRaw(), want)
	}
	t.Logf("with malformed signer state: error %q", resp.GetError())

	// And the channel goes on.
	if _, err := ch.Pay(ctx, 10_000_000); err != nil {
		t.Fatal(err)
	}
	if st, err := control.Call(ctx, filepath.Join(f.state, "control.sock"), "status", nil); err != nil {
		t.Errorf("ctl status after the garbage: %v", err)
	} else {
		t.Logf("status: %.300s", st)
	}
	if code := d.stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM\n%s", code, d.logTail())
	}
}
