// Package hsmd_test runs `gl-signerd hsmd serve` as lightningd runs its
// hsmd (status socket on fd 0, requests on fd 3, hsm_secret in the working
// directory) and holds it to CLN's own hsmd: the vector check through
// hsmdbench, and the same secrets and faults given to both binaries.
package hsmd_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/testbin"
)

// sharedDir is ../shared next to the repository.
var sharedDir = filepath.Join("..", "..", "..", "shared")

// needShared returns path under shared/, skipping the test when it is
// absent, or failing it under CI, where a missing shared/ is a broken
// checkout rather than a developer's machine.
func needShared(t *testing.T, rel ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{sharedDir}, rel...)...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing under CI: clone the repository next to shared/ (%v)", p, err)
		}
		t.Skipf("%s is absent (the repo is not cloned next to shared/): %v", p, err)
	}
	return p
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries links gl-signerd and gl-signerd-hsmd to the binary shared
// between test packages (internal/testbin) in one temporary directory for
// the whole test binary.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "gl-signerd-hsmd-test-")
		if buildErr != nil {
			return
		}
		bin, err := testbin.Path()
		if err != nil {
			buildErr = err
			return
		}
		if buildErr = os.Symlink(bin, filepath.Join(binDir, "gl-signerd")); buildErr == nil {
			buildErr = os.Symlink(bin, filepath.Join(binDir, "gl-signerd-hsmd"))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// status is one message from the hsmd's status socket.
type status struct {
	typ   uint16
	level byte   // status_log's level, status_fail's reason
	text  string // the text, NUL dropped
	raw   []byte
}

// proc is one running hsmd, driven as lightningd drives it.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	master int
	stFd   int
	dir    string

	mu     sync.Mutex
	status []status
	stDone chan struct{}
	exited chan struct{}
	code   int
	signal string
	stderr bytes.Buffer
}

// start runs binary args… in dir as lightningd's subd() does.
func start(t *testing.T, binary, dir string, args ...string) *proc {
	t.Helper()
	st, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	req, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	stChild := os.NewFile(uintptr(st[1]), "status")
	reqChild := os.NewFile(uintptr(req[1]), "master")
	p := &proc{t: t, master: req[0], stFd: st[0], dir: dir, stDone: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = dir
	p.cmd.Stdin = stChild
	p.cmd.Stdout = &p.stderr
	p.cmd.Stderr = &p.stderr
	p.cmd.ExtraFiles = []*os.File{reqChild}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stChild.Close()
	reqChild.Close()
	go p.readStatus()
	go func() {
		p.cmd.Wait()
		ps := p.cmd.ProcessState
		p.code = ps.ExitCode()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.signal = ws.Signal().String()
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		syscall.Close(p.master)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		<-p.stDone
		syscall.Close(p.stFd)
	})
	return p
}

func (p *proc) readStatus() {
	defer close(p.stDone)
	// A raw fd, not an *os.File: an os.File's finalizer would close stFd
	// a second time after the cleanup closed it, and by then the number
	// may be another parallel test's socket.
	f := fdFile{p.stFd}
	for {
		m, err := readFrame(f)
		if err != nil {
			return
		}
		s := status{typ: binary.BigEndian.Uint16(m), raw: m}
		switch s.typ {
		case 0xFFF0: // status_log: level, ?node_id, text
			s.level = m[2]
			off := 4
			if m[3] == 1 {
				off += 33
			}
			s.text = string(bytes.TrimSuffix(m[off:], []byte{0}))
		case 0xFFF2: // status_fail: reason, text
			s.level = m[2]
			s.text = string(bytes.TrimSuffix(m[3:], []byte{0}))
		case 0xFFF6: // status_version
			s.text = string(bytes.TrimSuffix(m[2:], []byte{0}))
		case 1000: // hsmstatus_client_bad_request: id, text, u16 len, msg
			rest := m[35:]
			if i := bytes.IndexByte(rest, 0); i >= 0 {
				s.text = string(rest[:i])
			}
		}
		p.mu.Lock()
		p.status = append(p.status, s)
		p.mu.Unlock()
	}
}

// statuses returns what the status socket has said, after the process
// ended (so that nothing is still on its way).
func (p *proc) statuses() []status {
	p.wait()
	<-p.stDone
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]status(nil), p.status...)
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		p.t.Fatalf("%s did not exit; stderr: %s", p.cmd.Path, p.stderr.String())
	}
	return p.code
}

// request sends one request on fd and reads the reply.
func request(fd int, msg []byte) ([]byte, error) {
	f := fdFile{fd}
	if err := writeFrame(f, msg); err != nil {
		return nil, err
	}
	return readFrame(f)
}

// newClient asks the master for a client connection (hsmd_client_hsmfd).
func (p *proc) newClient(id []byte, dbid, caps uint64) (int, error) {
	m := binary.BigEndian.AppendUint16(nil, 9)
	m = append(m, id...)
	m = binary.BigEndian.AppendUint64(m, dbid)
	m = binary.BigEndian.AppendUint64(m, caps)
	if err := writeFrame(fdFile{p.master}, m); err != nil {
		return -1, err
	}
	// Read exactly the 6-byte framed reply, then the fd.
	var hdr [6]byte
	if _, err := io.ReadFull(fdFile{p.master}, hdr[:]); err != nil {
		return -1, err
	}
	if !bytes.Equal(hdr[:], []byte{0, 0, 0, 2, 0, 109}) {
		return -1, fmt.Errorf("hsmd_client_hsmfd reply %x", hdr)
	}
	buf := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(4))
	_, oobn, _, _, err := syscall.Recvmsg(p.master, buf, oob, syscall.MSG_CMSG_CLOEXEC)
	for err == syscall.EINTR {
		_, oobn, _, _, err = syscall.Recvmsg(p.master, buf, oob, syscall.MSG_CMSG_CLOEXEC)
	}
	if err != nil {
		return -1, err
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("no fd passed (%v)", err)
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("no fd passed (%v)", err)
	}
	return fds[0], nil
}

type fdFile struct{ fd int }

// Read and Write retry a call a signal interrupted: Go's asynchronous
// preemption makes blocking raw syscalls return EINTR, more often on a
// loaded machine, which would otherwise read as the daemon closing the
// connection.
func (f fdFile) Read(b []byte) (int, error) {
	n, err := syscall.Read(f.fd, b)
	for err == syscall.EINTR {
		n, err = syscall.Read(f.fd, b)
	}
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	if n < 0 {
		n = 0
	}
	return n, err
}

func (f fdFile) Write(b []byte) (int, error) {
	n, err := syscall.Write(f.fd, b)
	for err == syscall.EINTR {
		n, err = syscall.Write(f.fd, b)
	}
	if n < 0 {
		n = 0
	}
	return n, err
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	m := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(r, m); err != nil {
		return nil, err
	}
	return m, nil
}

func writeFrame(w io.Writer, m []byte) error {
	_, err := w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(m))))
	if err == nil {
		_, err = w.Write(m)
	}
	return err
}

// initRequest is lightningd's hsmd_init for network with wire versions 4–6
// and, when pass is not nil, the hsm_passphrase TLV.
func initRequest(t *testing.T, network string, pass *string) []byte {
	t.Helper()
	m, err := hsmproto.InitFor(network, 4, 6)
	if err != nil {
		t.Fatal(err)
	}
	m.Tlvs.HsmPassphrase = pass
	return m.Encode()
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
