package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// start serves srv on a socket in a new temporary directory.
func start(t *testing.T, srv *Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the socket file is still there after Serve returned: %v", err)
		}
	})
	return path
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestCommands(t *testing.T) {
	srv := NewServer(nil)
	type echoArgs struct {
		Text string `json:"text"`
	}
	srv.Register(Command{Name: "echo", Help: "say it back", Run: func(_ context.Context, raw json.RawMessage) (any, error) {
		var a echoArgs
		if raw != nil {
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, err
			}
		}
		if a.Text == "" {
			return nil, errors.New("echo needs a text")
		}
		return map[string]string{"said": a.Text}, nil
	}})
	srv.Register(Command{Name: "boom", Run: func(context.Context, json.RawMessage) (any, error) { panic("boom") }})
	path := start(t, srv)

	res, err := Call(ctx(t), path, "echo", echoArgs{Text: "hi"})
	if err != nil || string(res) != `{"said":"hi"}` {
		t.Errorf("echo: %s, %v", res, err)
	}
	_, err = Call(ctx(t), path, "echo", nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "echo needs a text" {
		t.Errorf("echo without args: %v, want the command's error", err)
	}
	_, err = Call(ctx(t), path, "nosuch", nil)
	if !errors.As(err, &re) || !strings.Contains(re.Msg, `unknown command "nosuch"`) {
		t.Errorf("unknown command: %v", err)
	}
	_, err = Call(ctx(t), path, "boom", nil)
	if !errors.As(err, &re) || re.Msg != `internal error running "boom"` {
		t.Errorf("panicking command: %v", err)
	}
	res, err = Call(ctx(t), path, "help", nil)
	if err != nil {
		t.Fatal(err)
	}
	var help HelpResult
	if err := json.Unmarshal(res, &help); err != nil || help.Protocol != 1 || len(help.Commands) != 3 ||
		help.Commands[1].Name != "echo" || help.Commands[1].Help != "say it back" {
		t.Errorf("help: %s (%v)", res, err)
	}

	// Raw protocol: several requests on one connection, answered in order;
	// blank lines skipped; bad JSON answered, not fatal.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("{\"cmd\":\"echo\",\"args\":{\"text\":\"a\",\"future\":1}}\n\nnot json\n{\"cmd\":\"echo\",\"args\":{\"text\":\"b\"}}\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	want := []string{
		`{"ok":true,"result":{"said":"a"}}`,
		`{"ok":false,"error":"the request is not a JSON object like {\"cmd\":\"status\"}: invalid character 'o' in literal null (expecting 'u')"}`,
		`{"ok":true,"result":{"said":"b"}}`,
	}
	for _, w := range want {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSuffix(line, "\n") != w {
			t.Errorf("got  %s\nwant %s", line, w)
		}
	}
}

func TestTooLongRequest(t *testing.T) {
	path := start(t, NewServer(nil))
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go c.Write([]byte(`{"cmd":"help","args":"` + strings.Repeat("x", MaxLine) + "\"}\n"))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.Contains(line, "longer than") {
		t.Errorf("got %q, want a refusal of the long line", line)
	}
}

func TestPeerUIDChecked(t *testing.T) {
	self := uint32(os.Getuid())
	// A server that allows only some other uid refuses us.
	path := start(t, NewServer(nil, WithAllowedUIDs(self+1)))
	_, err := Call(ctx(t), path, "help", nil)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Msg, "permission denied") {
		t.Fatalf("call from a uid not allowed: %v, want permission denied", err)
	}
	// The default allows the daemon's own uid, read from the kernel.
	path = start(t, NewServer(nil))
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uid, err := PeerUID(c.(*net.UnixConn))
	if err != nil || uid != self {
		t.Errorf("PeerUID = %d, %v; want %d", uid, err, self)
	}
	if _, err := Call(ctx(t), path, "help", nil); err != nil {
		t.Errorf("call from our own uid: %v", err)
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "control.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v (%v), want 0600", fi.Mode(), err)
	}
	// Someone answers: refuse to take the path over.
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another process is listening") {
		t.Errorf("Listen on a live socket: %v", err)
	}
	// A socket file left by a dead daemon is replaced.
	ln.SetUnlinkOnClose(false)
	ln.Close()
	ln, err = Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln.Close()
	// Not a socket: leave it alone.
	os.WriteFile(path, []byte("x"), 0o600)
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
	if _, err := Call(ctx(t), filepath.Join(dir, "none.sock"), "help", nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Call with no socket: %v, want ErrNotRunning", err)
	}
	if _, err := Call(ctx(t), path, "help", nil); err == nil {
		t.Error("Call on a regular file succeeded")
	}
}

// Close ends idle connections instead of waiting for their clients.
func TestCloseEndsConnections(t *testing.T) {
	srv := NewServer(nil)
	path := filepath.Join(t.TempDir(), "c.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Call(context.Background(), "help", nil); err != nil {
		t.Fatal(err)
	}
	cancel()
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for an idle client")
	}
	<-done
}

// A command running when Close is called still gets its response out:
// "shutdown" is answered although it makes the daemon close the socket.
func TestCloseLetsRunningCommandAnswer(t *testing.T) {
	srv := NewServer(nil)
	running := make(chan struct{})
	release := make(chan struct{})
	srv.Register(Command{Name: "shutdown", Run: func(context.Context, json.RawMessage) (any, error) {
		close(running)
		<-release
		return map[string]bool{"stopping": true}, nil
	}})
	path := filepath.Join(t.TempDir(), "c.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	res := make(chan error, 1)
	go func() {
		r, err := Call(context.Background(), path, "shutdown", nil)
		if err == nil && string(r) != `{"stopping":true}` {
			err = errors.New("result " + string(r))
		}
		res <- err
	}()
	<-running
	ln.Close()
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-res; err != nil {
		t.Errorf("the running command's answer was lost: %v", err)
	}
	<-closed
	<-done
}
