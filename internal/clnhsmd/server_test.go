package clnhsmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
)

// CLN's hsmd's exit statuses: status_failed, and lightningd gone.
const (
	clnFatal      = 242
	clnMasterGone = 2
)

// lightningd is the test's side of a server: the master connection and the
// status socket.
type lightningd struct {
	t      *testing.T
	master int
	status int
	done   chan *ExitError
	cancel context.CancelFunc

	mu   sync.Mutex
	msgs [][]byte
	stop chan struct{}
}

// fakeHandler answers every request with its type + 100 followed by its
// payload, and refuses type 7 (fatally on the master, as the engine does).
// A request of type 18 waits for release; one of type 19 keeps the CPU
// busy for 30 µs, about what a signature costs.
type fakeHandler struct {
	release chan struct{}
}

func (h *fakeHandler) Handle(ctx context.Context, c signer.Client, raw []byte) ([]byte, error) {
	t := binary.BigEndian.Uint16(raw)
	switch t {
	case 7:
		return nil, &signer.RefusalError{MsgType: t, Reason: "refused for the test", Fatal: c.IsMaster()}
	case 18:
		select {
		case <-h.release:
		case <-ctx.Done():
		}
	}
	if t == 19 {
		for start := time.Now(); time.Since(start) < 30*time.Microsecond; {
		}
	}
	out := binary.BigEndian.AppendUint16(nil, t+100)
	return append(out, raw[2:]...), nil
}

// The two ways of serving clients: a goroutine each, or one thread for
// all (Config.OneThread).
var modes = []struct {
	name      string
	oneThread bool
}{{"goroutines", false}, {"one thread", true}}

// serve starts a server with open (a fakeHandler's when nil), a goroutine
// for each client.
func serve(t *testing.T, developer bool, open Opener) *lightningd {
	return serveIn(t, false, developer, open)
}

// serveIn is serve, with every connection served from one thread when
// oneThread is set.
func serveIn(t *testing.T, oneThread, developer bool, open Opener) *lightningd {
	t.Helper()
	m, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if open == nil {
		h := &fakeHandler{release: make(chan struct{})}
		open = func(*hsmproto.Init, func(LogLevel, string)) (Handler, error) { return h, nil }
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &lightningd{t: t, master: m[0], status: st[0], done: make(chan *ExitError, 1), cancel: cancel, stop: make(chan struct{})}
	go func() {
		l.done <- Serve(ctx, Config{MasterFD: m[1], StatusFD: st[1], Version: "v-test", Developer: developer, Open: open, OneThread: oneThread})
	}()
	go l.readStatus()
	t.Cleanup(func() {
		cancel()
		l.exit()
		syscall.Close(l.master)
		<-l.stop
		syscall.Close(l.status)
	})
	return l
}

func (l *lightningd) readStatus() {
	defer close(l.stop)
	for {
		m, err := hsmproto.ReadFrame(fdRW(l.status))
		if err != nil {
			return
		}
		l.mu.Lock()
		l.msgs = append(l.msgs, m)
		l.mu.Unlock()
	}
}

// exit waits for Serve to end.
func (l *lightningd) exit() *ExitError {
	l.t.Helper()
	select {
	case e := <-l.done:
		l.done <- e
		return e
	case <-time.After(10 * time.Second):
		l.t.Fatal("the server did not stop")
		return nil
	}
}

// statusMsgs returns the status messages once the server has stopped.
func (l *lightningd) statusMsgs() [][]byte {
	l.exit()
	<-l.stop
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs
}

// call sends one request on fd and returns the reply.
func call(fd int, msg []byte) ([]byte, error) {
	if err := hsmproto.WriteFrame(fdRW(fd), msg); err != nil {
		return nil, err
	}
	return hsmproto.ReadFrame(fdRW(fd))
}

// testInit is lightningd's hsmd_init for bitcoin, wire versions 4–6.
var testInit = func() []byte {
	m, err := hsmproto.InitFor("bitcoin", 4, 6)
	if err != nil {
		panic(err)
	}
	return m.Encode()
}()

var testPeer = mustDecodeHex("022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59")

func mustDecodeHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// client asks for a client connection as lightningd does.
func (l *lightningd) client(id []byte, dbid, caps uint64) int {
	l.t.Helper()
	fd, err := l.tryClient(id, dbid, caps)
	if err != nil {
		l.t.Fatal(err)
	}
	return fd
}

func (l *lightningd) tryClient(id []byte, dbid, caps uint64) (int, error) {
	raw, _ := hsmproto.Marshal(&hsmproto.ClientHsmfd{ID: hsmproto.NodeID(id), DBID: dbid, Permissions: caps})
	if err := hsmproto.WriteFrame(fdRW(l.master), raw); err != nil {
		return -1, err
	}
	var hdr [6]byte
	if _, err := io.ReadFull(fdRW(l.master), hdr[:]); err != nil {
		return -1, err
	}
	b := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(4))
	n, oobn, flags, _, err := syscall.Recvmsg(l.master, b, oob, syscall.MSG_CMSG_CLOEXEC)
	for err == syscall.EINTR {
		n, oobn, flags, _, err = syscall.Recvmsg(l.master, b, oob, syscall.MSG_CMSG_CLOEXEC)
	}
	if err != nil {
		return -1, err
	}
	// Say what came, should a run ever get no fd (one CI run did, once).
	got := fmt.Sprintf("recvmsg gave %d data bytes (%x), %d bytes of control data, flags %#x, after the reply header %x", n, b[:n], oobn, flags, hdr)
	cm, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(cm) != 1 {
		return -1, errors.New("no fd passed: " + got)
	}
	fds, err := syscall.ParseUnixRights(&cm[0])
	if err != nil || len(fds) != 1 || b[0] != 0 {
		return -1, errors.New("no fd passed: " + got)
	}
	return fds[0], nil
}

