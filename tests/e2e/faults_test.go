package e2e

// Fault tests: the real binary under channel traffic while the node is
// preempted, its streams cut, the scheduler flaps, the daemon is killed,
// and the node sends garbage. Every answer the node gets is checked by the
// traffic generator (signatures, script engine) and compared byte for byte
// with an in-process engine holding the same seed.
//
// Counts are the real ones (20 preemptions, 1,000 stream cuts, 100
// SIGKILLs); -short runs fewer. The whole file takes about FAULTS_TIME on
// two cores; see docs/performance.md.

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	glpb "gl-signerd/streamer/pb/greenlight"
	"gl-signerd/tests/glemu"
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
	f := newFixture(t, glemu.Options{})
	// The streamer's backoff is capped at 1 s here (30 s by default) so
	// that 20 moves fit in seconds; the behaviour is the same.
	d := f.start("GL_SIGNERD_STREAMER_BACKOFF_INITIAL=100ms", "GL_SIGNERD_STREAMER_BACKOFF_MAX=1s")
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
	if code := d.stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM\n%s", code, d.logTail())
	}
}

// 1,000 stream cuts under load: each request is answered exactly once
// (the node applies one answer; any duplicate answer is byte-equal to it),
// none is lost, and every answer is the engine's.
func TestFaultStreamCuts(t *testing.T) {
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
	deadline := time.Now().Add(30 * time.Second)
	for f.node.Stats().Sent < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
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
