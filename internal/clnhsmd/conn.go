package clnhsmd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"gl-signerd/hsmproto"
)

// conn is one unix stream socket carrying CLN's framing (a 4-byte
// big-endian length, then the message), read and written through Go's
// network poller: a connection waiting for its next request holds no
// thread (lightningd keeps one open per channel), and on a quiet machine
// the poller hands a request over sooner than a thread blocked in read(2)
// wakes (measured against CLN's hsmd, docs/performance.md).
type conn struct {
	fd   int
	f    *os.File // non-blocking, registered with the poller
	raw  syscall.RawConn
	rbuf []byte
	// Unread bytes are rbuf[start:end].
	start, end int
	wbuf       []byte

	mu     sync.Mutex
	closed bool
}

// newConn takes over fd, which is left non-blocking.
func newConn(fd int) (*conn, error) {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("making fd %d non-blocking: %w", fd, err)
	}
	f := os.NewFile(uintptr(fd), "hsmd connection")
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &conn{fd: fd, f: f, raw: raw, rbuf: make([]byte, 16<<10)}, nil
}

// errFrameTooLarge is a frame length above hsmproto.MaxFrameSize.
var errFrameTooLarge = errors.New("frame larger than the largest hsmd message")

// errShortFrame is a connection that ended inside a frame.
var errShortFrame = errors.New("connection closed in the middle of a frame")

// fill makes at least need unread bytes available.
func (c *conn) fill(need int) error {
	for c.end-c.start < need {
		if len(c.rbuf)-c.start < need {
			if need > len(c.rbuf) {
				nb := make([]byte, max(need, 2*len(c.rbuf)))
				c.end = copy(nb, c.rbuf[c.start:c.end])
				c.rbuf = nb
			} else {
				c.end = copy(c.rbuf, c.rbuf[c.start:c.end])
			}
			c.start = 0
		}
		n, err := c.f.Read(c.rbuf[c.end:])
		if err != nil && err != io.EOF {
			return err
		}
		if n == 0 {
			if c.end == c.start {
				return errEOF
			}
			return errShortFrame
		}
		c.end += n
	}
	return nil
}

// errEOF is a connection closed between frames.
var errEOF = errors.New("connection closed")

// readFrame returns the next message; it stays valid until the next read.
func (c *conn) readFrame() ([]byte, error) {
	if err := c.fill(4); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(c.rbuf[c.start:])
	if n > hsmproto.MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	if err := c.fill(4 + int(n)); err != nil {
		if err == errEOF {
			err = errShortFrame
		}
		return nil, err
	}
	msg := c.rbuf[c.start+4 : c.start+4+int(n)]
	c.start += 4 + int(n)
	if c.start == c.end {
		c.start, c.end = 0, 0
	}
	return msg, nil
}

// writeFrame writes one framed message.
func (c *conn) writeFrame(msg []byte) error {
	c.wbuf = binary.BigEndian.AppendUint32(c.wbuf[:0], uint32(len(msg)))
	c.wbuf = append(c.wbuf, msg...)
	_, err := c.f.Write(c.wbuf) // EPIPE, not SIGPIPE: the fd is not 1 or 2
	return err
}

// writeAll writes b in full to a blocking socket; a peer that went away
// gives EPIPE, never SIGPIPE.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.SendmsgN(fd, b, nil, nil, syscall.MSG_NOSIGNAL)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// sendFD passes fd with SCM_RIGHTS and one data byte 0x00, as CLN's
// ccan/fdpass does.
func (c *conn) sendFD(fd int) error {
	rights := syscall.UnixRights(fd)
	var err error
	werr := c.raw.Write(func(s uintptr) bool {
		err = syscall.Sendmsg(int(s), []byte{0}, rights, nil, syscall.MSG_NOSIGNAL)
		return err != syscall.EAGAIN && err != syscall.EINTR
	})
	if werr != nil {
		return werr
	}
	return err
}

// shutdown wakes a goroutine waiting to read c: its read sees EOF. The fd
// stays open until close, so it cannot be reused under the reader.
func (c *conn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	}
}

// close closes the socket; only the goroutine that reads c calls it.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.f.Close()
	}
}

// socketpair returns a connected pair of blocking unix stream sockets,
// close-on-exec.
func socketpair() (int, int, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	return fds[0], fds[1], nil
}