type fdRW int

// Read retries EINTR: with SO_RCVTIMEO set, Linux does not restart a read
// that a signal (Go's preemption) interrupts.
func (f fdRW) Read(b []byte) (int, error) {
	for {
		n, err := syscall.Read(int(f), b)
		if err == syscall.EINTR {
			continue
		}
		if n == 0 && err == nil {
			return 0, io.EOF
		}
		return max(n, 0), err
	}
}

// Write writes all of b: a signal can cut a blocking write short.
func (f fdRW) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := syscall.Write(int(f), b[done:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// closed reports whether fd's peer has closed (a read sees EOF) within 5s.
func closed(fd int) bool {
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5})
	var b [1]byte
	n, err := syscall.Read(fd, b[:])
	for err == syscall.EINTR {
		n, err = syscall.Read(fd, b[:])
	}
	return n == 0 && err == nil || err == syscall.ECONNRESET
}

func findStatus(msgs [][]byte, typ uint16) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		if binary.BigEndian.Uint16(m) == typ {
			out = append(out, m)
		}
	}
	return out
}

// Clients are served concurrently (a goroutine each): a request held up on
// one client does not delay another client's, nor the master's.
func TestClientsConcurrent(t *testing.T) {
	h := &fakeHandler{release: make(chan struct{})}
	l := serve(t, false, func(*hsmproto.Init, func(LogLevel, string)) (Handler, error) { return h, nil })
	if _, err := call(l.master, testInit); err != nil {
		t.Fatal(err)
	}
	slow := l.client(testPeer, 1, 8)
	fast := l.client(testPeer, 2, 8)
	slowReply := make(chan []byte, 1)
	go func() {
		r, _ := call(slow, []byte{0, 18, 1})
		slowReply <- r
	}()
	time.Sleep(50 * time.Millisecond)
	syscall.SetsockoptTimeval(fast, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5})
	if r, err := call(fast, []byte{0, 22, 2}); err != nil || !bytes.Equal(r, []byte{0, 122, 2}) {
		t.Fatalf("fast client while the slow one waits: %x, %v", r, err)
	}
	if r, err := call(l.master, []byte{0, 27, 3}); err != nil || !bytes.Equal(r, []byte{0, 127, 3}) {
		t.Fatalf("master while the slow client waits: %x, %v", r, err)
	}
	select {
	case r := <-slowReply:
		t.Fatalf("the slow request was answered before its release: %x", r)
	default:
	}
	close(h.release)
	if r := <-slowReply; !bytes.Equal(r, []byte{0, 118, 1}) {
		t.Fatalf("slow reply %x", r)
	}
}

