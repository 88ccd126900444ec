package state_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gl-signerd/internal/testbin"
	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
	"gl-signerd/signer/state"
)

// The crash test: a child process applies a long request stream through an
// engine with state and acknowledges each answer (request index and reply)
// on stdout once Handle has returned it; the parent SIGKILLs it at a random
// moment, reopens the store and checks that it holds exactly the state
// after the last acknowledged request (or after the one being answered
// when the kill came: committed, not yet acknowledged), then restarts the
// child from the last acknowledged request, whose answer must come again
// byte for byte without advancing anything.

const crashSeed = 0x5e

type streamReq struct {
	Client signer.Client
	Raw    []byte
}

// crashStream generates the requests: a node's start, and channels opened,
// used and closed (mutually and by force) or left open.
func crashStream(t testing.TB) []streamReq {
	e, err := signer.NewEngine(bytes.Repeat([]byte{crashSeed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	var out []streamReq
	send := func(ctx context.Context, r traffic.Request) ([]byte, error) {
		out = append(out, streamReq{Client: r.Client, Raw: r.Raw})
		return traffic.EngineSender(e)(ctx, r)
	}
	init, err := e.InitReply("bitcoin")
	if err != nil {
		t.Fatal(err)
	}
	g, err := traffic.New(init, send, traffic.Options{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := g.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range []traffic.Lifecycle{
		{Channel: traffic.ChannelOptions{WeFund: true, Anchors: true}, Payments: 12, FeeUpdates: 1, Close: traffic.CloseNone},
		{Channel: traffic.ChannelOptions{}, Payments: 8, Close: traffic.CloseMutual},
		{Channel: traffic.ChannelOptions{Anchors: true}, Payments: 8, Close: traffic.CloseForce},
		{Channel: traffic.ChannelOptions{WeFund: true}, Payments: 10, Close: traffic.CloseNone},
	} {
		if _, err := g.RunLifecycle(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// digest is a hash of everything the store holds.
func digest(t testing.TB, st *state.Store) [32]byte {
	h := sha256.New()
	for _, ch := range st.Channels() {
		b, err := state.EncodeChannel(ch)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %x\n", ch.ID, b)
	}
	b, err := state.EncodeNode(st.Node())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(h, "node %x\n", b)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

func openEngine(t testing.TB, dir string) (*signer.Engine, *state.Store) {
	st, err := state.Open(filepath.Join(dir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	// The policy is off: a restarted child resends the last acknowledged
	// request, which the channel checks may rightly refuse as a replay
	// (a close resent after forget_channel was committed); the store's
	// durability is what is tested here.
	e, err := signer.NewEngine(bytes.Repeat([]byte{crashSeed}, 32), signer.WithState(st), signer.WithPolicyMode(policy.ModeOff))
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}

// TestCrashChild is the child process; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	streamFile := os.Getenv("GL_SIGNERD_CRASH_STREAM")
	if streamFile == "" {
		t.Skip("the crash test's child process; run by TestCrash")
	}
	b, err := os.ReadFile(streamFile)
	if err != nil {
		t.Fatal(err)
	}
	var stream []streamReq
	if err := json.Unmarshal(b, &stream); err != nil {
		t.Fatal(err)
	}
	start, err := strconv.Atoi(os.Getenv("GL_SIGNERD_CRASH_START"))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := openEngine(t, os.Getenv("GL_SIGNERD_CRASH_DIR"))
	fmt.Fprintln(os.Stdout, "ready")
	ctx := context.Background()
	for i := start; i < len(stream); i++ {
		reply, err := e.Handle(ctx, stream[i].Client, stream[i].Raw)
		if err != nil {
			fmt.Fprintf(os.Stdout, "error %d %v\n", i, err)
			os.Exit(3)
		}
		fmt.Fprintf(os.Stdout, "ack %d %x\n", i, reply)
	}
	fmt.Fprintln(os.Stdout, "done")
	os.Exit(0)
}

func TestCrash(t *testing.T) {
	kills := 200
	if testing.Short() {
		kills = 20
	}
	stream := crashStream(t)
	work := t.TempDir()
	streamFile := filepath.Join(work, "stream.json")
	b, err := json.Marshal(stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(streamFile, b, 0o600); err != nil {
		t.Fatal(err)
	}

	// The reference: each request's reply and the state after it.
	refDir := t.TempDir()
	e, st := openEngine(t, refDir)
	replies := make([][]byte, len(stream))
	after := make([][32]byte, len(stream)+1) // after[k]: the state after k requests
	after[0] = digest(t, st)
	for i, r := range stream {
		reply, err := e.Handle(context.Background(), r.Client, r.Raw)
		if err != nil {
			t.Fatalf("request %d refused: %v", i, err)
		}
		replies[i] = reply
		after[i+1] = digest(t, st)
	}
	st.Close()
	t.Logf("stream of %d requests", len(stream))

	// The children run without the race detector even when this test runs
	// under it: each of the 200 starts of a race-built child cost about
	// half a second of CPU, and what they test is the store across SIGKILL.
	child := os.Args[0]
	if testbin.Race() {
		if child, err = testbin.TestBinary("./signer/state"); err != nil {
			t.Fatal(err)
		}
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	dir := filepath.Join(work, "run0")
	os.MkdirAll(dir, 0o700)
	acked := 0 // requests acknowledged so far in dir
	runs, completed, unackedCommits := 0, 0, 0
	deadline := time.Now().Add(4 * time.Minute) // about 50 s on a quiet 2-core machine
	for kill := 0; kill < kills; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d kills in the time allowed", kill)
		}
		start := max(acked-1, 0) // resend the last acknowledged request
		cmd := exec.Command(child, "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GL_SIGNERD_CRASH_STREAM="+streamFile, "GL_SIGNERD_CRASH_DIR="+dir, "GL_SIGNERD_CRASH_START="+strconv.Itoa(start))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		runs++
		lines := make(chan string, len(stream)+4)
		go func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		if l, ok := <-lines; !ok || l != "ready" {
			cmd.Wait()
			t.Fatalf("child did not start: %q %s", l, stderr.String())
		}
		killAfter := time.Duration(rng.IntN(40_000)) * time.Microsecond
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
		done := false
		for l := range lines {
			f := strings.Fields(l)
			switch {
			case l == "done":
				done = true
			case len(f) == 3 && f[0] == "ack":
				i, _ := strconv.Atoi(f[1])
				if f[2] != hex.EncodeToString(replies[i]) {
					t.Fatalf("request %d answered %s, want %x", i, f[2], replies[i])
				}
				acked = i + 1
			default:
				t.Fatalf("child: %s", l)
			}
		}
		timer.Stop()
		werr := cmd.Wait()
		if !done {
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Fatalf("child ended without being killed: %v %s", werr, stderr.String())
			}
			kill++
		}

		// The store holds the state after the last acknowledged request,
		// or after the one being answered when the kill came.
		st, err := state.Open(filepath.Join(dir, state.FileName))
		if err != nil {
			t.Fatalf("reopening after kill %d: %v", kill, err)
		}
		got := digest(t, st)
		st.Close()
		switch {
		case got == after[acked]:
		case acked < len(stream) && got == after[acked+1]:
			unackedCommits++
		default:
			t.Fatalf("after kill %d with %d requests acknowledged, the store holds another state", kill, acked)
		}
		if done || acked == len(stream) {
			completed++
			dir = filepath.Join(work, fmt.Sprintf("run%d", completed))
			os.MkdirAll(dir, 0o700)
			acked = 0
		}
	}
	t.Logf("%d kills over %d runs, %d streams completed; %d times the request in flight was committed but not acknowledged", kills, runs, completed, unackedCommits)
}
