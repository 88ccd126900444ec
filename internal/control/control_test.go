package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// A request line may be MaxRequest bytes; one byte more is answered with
// an error naming the limit, and the connection is closed.
func TestRequestLimit(t *testing.T) {
	srv := NewServer(nil)
	srv.Register(Command{Name: "len", Run: func(_ context.Context, raw json.RawMessage) (any, error) {
		return len(raw), nil
	}})
	path := start(t, srv)
	request := func(lineLen int) string {
		head, tail := `{"cmd":"len","args":"`, "\"}\n"
		return head + strings.Repeat("x", lineLen-len(head)-len(tail)) + tail
	}
	for _, tc := range []struct {
		name   string
		line   string
		want   string // a prefix of the response line
		closed bool   // the connection is closed after the response
	}{
		{"at the limit", request(MaxRequest), fmt.Sprintf(`{"ok":true,"result":%d}`, MaxRequest-len(`{"cmd":"len","args":}`)-1), false},
		{"one byte over", request(MaxRequest + 1), fmt.Sprintf(`{"ok":false,"error":"the request is longer than %d bytes; the connection is closed"}`, MaxRequest), true},
		{"1 MiB without a newline", strings.Repeat("x", 1<<20), fmt.Sprintf(`{"ok":false,"error":"the request is longer than %d bytes`, MaxRequest), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			go c.Write([]byte(tc.line))
			r := bufio.NewReader(c)
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, tc.want) {
				t.Fatalf("got %.200q (%v), want %s", line, err, tc.want)
			}
			if !tc.closed {
				// Still served: the next request is answered.
				c.Write([]byte("{\"cmd\":\"help\"}\n"))
				if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, `{"ok":true`) {
					t.Errorf("the next request on the connection: %q, %v", line, err)
				}
				return
			}
			if _, err = r.ReadString('\n'); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("after the refusal: %v; want the connection closed", err)
			}
		})
	}
}

// At most MaxConns connections are served at once; one more gets one error
// line and is closed, and a slot freed is usable again.
func TestConnectionLimit(t *testing.T) {
	srv := NewServer(nil)
	path := start(t, srv)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < MaxConns; i++ {
		c, err := Dial(ctx(t), path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Call(ctx(t), "help", nil); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, MaxConns, err)
		}
		held = append(held, c.c)
	}
	over, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	over.SetDeadline(time.Now().Add(3 * time.Second))
	r := bufio.NewReader(over)
	line, err := r.ReadString('\n')
	want := fmt.Sprintf(`{"ok":false,"error":"too many control connections: gl-signerd keeps at most %d open; close one and try again"}`+"\n", MaxConns)
	if err != nil || line != want {
		t.Fatalf("connection %d: got %q (%v), want %q", MaxConns+1, line, err, want)
	}
	if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("connection %d was not closed after its refusal: %v", MaxConns+1, err)
	}
	// Through the client: the refusal is the error.
	_, err = Call(ctx(t), path, "help", nil)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Msg, "too many control connections") {
		t.Errorf("Call over the limit: %v", err)
	}
	// A freed slot serves again (the server notices the close at once).
	held[0].Close()
	held = held[1:]
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err := Call(ctx(t), path, "help", nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one of %d was closed: %v", MaxConns, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A connection that sends no complete request within IdleTimeout is told so
// and closed, whether it never sent anything, sent half a line, or went
// quiet after a request.
func TestIdleTimeout(t *testing.T) {
	if IdleTimeout > 10*time.Second {
		t.Fatalf("IdleTimeout is %s; the issue asks for seconds", IdleTimeout)
	}
	path := start(t, NewServer(nil))
	for _, tc := range []struct {
		name, send string
		answers    int
	}{
		{"nothing sent", "", 0},
		{"half a line", `{"cmd":"he`, 0},
		{"quiet after a request", "{\"cmd\":\"help\"}\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			began := time.Now()
			c.SetDeadline(began.Add(IdleTimeout + 5*time.Second))
			if _, err := c.Write([]byte(tc.send)); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			for i := 0; i < tc.answers; i++ {
				if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, `{"ok":true`) {
					t.Fatalf("answer %d: %q, %v", i, line, err)
				}
			}
			line, err := r.ReadString('\n')
			want := fmt.Sprintf(`{"ok":false,"error":"no complete request within %s; the connection is closed"}`+"\n", IdleTimeout)
			if err != nil || line != want {
				t.Fatalf("after %s: got %q (%v), want %q", time.Since(began).Round(time.Millisecond), line, err, want)
			}
			if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) {
				t.Errorf("not closed after the idle message: %v", err)
			}
			if d := time.Since(began); d < IdleTimeout-100*time.Millisecond {
				t.Errorf("closed after %s, before IdleTimeout (%s)", d, IdleTimeout)
			}
		})
	}
}

// A client that sends requests and never reads the responses does not keep
// its connection (and its handler) forever: once its socket buffer is full
// the write times out and the connection is closed.
func TestWriteTimeout(t *testing.T) {
	srv := NewServer(nil)
	srv.writeTimeout = 300 * time.Millisecond
	srv.Register(Command{Name: "big", Run: func(context.Context, json.RawMessage) (any, error) {
		return strings.Repeat("y", 64<<10), nil
	}})
	path := start(t, srv)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Enough requests for far more response bytes than a socket buffers.
	go func() {
		req := []byte("{\"cmd\":\"big\"}\n")
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for i := 0; i < 1000; i++ {
			if _, err := c.Write(req); err != nil {
				return
			}
		}
	}()
	open := func() int {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns)
	}
	for deadline := time.Now().Add(3 * time.Second); open() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection was never served")
		}
	}
	for deadline := time.Now().Add(5 * time.Second); open() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server still holds %d connection(s) of a client that reads nothing", open())
		}
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