// oneThreadWithClients starts a one-thread server past hsmd_init, with two
// clients (dbid 1 and 2).
func oneThreadWithClients(t *testing.T) (l *lightningd, first, second int) {
	t.Helper()
	l = serveIn(t, true, false, nil)
	if _, err := call(l.master, testInit); err != nil {
		t.Fatal(err)
	}
	return l, l.client(testPeer, 1, 8), l.client(testPeer, 2, 8)
}

// With one thread, a client that sends requests and does not read the
// replies holds up no other connection, and gets every reply, whole and in
// order, once it reads.
func TestOneThreadClientNotReading(t *testing.T) {
	l, greedy, other := oneThreadWithClients(t)
	syscall.SetsockoptTimeval(other, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5})
	syscall.SetsockoptTimeval(l.master, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5})

	// Far more reply bytes than a socket holds.
	const n = 64
	payload := bytes.Repeat([]byte{0xab}, 64<<10)
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			req := append([]byte{0, 22, byte(i)}, payload...)
			if err := hsmproto.WriteFrame(fdRW(greedy), req); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	time.Sleep(100 * time.Millisecond) // the server's writes to greedy are stuck by now
	select {
	case err := <-sent:
		t.Fatalf("every request was taken before any reply was read (%v): the replies never backed up", err)
	default:
	}
	if r, err := call(other, []byte{0, 27, 1}); err != nil || !bytes.Equal(r, []byte{0, 127, 1}) {
		t.Fatalf("another client while one does not read: %x, %v", r, err)
	}
	if r, err := call(l.master, []byte{0, 27, 2}); err != nil || !bytes.Equal(r, []byte{0, 127, 2}) {
		t.Fatalf("the master while a client does not read: %x, %v", r, err)
	}
	c3 := l.client(testPeer, 3, 8)
	if r, err := call(c3, []byte{0, 27, 3}); err != nil || !bytes.Equal(r, []byte{0, 127, 3}) {
		t.Fatalf("a new client while one does not read: %x, %v", r, err)
	}

	for i := range n {
		r, err := hsmproto.ReadFrame(fdRW(greedy))
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if !bytes.Equal(r[:3], []byte{0, 122, byte(i)}) || !bytes.Equal(r[3:], payload) {
			t.Fatalf("reply %d: %d bytes starting %x, want the echo of request %d", i, len(r), r[:min(len(r), 3)], i)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// With one thread, a client that sends requests as fast as it reads the
// replies does not keep lightningd's connection or another client waiting:
// each connection gets one request answered a round.
func TestOneThreadClientFlooding(t *testing.T) {
	l, flood, other := oneThreadWithClients(t)
	stop := make(chan struct{})
	var flooding sync.WaitGroup
	flooding.Add(2)
	go func() { // writes requests that take the handler about 30 µs each, a thousand at a time
		defer flooding.Done()
		batch := bytes.Repeat([]byte{0, 0, 0, 2, 0, 19}, 1000)
		for {
			select {
			case <-stop:
				syscall.Shutdown(flood, syscall.SHUT_WR)
				return
			default:
			}
			if _, err := fdRW(flood).Write(batch); err != nil {
				return
			}
		}
	}()
	go func() { // and reads the replies as fast as they come
		defer flooding.Done()
		b := make([]byte, 64<<10)
		for {
			if _, err := fdRW(flood).Read(b); err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		flooding.Wait()
	}()
	time.Sleep(50 * time.Millisecond)
	for i := range 20 {
		for _, fd := range []int{l.master, other} {
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				r, err := call(fd, []byte{0, 27, byte(i)})
				if err == nil && !bytes.Equal(r, []byte{0, 127, byte(i)}) {
					err = fmt.Errorf("reply %x", r)
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("request %d while a client floods: %v", i, err)
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("request %d waited over %v while a client floods", i, time.Since(start).Round(time.Millisecond))
			}
		}
	}
}

// CLN's client-slot rules: a new client for a dbid closes the old one; a
// fourth dbid-0 client (lightningd's own counts) is fatal.
func TestClientSlots(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testClientSlots(t, m.oneThread) })
	}
}

