// Package control is gl-signerd's control socket: a unix stream socket in
// the state directory on which `gl-signerd ctl` (or a script) asks the
// running daemon for its status and tells it what to do.
//
// # Protocol (version 1)
//
// Line-delimited JSON, one request and one response per line, any number of
// requests per connection, answered in order:
//
//	→ {"cmd":"status","args":{}}
//	← {"ok":true,"result":{...}}
//	→ {"cmd":"pause","args":{"reason":"maintenance"}}
//	← {"ok":false,"error":"..."}
//
// "args" may be omitted; its shape belongs to the command, and a command
// ignores fields it does not know, so clients and daemons of different
// versions can talk. "help" is always there: it lists the commands. New
// commands (channels, policy, allowlist, approvals, ...) are new entries in
// the server's command table; the framing never changes.
//
// # Limits
//
// A same-uid process is trusted with the commands, not with the daemon's
// memory or time: the server keeps at most MaxConns connections open (one
// more is told so in one error line and closed), reads a request line of at
// most MaxRequest bytes (a longer one is answered with an error and the
// connection closed), closes a connection that sends no complete request
// for IdleTimeout, and one that does not take its response within
// WriteTimeout. A connection holds at most one request line in memory, so
// the socket costs at most MaxConns×MaxRequest bytes of buffers whatever
// the clients send. Responses may be longer than requests: clients read up
// to MaxResponse bytes.
//
// # Access
//
// The socket file has mode 0600 and, on every connection, the peer's uid is
// read from the kernel (SO_PEERCRED) and must be one the server allows (by
// default only the daemon's own uid). A refused peer gets one error line and
// the connection is closed.
//
// Use Listen and NewServer in the daemon, Call (or Dial) in clients.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// The server's limits (see the package documentation). They are not
// settings: no client of ours comes near them, and an operator has nothing
// to gain from raising them.
const (
	// MaxConns is how many connections the server keeps open at once.
	MaxConns = 16
	// MaxRequest is the longest request line accepted, newline included.
	MaxRequest = 64 << 10
	// MaxResponse is the longest response line a client accepts, newline
	// included.
	MaxResponse = 16 << 20
	// IdleTimeout is how long a connection may take to send a complete
	// request line.
	IdleTimeout = 5 * time.Second
	// WriteTimeout is how long a client may take to read a response.
	WriteTimeout = 5 * time.Second
)

