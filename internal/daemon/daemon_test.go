package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gl-signerd/internal/control"
	"gl-signerd/internal/dirlock"
	"gl-signerd/internal/signing"
	"gl-signerd/signer"
	"gl-signerd/streamer"
)

type stubEngine struct{}

func (stubEngine) Handle(context.Context, signer.Client, []byte) ([]byte, error) {
	return []byte{0, 127, 1}, nil
}

// testDaemon serves a daemon's control commands on a socket.
func testDaemon(t *testing.T) (*daemon, string, chan string) {
	t.Helper()
	stopped := make(chan string, 1)
	d := &daemon{
		stateDir: t.TempDir(), nodeID: [33]byte{2, 0xab}, network: "regtest",
		started: time.Now().Add(-time.Minute), byType: map[string]*TypeCounts{},
		stop: func(r string) { stopped <- r },
	}
	d.handler = signing.NewHandler(stubEngine{}, signing.Options{Observe: d.observe})
	srv := control.NewServer(nil)
	d.registerCommands(srv)
	path := filepath.Join(t.TempDir(), "c.sock")
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done })
	return d, path, stopped
}

func call(t *testing.T, path, cmd string, args any) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := control.Call(ctx, path, cmd, args)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return raw
}

func TestControlCommands(t *testing.T) {
	d, path, stopped := testDaemon(t)
	req := streamer.Request{ID: 1000, Raw: []byte{0, 27, 0, 0}}
	if r := d.handler.HandleHsmRequest(context.Background(), req); r.Err != nil {
		t.Fatal(r.Err)
	}

	var st Status
	json.Unmarshal(call(t, path, "status", nil), &st)
	if st.NodeID != "02ab"+strings.Repeat("00", 31) || st.Network != "regtest" || st.Requests.Answered != 1 ||
		st.Requests.ByType["hsmd_derive_secret"].Answered != 1 || st.Signing.Paused || st.UptimeSeconds < 59 {
		t.Errorf("status %+v", st)
	}

	// pause: requests are refused with the reason, and status says so.
	var p PauseResult
	json.Unmarshal(call(t, path, "pause", PauseArgs{Reason: "looking at channel 7"}), &p)
	if !p.Paused || p.Reason != "looking at channel 7" {
		t.Errorf("pause returned %+v", p)
	}
	r := d.handler.HandleHsmRequest(context.Background(), req)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "looking at channel 7") {
		t.Fatalf("paused daemon answered: %x, %v", r.Raw, r.Err)
	}
	json.Unmarshal(call(t, path, "status", nil), &st)
	if !st.Signing.Paused || st.Signing.PauseReason != "looking at channel 7" || st.Signing.PausedSince == nil ||
		st.LastRefusal == nil || st.LastRefusal.Tag != signing.TagPaused || st.Requests.Refused != 1 {
		t.Errorf("status while paused %+v (last refusal %+v)", st.Signing, st.LastRefusal)
	}
	if tc := st.Requests.ByType["hsmd_derive_secret"]; tc == nil || tc.Answered != 1 || tc.Refused != 1 {
		t.Errorf("status by type while paused: %+v", st.Requests.ByType)
	}

	// Bad arguments are refused with a sentence, and change nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := control.Call(ctx, path, "pause", json.RawMessage(`{"reason": 7}`))
	var re *control.RemoteError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Msg, `pause takes {"reason": "..."}`) {
		t.Errorf("pause with a number: %v", err)
	}
	_, err = control.Call(ctx, path, "pause", PauseArgs{Reason: strings.Repeat("x", 201)})
	if !errors.As(err, &re) {
		t.Errorf("pause with a long reason: %v", err)
	}

	json.Unmarshal(call(t, path, "resume", nil), &p)
	if p.Paused || d.handler.Paused().Paused {
		t.Error("still paused after resume")
	}
	if r := d.handler.HandleHsmRequest(context.Background(), req); r.Err != nil {
		t.Errorf("after resume: %v", r.Err)
	}

	// help lists the commands; shutdown asks the daemon to stop.
	var help control.HelpResult
	json.Unmarshal(call(t, path, "help", nil), &help)
	var names []string
	for _, c := range help.Commands {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, " "); got != "allowlist approvals approve channels deny help pause resume shutdown status unfreeze" {
		t.Errorf("commands: %s", got)
	}
	if string(call(t, path, "shutdown", nil)) != `{"stopping":true}` {
		t.Error("shutdown result")
	}
	select {
	case reason := <-stopped:
		if reason != "gl-signerd ctl shutdown" {
			t.Errorf("stop reason %q", reason)
		}
	case <-time.After(time.Second):
		t.Error("shutdown did not stop the daemon")
	}
}

// A second instance on the same state directory is refused (Locked, exit
// code 6) and names the first one's pid.
func TestSecondInstanceLocked(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(StorePath(dir), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	first, err := LockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	_, err = LockStateDir(dir)
	var de *Error
	var held *dirlock.HeldError
	if !errors.As(err, &de) || de.Kind != Locked || !errors.As(err, &held) {
		t.Fatalf("second lock: %v, want an error of Kind Locked", err)
	}
	if want := fmt.Sprintf("another gl-signerd (pid %d) is using the state directory %s", os.Getpid(), dir); !strings.Contains(err.Error(), want) {
		t.Errorf("message %q lacks %q", err, want)
	}
}