func testClientSlots(t *testing.T, oneThread bool) {
	l := serveIn(t, oneThread, false, nil)
	call(l.master, testInit)
	old := l.client(testPeer, 9, 8)
	other := l.client(testPeer, 10, 8)
	replacement := l.client(testPeer, 9, 8)
	if !closed(old) {
		t.Error("the old client of dbid 9 is still open after a new one was made")
	}
	for _, fd := range []int{replacement, other} {
		if r, err := call(fd, []byte{0, 22}); err != nil || !bytes.Equal(r, []byte{0, 122}) {
			t.Errorf("client after the replacement: %x, %v", r, err)
		}
	}
	l.client(testPeer, 0, 1)
	l.client(testPeer, 0, 1)
	if _, err := l.tryClient(testPeer, 0, 1); err == nil {
		t.Error("a fourth dbid-0 client was handed out")
	}
	if e := l.exit(); e.Code != clnFatal {
		t.Errorf("exit %+v, want %d", e, clnFatal)
	}
	if f := findStatus(l.statusMsgs(), typeStatusFail); len(f) != 1 || f[0][2] != byte(FailInternal) {
		t.Errorf("status_fail %x, want one internal error", f)
	}
	// The refused client's socket was closed once: fd numbers opened
	// now stay open through collections (a second close, from a
	// finalizer, would take one of them).
	var held []int
	for range 64 {
		p := make([]int, 2)
		if err := syscall.Pipe2(p, syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		held = append(held, p...)
	}
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	for _, fd := range held {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			t.Errorf("fd %d, opened after the refusal, was closed behind the test's back: %v", fd, err)
		}
		syscall.Close(fd)
	}
}