// Request is one command.
type Request struct {
	Cmd  string          `json:"cmd"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response is the answer to one Request: Result when OK, else Error.
type Response struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Handler runs one command. args is the request's "args" (nil if absent);
// the result is encoded as JSON. An error is sent as the response's
// "error" text, so it must read as a sentence and hold no secret.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// Command is one entry of the command table.
type Command struct {
	Name string
	// Help is one line for `help` and `gl-signerd ctl --help`.
	Help string
	Run  Handler
}

// Server answers requests on a control socket.
type Server struct {
	log *zap.Logger
	// allowUID decides which peer uids may connect.
	allowUID func(uid uint32) bool

	// Limits: MaxConns, IdleTimeout and WriteTimeout unless a test
	// changes them.
	maxConns     int
	idleTimeout  time.Duration
	writeTimeout time.Duration

	busy busyLog

	mu       sync.Mutex
	commands map[string]Command
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// Option configures a Server.
type Option func(*Server)

// WithAllowedUIDs replaces the default (the daemon's own uid) with the
// given uids.
func WithAllowedUIDs(uids ...uint32) Option {
	return func(s *Server) {
		allowed := map[uint32]bool{}
		for _, u := range uids {
			allowed[u] = true
		}
		s.allowUID = func(uid uint32) bool { return allowed[uid] }
	}
}

// NewServer returns a server with only the built-in "help" command.
func NewServer(log *zap.Logger, opts ...Option) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	self := uint32(os.Getuid())
	s := &Server{
		log:          log,
		allowUID:     func(uid uint32) bool { return uid == self },
		maxConns:     MaxConns,
		idleTimeout:  IdleTimeout,
		writeTimeout: WriteTimeout,
		commands:     map[string]Command{},
		conns:        map[net.Conn]struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	s.Register(Command{Name: "help", Help: "list the commands this daemon understands", Run: s.help})
	return s
}

// Register adds (or replaces) a command.
func (s *Server) Register(c Command) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands[c.Name] = c
}

// CommandInfo describes a command in the help result.
type CommandInfo struct {
	Name string `json:"name"`
	Help string `json:"help"`
}

// HelpResult is the result of "help".
type HelpResult struct {
	Protocol int           `json:"protocol"`
	Commands []CommandInfo `json:"commands"`
}

func (s *Server) help(context.Context, json.RawMessage) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := HelpResult{Protocol: 1}
	for _, c := range s.commands {
		r.Commands = append(r.Commands, CommandInfo{Name: c.Name, Help: c.Help})
	}
	sort.Slice(r.Commands, func(i, j int) bool { return r.Commands[i].Name < r.Commands[j].Name })
	return r, nil
}

// Listen creates the control socket at path with mode 0600. A socket file
// left behind by a daemon that died is replaced; a socket someone still
// answers on, or a file that is not a socket, is an error.
func Listen(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("cannot create the control socket: %s exists and is not a socket; move it away or set control.socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("cannot create the control socket: another process is listening on %s; set control.socket to another path", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("cannot remove the stale control socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("cannot create the control socket: %w", err)
	}
	// The state directory is 0700 already; the mode and the uid check
	// below keep the socket private wherever control.socket points.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot restrict the control socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

// Serve accepts connections on ln until ctx ends or Close is called. It
// closes ln before returning.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.mu.Unlock()
	defer ln.Close()
	var delay time.Duration
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: back off, never spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("control socket: accept failed", zap.Error(err), zap.Duration("retry_in", delay))
			select {
			case <-time.After(delay):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		if len(s.conns) >= s.maxConns {
			s.mu.Unlock()
			s.refuseBusy(c)
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close ends every open connection and waits for their handlers. It
// shuts the connections' read side only, so a command that is running (a
// "shutdown", say) still gets its response out.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		if uc, ok := c.(*net.UnixConn); ok {
			_ = uc.CloseRead()
		} else {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// busyLog counts the connections refused for MaxConns since the last
// warning, so that a flood is logged once a second, not once a connection.
type busyLog struct {
	mu      sync.Mutex
	last    time.Time
	refused int
}

// refuseBusy tells a connection over the limit why it is closed, without
// reading from it and without blocking the accept loop.
func (s *Server) refuseBusy(c *net.UnixConn) {
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	msg := fmt.Sprintf("too many control connections: gl-signerd keeps at most %d open; close one and try again", s.maxConns)
	_ = writeResponse(bufio.NewWriterSize(c, 256), Response{Error: msg})
	c.Close()
	s.busy.mu.Lock()
	s.busy.refused++
	if now := time.Now(); now.Sub(s.busy.last) >= time.Second {
		s.log.Warn("control socket: refused connections over the limit", zap.Int("refused", s.busy.refused), zap.Int("limit", s.maxConns))
		s.busy.last, s.busy.refused = now, 0
	}
	s.busy.mu.Unlock()
}

func (s *Server) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	w := bufio.NewWriterSize(c, 4<<10)
	write := func(r Response) error {
		_ = c.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		return writeResponse(w, r)
	}
	uid, err := PeerUID(c)
	if err != nil || !s.allowUID(uid) {
		msg := "permission denied: the control socket only answers the user gl-signerd runs as"
		if err != nil {
			msg = "permission denied: cannot identify the connecting process: " + err.Error()
		}
		s.log.Warn("control socket: refused a connection", zap.Uint32("peer_uid", uid), zap.Error(err))
		_ = write(Response{Error: msg})
		// Take the client's first request before closing, so that it reads
		// the refusal instead of a broken pipe.
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = readLine(bufio.NewReaderSize(c, 4<<10), MaxRequest)
		return
	}
	r := bufio.NewReaderSize(c, 4<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.idleTimeout))
		line, err := readLine(r, MaxRequest)
		if err != nil {
			switch {
			case errors.Is(err, errLineTooLong):
				_ = write(Response{Error: fmt.Sprintf("the request is longer than %d bytes; the connection is closed", MaxRequest)})
			case errors.Is(err, os.ErrDeadlineExceeded):
				_ = write(Response{Error: fmt.Sprintf("no complete request within %s; the connection is closed", s.idleTimeout)})
			}
			return
		}
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		resp := s.dispatch(ctx, line)
		if err := write(resp); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.log.Warn("control socket: closed a connection that did not read its response", zap.Duration("write_timeout", s.writeTimeout))
			}
			return
		}
	}
}

func (s *Server) dispatch(ctx context.Context, line []byte) (resp Response) {
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return Response{Error: `the request is not a JSON object like {"cmd":"status"}: ` + err.Error()}
	}
	s.mu.Lock()
	cmd, ok := s.commands[req.Cmd]
	s.mu.Unlock()
	if !ok {
		return Response{Error: fmt.Sprintf("unknown command %q; %q lists the commands", req.Cmd, "help")}
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("control command panicked", zap.String("cmd", req.Cmd), zap.Any("panic", r), zap.Stack("stack"))
			resp = Response{Error: fmt.Sprintf("internal error running %q", req.Cmd)}
		}
	}()
	result, err := cmd.Run(ctx, req.Args)
	if err != nil {
		return Response{Error: err.Error()}
	}
	b, err := json.Marshal(result)
	if err != nil {
		return Response{Error: fmt.Sprintf("internal error encoding the result of %q: %v", req.Cmd, err)}
	}
	return Response{OK: true, Result: b}
}

var errLineTooLong = errors.New("line too long")

// readLine reads one '\n'-terminated line of at most limit bytes. It
// stops reading as soon as the line is longer, so it never holds more than
// limit bytes plus the reader's buffer.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

func writeResponse(w *bufio.Writer, r Response) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Flush()
}

// PeerUID returns the uid of the process at the other end of c, as the
// kernel recorded it when the connection was made (SO_PEERCRED).
func PeerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return cred.Uid, nil
}

// ErrNotRunning means nothing answers on the control socket.
var ErrNotRunning = errors.New("gl-signerd is not running")

// RemoteError is an error the daemon returned for a command.
type RemoteError struct {
	Cmd, Msg string
}

func (e *RemoteError) Error() string { return e.Msg }

// Client is a connection to a control socket.
type Client struct {
	c    net.Conn
	r    *bufio.Reader
	path string
}

// Dial connects to the control socket at path. If nothing listens there,
// the error wraps ErrNotRunning.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (nothing answers on %s)", ErrNotRunning, path)
		}
		return nil, fmt.Errorf("cannot connect to the control socket %s: %w", path, err)
	}
	return &Client{c: c, r: bufio.NewReaderSize(c, 64<<10), path: path}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

// Call sends one command and returns its result. A command the daemon
// refused gives a *RemoteError.
func (c *Client) Call(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	req := Request{Cmd: cmd}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return nil, err
		}
		req.Args = b
	}
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(dl)
	} else {
		_ = c.c.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_, werr := c.c.Write(append(line, '\n'))
	// Even if the write failed, the daemon may have said why (a refused
	// peer gets one error line).
	respLine, err := readLine(c.r, MaxResponse)
	if err != nil {
		if werr != nil {
			err = werr
		}
		return nil, c.ioError(ctx, err)
	}
	var resp Response
	if err := json.Unmarshal(respLine, &resp); err != nil {
		return nil, fmt.Errorf("the daemon sent a response that is not JSON: %w", err)
	}
	if !resp.OK {
		return nil, &RemoteError{Cmd: cmd, Msg: resp.Error}
	}
	return resp.Result, nil
}

func (c *Client) ioError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("no answer from the daemon on %s: %w", c.path, ctx.Err())
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("the daemon closed the control connection on %s", c.path)
	}
	return fmt.Errorf("talking to the daemon on %s: %w", c.path, err)
}

// Call dials path, sends one command and returns its result.
func Call(ctx context.Context, path, cmd string, args any) (json.RawMessage, error) {
	c, err := Dial(ctx, path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Call(ctx, cmd, args)
}