// How each kind of fault ends, on the master and on a client.
func TestFaults(t *testing.T) {
	cases := []struct {
		name      string
		developer bool
		// do acts as lightningd after hsmd_init; client is a client fd.
		do       func(l *lightningd, client int)
		exit     int // -1: keeps serving
		fail     []byte
		badReq   string
		clientUp bool
	}{
		{"a refused request on a client", false, func(l *lightningd, c int) { call(c, []byte{0, 7}) },
			-1, nil, "refused for the test", false},
		{"a malformed frame on a client", false, func(l *lightningd, c int) { fdRW(c).Write([]byte{0xff, 0, 0, 0}) },
			-1, nil, "", false},
		{"the client closes", false, func(l *lightningd, c int) { syscall.Close(c) },
			-1, nil, "", true},
		{"a refused request on the master", false, func(l *lightningd, c int) { call(l.master, []byte{0, 7}) },
			clnFatal, []byte("Error parsing 7: 0007"), "", false},
		{"hsmd_dev_memleak without --developer", false, func(l *lightningd, c int) { call(l.master, []byte{0, 33}) },
			clnFatal, []byte("Error parsing 33: 0021"), "", false},
		{"hsmd_dev_preinit without --developer", false, func(l *lightningd, c int) { hsmproto.WriteFrame(fdRW(l.master), []byte{0, 99}) },
			clnFatal, []byte("hsmd_dev_preinit is for a --developer lightningd only"), "", false},
		{"a malformed frame on the master", false, func(l *lightningd, c int) { fdRW(l.master).Write([]byte{0xff, 0, 0, 0}) },
			clnMasterGone, nil, "", false},
		{"lightningd goes away", false, func(l *lightningd, c int) { syscall.Shutdown(l.master, syscall.SHUT_RDWR) },
			clnMasterGone, nil, "", false},
		{"SIGTERM", false, func(l *lightningd, c int) { l.cancel() },
			0, nil, "", false},
		{"hsmd_dev_memleak with --developer", true, func(l *lightningd, c int) {
			if r, err := call(l.master, []byte{0, 33}); err != nil || !bytes.Equal(r, []byte{0, 133, 0}) {
				l.t.Errorf("memleak reply %x, %v", r, err)
			}
		}, -1, nil, "", true},
	}
	for _, m := range modes {
		for _, tc := range cases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				l := serveIn(t, m.oneThread, tc.developer, nil)
				if _, err := call(l.master, testInit); err != nil {
					t.Fatal(err)
				}
				c := l.client(testPeer, 4, 8)
				tc.do(l, c)
				if tc.exit < 0 {
					if !tc.clientUp && !closed(c) {
						t.Error("the client's connection is still open")
					}
					// Still serving: a new client and the master answer.
					c2 := l.client(testPeer, 5, 8)
					if r, err := call(c2, []byte{0, 22}); err != nil || !bytes.Equal(r, []byte{0, 122}) {
						t.Errorf("new client after the fault: %x, %v", r, err)
					}
					if r, err := call(l.master, []byte{0, 27}); err != nil || !bytes.Equal(r, []byte{0, 127}) {
						t.Errorf("master after the fault: %x, %v", r, err)
					}
					syscall.Shutdown(l.master, syscall.SHUT_RDWR)
					if e := l.exit(); e.Code != clnMasterGone {
						t.Errorf("exit after lightningd went away: %+v", e)
					}
				} else if e := l.exit(); e.Code != tc.exit {
					t.Errorf("exit %+v, want %d", e, tc.exit)
				}
				msgs := l.statusMsgs()
				if v := msgs[0]; !bytes.Equal(v, append([]byte{0xff, 0xf6}, "v-test\x00"...)) {
					t.Errorf("first status message %x, want status_version", v)
				}
				fails := findStatus(msgs, typeStatusFail)
				if tc.fail == nil && len(fails) != 0 || tc.fail != nil && (len(fails) != 1 || !bytes.Contains(fails[0], tc.fail)) {
					t.Errorf("status_fail %q, want %q", fails, tc.fail)
				}
				bad := findStatus(msgs, hsmproto.TypeHsmstatusClientBadRequest)
				if tc.badReq == "" && len(bad) != 0 {
					t.Errorf("unexpected client_bad_request %x", bad)
				}
				if tc.badReq != "" {
					if len(bad) != 1 {
						t.Fatalf("client_bad_request %x, want one", bad)
					}
					m, err := hsmproto.Decode(bad[0])
					r, _ := m.(*hsmproto.HsmstatusClientBadRequest)
					if err != nil || r.Description != tc.badReq || !bytes.Equal(r.ID[:], testPeer) || !bytes.Equal(r.Msg, []byte{0, 7}) {
						t.Errorf("client_bad_request %+v, %v", m, err)
					}
				}
			})
		}
	}
}

// Nothing but hsmd_init (and client_hsmfd) comes before hsmd_init; a
// failed init is reported as CLN reports it.
func TestInit(t *testing.T) {
	cases := []struct {
		name  string
		first []byte
		open  error
		exit  int
		reply string
	}{
		{"a request before hsmd_init", []byte{0, 27}, nil, clnFatal, ""},
		{"a wrong passphrase", testInit, &InitError{Code: ErrCodeWrongPassphrase, Message: "Failed to load hsm_secret: Wrong passphrase"}, 0,
			"0073" + "00000003" + hex.EncodeToString([]byte("Failed to load hsm_secret: Wrong passphrase\x00"))},
		{"an invalid hsm_secret", testInit, &InitError{Code: ErrCodeInvalidFormat, Message: "bad"}, clnFatal,
			"0073" + "00000007" + hex.EncodeToString([]byte("bad\x00"))},
	}
	for _, m := range modes {
		for _, tc := range cases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				l := serveIn(t, m.oneThread, false, func(*hsmproto.Init, func(LogLevel, string)) (Handler, error) {
					if tc.open != nil {
						return nil, tc.open
					}
					return &fakeHandler{}, nil
				})
				r, _ := call(l.master, tc.first)
				if hex.EncodeToString(r) != tc.reply {
					t.Errorf("reply %x, want %s", r, tc.reply)
				}
				if e := l.exit(); e.Code != tc.exit {
					t.Errorf("exit %+v, want %d", e, tc.exit)
				}
			})
		}
	}
}
